//! Session ids and browser binding keys: 128 bits from the OS RNG each.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A session id, shown as 32 hex digits. `Debug` shows only a short hash, so
/// an id never reaches a log by accident.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A fresh id.
    pub fn random() -> Self {
        SessionId(random_bytes())
    }

    /// Parses the 32-hex-digit form; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        parse_hex(text).map(SessionId)
    }

    /// The first 8 hex digits of the id's SHA-256: enough to follow one
    /// session through the logs, useless for using it.
    pub fn short_hash(&self) -> String {
        short_hash(&self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(#{})", self.short_hash())
    }
}

/// The per-browser secret in the HttpOnly binding cookie.
#[derive(Clone, Copy)]
pub struct BindingKey([u8; 16]);

impl BindingKey {
    /// A fresh key.
    pub fn random() -> Self {
        BindingKey(random_bytes())
    }

    /// Parses the cookie value.
    pub fn parse(text: &str) -> Option<Self> {
        parse_hex(text).map(BindingKey)
    }

    /// The cookie value.
    pub fn to_cookie_value(self) -> String {
        hex::encode(self.0)
    }

    /// Compares in constant time.
    pub fn matches(&self, other: &BindingKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for BindingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BindingKey(<redacted>)")
    }
}

/// A short hash of any text, for logging things that must not be logged whole.
pub fn short_hash(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data)[..4])
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    bytes
}

fn parse_hex(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_debug_hides_them() {
        let id = SessionId::random();
        assert_ne!(id, SessionId::random());
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_eq!(id.to_string().len(), 32);
        assert!(!format!("{id:?}").contains(&id.to_string()));
        assert_eq!(SessionId::parse("not-an-id"), None);
        assert_eq!(SessionId::parse(&"z".repeat(32)), None);
    }

    #[test]
    fn binding_keys_compare() {
        let key = BindingKey::random();
        let same = BindingKey::parse(&key.to_cookie_value()).unwrap();
        assert!(key.matches(&same));
        assert!(!key.matches(&BindingKey::random()));
    }
}
