//! The gateway's public keys (a JWKS): read from a file, or fetched over
//! HTTPS with a timeout and a size cap, cached, and fetched again when a
//! token names a key the cache lacks, at most once per [`REFRESH_EVERY`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::Value;
use tokio::sync::Mutex;

use super::JwtError;

/// The least time between two fetches of the key set that an unknown key
/// asks for (the first load does not count).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// While no key could be loaded at all, how long before trying again.
const RETRY_EMPTY: Duration = Duration::from_secs(5);

/// The most bytes of a key set accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--jwks-url`: HTTPS (HTTP only to a loopback address).
    Url(url::Url),
    /// `--jwks-file`: read once at start.
    File(PathBuf),
}

/// One usable key.
#[derive(Clone)]
struct Key {
    id: Option<String>,
    key: Arc<DecodingKey>,
}

/// The cached key set.
pub struct Keys {
    source: KeySource,
    client: Option<reqwest::Client>,
    state: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    keys: Vec<Key>,
    /// The last fetch an unknown key (or a failed load) asked for.
    refreshed: Option<Instant>,
}

impl Keys {
    /// Keys from `source`; a file is read and checked now.
    pub fn new(source: KeySource) -> Result<Keys, JwtError> {
        let mut cached = Cached::default();
        let client = match &source {
            KeySource::File(path) => {
                let text = std::fs::read(path)
                    .map_err(|e| JwtError::KeysUnavailable(format!("cannot read {}: {e}", path.display())))?;
                cached.keys = parse(&text)?;
                None
            }
            KeySource::Url(_) => Some(client()?),
        };
        Ok(Keys { source, client, state: Mutex::new(cached) })
    }

    /// The key a token names (`kid`), or the only key when it names none.
    /// An unknown key makes the set be fetched again, unless it was fetched
    /// within [`REFRESH_EVERY`].
    pub async fn find(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, JwtError> {
        let mut state = self.state.lock().await;
        if let Some(key) = pick(&state.keys, kid) {
            return Ok(key);
        }
        let first_load = state.keys.is_empty();
        let wait = if first_load { RETRY_EMPTY } else { REFRESH_EVERY };
        let due = state.refreshed.is_none_or(|at| at.elapsed() >= wait);
        if let (KeySource::Url(url), Some(client), true) = (&self.source, &self.client, due) {
            let fetched = fetch(client, url).await;
            match fetched {
                Ok(keys) => {
                    if !first_load {
                        state.refreshed = Some(Instant::now());
                    }
                    state.keys = keys;
                }
                Err(e) => {
                    state.refreshed = Some(Instant::now());
                    if first_load {
                        return Err(e);
                    }
                    tracing::warn!("keeping the cached JWKS: {e}");
                }
            }
            if let Some(key) = pick(&state.keys, kid) {
                return Ok(key);
            }
        }
        // The id comes from the token: shown escaped and short, as it reaches logs and pages.
        let shown: String = kid.unwrap_or("(none)").chars().take(64).flat_map(char::escape_debug).collect();
        Err(JwtError::UnknownKey(shown))
    }
}

fn pick(keys: &[Key], kid: Option<&str>) -> Option<Arc<DecodingKey>> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.id.as_deref() == Some(kid)).map(|k| k.key.clone()),
        None if keys.len() == 1 => Some(keys[0].key.clone()),
        None => None,
    }
}

/// Parses a JWKS; keys of a kind pgdoor cannot use are skipped.
fn parse(bytes: &[u8]) -> Result<Vec<Key>, JwtError> {
    let set: Value = serde_json::from_slice(bytes).map_err(|e| JwtError::KeysUnavailable(format!("not JSON: {e}")))?;
    let Some(listed) = set.get("keys").and_then(Value::as_array) else {
        return Err(JwtError::KeysUnavailable("not a JWKS: no \"keys\" array".into()));
    };
    let keys: Vec<Key> = listed
        .iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value.clone()).ok())
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(Key { id: jwk.common.key_id.clone(), key: Arc::new(key) })
        })
        .collect();
    if keys.is_empty() {
        return Err(JwtError::KeysUnavailable("the JWKS holds no usable key".into()));
    }
    Ok(keys)
}

async fn fetch(client: &reqwest::Client, url: &url::Url) -> Result<Vec<Key>, JwtError> {
    let unavailable = |why: String| JwtError::KeysUnavailable(format!("{url}: {why}"));
    let mut response = client.get(url.clone()).send().await.map_err(|e| unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unavailable(format!("HTTP {}", response.status().as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(e.to_string()))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(unavailable(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    parse(&body).map_err(|e| unavailable(e.to_string()))
}

/// An HTTPS client trusting the OS store: no redirects, no proxy.
fn client() -> Result<reqwest::Client, JwtError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| JwtError::KeysUnavailable(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("pgdoor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| JwtError::KeysUnavailable(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pgdoor_cannot_use_are_skipped_and_an_empty_set_is_refused() {
        let set = br#"{"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "weird", "kid": "b"}
        ]}"#;
        let keys = parse(set).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(pick(&keys, Some("a")).is_some());
        assert!(pick(&keys, None).is_some(), "the only key serves a token without kid");
        assert!(pick(&keys, Some("b")).is_none());
        assert!(parse(br#"{"keys": []}"#).is_err());
        assert!(parse(b"[]").is_err());
    }
}
