//! Turns raw flags into validated settings. Every error names the flag and
//! says what to do; `main` exits with 64 on any of them.

use std::path::PathBuf;
use std::time::Duration;

use pgdoor_resolver::{BackendConfig, HttpOptions};
use secrecy::SecretString;

use crate::cli::BackendArgs;

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A backend companion flag without a backend.
    #[error("{0} is set but --connect-backend is not: set --connect-backend, or drop {0}")]
    WithoutBackend(&'static str),
    /// An HTTP backend without its token.
    #[error("--connect-backend {0} needs --connect-token (the API token the backend expects)")]
    MissingToken(String),
    /// The backend URL cannot be used.
    #[error("--connect-backend \"{url}\": {reason}")]
    BadBackend {
        /// As given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// A header name that HTTP does not allow.
    #[error("--connect-headers: \"{0}\" is not a valid header name")]
    BadHeader(String),
    /// A zero timeout.
    #[error("--connect-timeout must be at least 1 second")]
    ZeroTimeout,
    /// A flag this command needs.
    #[error("{0} is required here")]
    Required(&'static str),
}

/// The resolver settings, or `None` when no backend is configured. Checks the
/// same rules as pgweb: companions need a backend, an HTTP backend needs a token.
pub fn backend(args: &BackendArgs) -> Result<Option<BackendConfig>, ConfigError> {
    let Some(raw) = args.connect_backend.as_deref().filter(|s| !s.is_empty()) else {
        let companions = [
            ("--connect-token", args.connect_token.is_some()),
            ("--connect-headers", !args.connect_headers.is_empty()),
            ("--connect-ca", args.connect_ca.is_some()),
            ("--connect-cert", args.connect_cert.is_some()),
        ];
        return match companions.into_iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(ConfigError::WithoutBackend(flag)),
            None => Ok(None),
        };
    };
    if args.connect_timeout == 0 {
        return Err(ConfigError::ZeroTimeout);
    }
    let bad = |reason: &str| ConfigError::BadBackend { url: raw.to_owned(), reason: reason.to_owned() };
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("not a valid URL ({e})")))?;
    let headers = header_names(&args.connect_headers)?;
    let token = args.connect_token.clone().filter(|t| !t.is_empty()).map(SecretString::from);
    let timeout = Duration::from_secs(args.connect_timeout);
    let local_path = |what: &str| -> Result<PathBuf, ConfigError> {
        if url.host_str().is_some_and(|h| !h.is_empty()) {
            return Err(bad(&format!(
                "a {what} URL takes an absolute path with three slashes, like {}:///etc/pgdoor/{}",
                url.scheme(),
                if what == "file" { "resources.toml" } else { "resolve" }
            )));
        }
        url.to_file_path().map_err(|()| bad("the path is not absolute"))
    };
    match url.scheme() {
        "http" | "https" => {
            let token = token.ok_or_else(|| ConfigError::MissingToken(raw.to_owned()))?;
            let client_cert = args.connect_cert.clone().zip(args.connect_key.clone());
            Ok(Some(BackendConfig::Http(HttpOptions {
                url,
                token,
                headers,
                timeout,
                ca_file: args.connect_ca.clone(),
                client_cert,
            })))
        }
        "file" => Ok(Some(BackendConfig::File { path: local_path("file")? })),
        "exec" => Ok(Some(BackendConfig::Exec { program: local_path("exec")?, token, headers, timeout })),
        _ => Err(bad("the scheme must be http://, https://, file:// or exec://")),
    }
}

/// Lower-cased, checked header names.
fn header_names(names: &[String]) -> Result<Vec<String>, ConfigError> {
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|name| {
            let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if valid { Ok(name.to_ascii_lowercase()) } else { Err(ConfigError::BadHeader(name.to_owned())) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(backend: Option<&str>) -> BackendArgs {
        BackendArgs {
            connect_backend: backend.map(str::to_owned),
            connect_token: None,
            connect_headers: vec![],
            connect_timeout: 10,
            connect_ca: None,
            connect_cert: None,
            connect_key: None,
        }
    }

    #[test]
    fn companions_need_a_backend() {
        assert!(backend(&args(None)).unwrap().is_none());
        let mut a = args(None);
        a.connect_token = Some("t".into());
        assert_eq!(
            backend(&a).unwrap_err().to_string(),
            "--connect-token is set but --connect-backend is not: set --connect-backend, or drop --connect-token"
        );
        let mut a = args(None);
        a.connect_headers = vec!["X-Forwarded-Email".into()];
        assert!(matches!(backend(&a), Err(ConfigError::WithoutBackend("--connect-headers"))));
    }

    #[test]
    fn http_backends_need_a_token_and_lower_case_headers() {
        let err = backend(&args(Some("http://localhost:4567/"))).unwrap_err();
        assert!(matches!(err, ConfigError::MissingToken(_)), "{err}");
        let mut a = args(Some("https://backend.internal/connect"));
        a.connect_token = Some("t".into());
        a.connect_headers = vec!["X-Forwarded-Email".into(), " X-Forwarded-User".into()];
        let Some(BackendConfig::Http(http)) = backend(&a).unwrap() else { panic!("not http") };
        assert_eq!(http.headers, ["x-forwarded-email", "x-forwarded-user"]);
        assert_eq!(http.url.as_str(), "https://backend.internal/connect");
        a.connect_headers = vec!["Bad Header".into()];
        assert!(matches!(backend(&a), Err(ConfigError::BadHeader(_))));
    }

    #[test]
    fn file_and_exec_take_absolute_paths() {
        let Some(BackendConfig::File { path }) = backend(&args(Some("file:///etc/pgdoor/r.toml"))).unwrap() else {
            panic!("not file")
        };
        assert_eq!(path, PathBuf::from("/etc/pgdoor/r.toml"));
        assert!(matches!(backend(&args(Some("exec:///usr/bin/x"))).unwrap(), Some(BackendConfig::Exec { .. })));
        let err = backend(&args(Some("file://etc/pgdoor/r.toml"))).unwrap_err();
        assert!(err.to_string().contains("three slashes"), "{err}");
        let err = backend(&args(Some("ftp://x/y"))).unwrap_err();
        assert!(err.to_string().contains("the scheme must be"), "{err}");
    }
}
