//! Credential resolvers for pgdoor.
//!
//! When a person opens `/connect/<resource>`, pgdoor hands a [`ResolveRequest`]
//! (the resource and the allow-listed request headers) to a [`Resolver`], which
//! answers with a [`Credential`]: the database URL to connect with, plus
//! optional `readonly`, `expires_at` and `label`, and the session's
//! [`Policy`] (limits, settings, environment). Three backends come built in,
//! chosen by the scheme of `--connect-backend`:
//!
//! | scheme | backend |
//! |---|---|
//! | `http://`, `https://` | [`HttpResolver`]: pgweb's Connect Backend protocol, a JSON POST |
//! | `file:///path.toml` | [`FileResolver`]: a resource map, reloaded when the file changes |
//! | `exec:///path/to/program` | [`ExecResolver`]: any program speaking the same JSON on stdin/stdout |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pgdoor_resolver::{BackendConfig, ResolveRequest, build};
//!
//! let resolver = build(BackendConfig::File { path: "/etc/pgdoor/resources.toml".into() })?;
//! let credential = resolver.resolve(&ResolveRequest::new("acme")).await?;
//! println!("connecting with {}", credential.redacted_url());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod credential;
mod error;
mod exec;
mod file;
mod http;
mod policy;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use credential::{Credential, redact_url};
pub use error::{BuildError, ResolveError};
pub use exec::ExecResolver;
pub use file::{FileResolver, ResourceMap};
pub use http::{HttpOptions, HttpResolver};
pub use policy::{MAX_SETTING_VALUE, MAX_SETTINGS, Policy};

/// What pgdoor asks a resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRequest {
    /// The resource from the URL (`/connect/<resource>`).
    pub resource: String,
    /// The allow-listed request headers: names lower-cased, values untouched,
    /// a listed header the request lacks present as `""`.
    pub headers: BTreeMap<String, String>,
    /// The person as the gateway's signed token names them, when pgdoor
    /// verifies one (`--identity-jwt`).
    pub identity: Option<VerifiedIdentity>,
}

/// The claims of an identity token whose signature, issuer, audience and
/// time pgdoor checked; sent as `identity` with `"verified": true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The token's `iss`.
    pub issuer: String,
    /// Its `sub`.
    pub subject: Option<String>,
    /// Its `email`.
    pub email: Option<String>,
    /// Its `groups`.
    pub groups: Vec<String>,
}

impl ResolveRequest {
    /// A request without headers.
    pub fn new(resource: impl Into<String>) -> Self {
        ResolveRequest { resource: resource.into(), headers: BTreeMap::new(), identity: None }
    }

    /// The same request with the verified identity.
    pub fn with_identity(mut self, identity: Option<VerifiedIdentity>) -> Self {
        self.identity = identity;
        self
    }

    /// A request whose headers are the allow-listed `names` (lower-cased),
    /// each looked up with `lookup` (case-insensitively, by the caller) and
    /// `""` when the request lacks it, as pgweb does.
    pub fn with_headers<'a>(
        resource: impl Into<String>,
        names: impl IntoIterator<Item = &'a String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let headers = names
            .into_iter()
            .map(|name| {
                let name = name.to_ascii_lowercase();
                let value = lookup(&name).unwrap_or_default();
                (name, value)
            })
            .collect();
        ResolveRequest { resource: resource.into(), headers, identity: None }
    }

    /// The JSON pgweb's protocol sends: `resource`, `token`, and `headers`
    /// only when header names are configured (`with_headers`); plus, only
    /// with a verified identity, `identity`.
    pub fn to_json(&self, token: Option<&SecretString>, with_headers: bool) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("resource".into(), self.resource.clone().into());
        if let Some(token) = token {
            body.insert("token".into(), token.expose_secret().into());
        }
        if with_headers {
            let headers = self.headers.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
            body.insert("headers".into(), serde_json::Value::Object(headers));
        }
        if let Some(who) = &self.identity {
            let identity = serde_json::json!({
                "verified": true,
                "issuer": who.issuer,
                "subject": who.subject,
                "email": who.email,
                "groups": who.groups,
            });
            body.insert("identity".into(), identity);
        }
        serde_json::Value::Object(body)
    }
}

/// Turns a resource into a credential.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    /// Resolves one request.
    async fn resolve(&self, request: &ResolveRequest) -> Result<Credential, ResolveError>;

    /// What this resolver would send for `request`, with secrets redacted,
    /// for diagnostics (`pgdoor check-backend`).
    fn describe_request(&self, request: &ResolveRequest) -> String;
}

/// Resolves every resource to one URL (`--url`).
pub struct StaticResolver(SecretString);

#[async_trait::async_trait]
impl Resolver for StaticResolver {
    async fn resolve(&self, _: &ResolveRequest) -> Result<Credential, ResolveError> {
        Ok(Credential::new(self.0.expose_secret()))
    }

    fn describe_request(&self, request: &ResolveRequest) -> String {
        format!("use the --url database for \"{}\"", request.resource)
    }
}

/// Which backend to build, from `--connect-backend` and its companion flags.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    /// `http://` or `https://`.
    Http(HttpOptions),
    /// `file:///path.toml`.
    File {
        /// The resource map.
        path: PathBuf,
    },
    /// `--url`: every resource resolves to this one database.
    Static {
        /// The connection string.
        url: SecretString,
    },
    /// `exec:///path/to/program`.
    Exec {
        /// The program.
        program: PathBuf,
        /// The API token to pass in the request JSON, if one is configured.
        token: Option<SecretString>,
        /// Header names to pass, lower-cased.
        headers: Vec<String>,
        /// How long the program may run.
        timeout: Duration,
    },
}

/// Builds the resolver a configuration names. Files are read and checked now,
/// so a broken one stops startup.
pub fn build(config: BackendConfig) -> Result<Arc<dyn Resolver>, BuildError> {
    Ok(match config {
        BackendConfig::Http(options) => Arc::new(HttpResolver::new(options)?),
        BackendConfig::File { path } => Arc::new(FileResolver::open(path)?),
        BackendConfig::Static { url } => Arc::new(StaticResolver(url)),
        BackendConfig::Exec { program, token, headers, timeout } => {
            Arc::new(ExecResolver::new(program, token, headers, timeout)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_lower_cased_and_missing_ones_empty() {
        let names = vec!["X-Forwarded-Email".to_string(), "X-Forwarded-User".to_string()];
        let request = ResolveRequest::with_headers("acme", &names, |name| {
            (name == "x-forwarded-email").then(|| "Ann@Example.com".to_string())
        });
        let body = request.to_json(Some(&SecretString::from("t")), true);
        assert_eq!(
            body,
            serde_json::json!({
                "resource": "acme", "token": "t",
                "headers": {"x-forwarded-email": "Ann@Example.com", "x-forwarded-user": ""}
            })
        );
        assert_eq!(request.to_json(None, false), serde_json::json!({"resource": "acme"}));
    }

    #[test]
    fn a_verified_identity_is_added_and_nothing_else_changes() {
        let who = VerifiedIdentity {
            issuer: "https://idp".into(),
            subject: Some("u1".into()),
            email: Some("ann@example.com".into()),
            groups: vec!["admins".into()],
        };
        let body = ResolveRequest::new("acme").with_identity(Some(who)).to_json(None, false);
        assert_eq!(
            body,
            serde_json::json!({"resource": "acme", "identity": {
                "verified": true, "issuer": "https://idp", "subject": "u1",
                "email": "ann@example.com", "groups": ["admins"]
            }})
        );
    }
}
