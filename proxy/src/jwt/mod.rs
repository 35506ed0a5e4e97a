//! Verified identity: the signed assertion (a JWT) an auth gateway puts in
//! a header, checked against the gateway's public keys, issuer and audience
//! (`--identity-jwt`). The identity pgdoor decides on is then a claim of a
//! token whose signature holds, not a header any trusted peer could set.

mod keys;
mod preset;

use std::collections::HashMap;
use std::sync::Mutex;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use pgdoor_resolver::VerifiedIdentity;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use keys::{FETCH_TIMEOUT, KeySource, Keys, MAX_JWKS_BYTES, REFRESH_EVERY};
pub use preset::{Flags, Preset};

/// Verified tokens remembered, so a request does not pay a signature check.
const MAX_CACHED: usize = 4096;

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How identity tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The request header that carries the token.
    pub header: String,
    /// The header's value is `Bearer <token>` (`Authorization`).
    pub bearer: bool,
    /// The `iss` a token must have.
    pub issuer: String,
    /// One of these must be in the token's `aud`.
    pub audience: Vec<String>,
    /// Where the public keys come from.
    pub keys: KeySource,
    /// Signature algorithms accepted (never `none`, never HMAC).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
    /// The claim that names the person (`email`).
    pub identity_claim: String,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// The header is missing or empty.
    #[error("the request carries no identity token ({0} header): sign in through the gateway")]
    Missing(String),
    /// Not a JWT, or its parts do not parse.
    #[error("the identity token is malformed ({0})")]
    Malformed(String),
    /// Signed with an algorithm not on the allow-list.
    #[error("the identity token is signed with {0}, which pgdoor does not accept")]
    AlgorithmNotAllowed(String),
    /// No key of the gateway has this id, even after fetching them again.
    #[error("the identity token names an unknown signing key ({0})")]
    UnknownKey(String),
    /// The signature does not hold.
    #[error("the identity token's signature is not valid")]
    BadSignature,
    /// Past its `exp`.
    #[error("the identity token has expired: sign in again")]
    Expired,
    /// Before its `nbf`.
    #[error("the identity token is not valid yet (check the clocks)")]
    NotYetValid,
    /// Another issuer.
    #[error("the identity token comes from another issuer")]
    WrongIssuer,
    /// Meant for another audience.
    #[error("the identity token is meant for another application (audience)")]
    WrongAudience,
    /// The identity claim is missing or not a string.
    #[error("the identity token has no \"{0}\" claim")]
    NoIdentityClaim(String),
    /// The keys could not be read or fetched.
    #[error("the gateway's signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

impl JwtError {
    /// A machine-readable kind, for the API and the metrics.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Missing(_) => "identity_missing",
            JwtError::Expired => "identity_expired",
            JwtError::KeysUnavailable(_) => "identity_keys_unavailable",
            _ => "identity_invalid",
        }
    }
}

/// What a token that verified says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The identity claim's value: who the person is to pgdoor.
    pub identity: String,
    /// What the connect backend is told.
    pub claims: VerifiedIdentity,
    expires: u64,
}

/// Checks tokens and remembers the ones that verified until they expire.
pub struct Verifier {
    settings: Settings,
    keys: Keys,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

impl Verifier {
    /// A verifier; a key file is read and checked now.
    pub fn new(settings: Settings) -> Result<Verifier, JwtError> {
        let keys = Keys::new(settings.keys.clone())?;
        Ok(Verifier { settings, keys, verified: Mutex::new(HashMap::new()) })
    }

    /// The header the token comes in.
    pub fn header(&self) -> &str {
        &self.settings.header
    }

    /// Verifies the token in the header's value.
    pub async fn verify(&self, header: Option<&str>) -> Result<Verified, JwtError> {
        let missing = || JwtError::Missing(self.settings.header.clone());
        let value = header.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(missing)?;
        let token = if self.settings.bearer {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(missing)?
        } else {
            value
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(known) = lock(&self.verified).get(&digest).filter(|v| v.expires + self.settings.leeway > now) {
            return Ok(known.clone());
        }
        let verified = self.check(token).await?;
        let mut cache = lock(&self.verified);
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, v| v.expires + self.settings.leeway > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(digest, verified.clone());
        Ok(verified)
    }

    async fn check(&self, token: &str) -> Result<Verified, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(JwtError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        let key = self.keys.find(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
                ErrorKind::InvalidAudience => JwtError::WrongAudience,
                ErrorKind::InvalidAlgorithm => JwtError::AlgorithmNotAllowed(format!("{:?} with this key", header.alg)),
                _ => JwtError::Malformed(e.to_string()),
            })?;
        let claims = data.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let claim = &self.settings.identity_claim;
        let identity = text(claim).filter(|v| !v.is_empty()).ok_or_else(|| JwtError::NoIdentityClaim(claim.clone()))?;
        let groups = match claims.get("groups") {
            Some(Value::Array(groups)) => groups.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Verified {
            identity,
            claims: VerifiedIdentity {
                issuer: self.settings.issuer.clone(),
                subject: text("sub"),
                email: text("email"),
                groups,
            },
            expires: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
