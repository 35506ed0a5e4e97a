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
}

impl ResolveRequest {
    /// A request without headers.
    pub fn new(resource: impl Into<String>) -> Self {
        ResolveRequest { resource: resource.into(), headers: BTreeMap::new() }
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
        ResolveRequest { resource: resource.into(), headers }
    }

    /// The JSON pgweb's protocol sends: `resource`, `token`, and `headers`
    /// only when header names are configured (`with_headers`).
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
}
