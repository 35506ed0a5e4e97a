//! Turns raw flags into validated settings. Every error names the flag and
//! says what to do; `main` exits with 64 on any of them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use pgdoor_proxy::jwt;
use pgdoor_proxy::pg::BinaryCodec;
use pgdoor_proxy::{DoorConfig, TlsFiles, Upstream};
use pgdoor_resolver::{BackendConfig, HttpOptions};
use secrecy::SecretString;

use crate::cli::{BackendArgs, JwtArgs, ServeArgs, SessionBinding};

/// Whom `--trusted-proxies` names when it is unset: this machine only.
const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1"];

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
    /// pgweb's rule: a connect backend runs in multi-session mode.
    #[error("--connect-backend needs --sessions (as in pgweb): add --sessions")]
    BackendWithoutSessions,
    /// Two credential sources.
    #[error("--url and --connect-backend are two credential sources: choose one")]
    TwoSources,
    /// No credential source.
    #[error("pgdoor needs a credential source: --connect-backend URL (with --sessions), or --url DATABASE_URL")]
    NoSource,
    /// A flag's value is unusable.
    #[error("{flag} \"{value}\": {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// As given.
        value: String,
        /// What would be accepted.
        reason: String,
    },
    /// The resolver could not be built (a broken resource map, a bad CA file, ...).
    #[error(transparent)]
    Resolver(#[from] pgdoor_resolver::BuildError),
}

/// The server's settings from `serve`'s flags.
pub fn door(args: &ServeArgs) -> Result<DoorConfig, ConfigError> {
    let backend = backend(&args.backend)?;
    let url = args.url.clone().filter(|u| !u.is_empty());
    let source = match (backend, url) {
        (Some(_), Some(_)) => return Err(ConfigError::TwoSources),
        (None, None) => return Err(ConfigError::NoSource),
        (Some(_), None) if !args.sessions => return Err(ConfigError::BackendWithoutSessions),
        (Some(backend), None) => backend,
        (None, Some(url)) => {
            url.parse::<pgdoor_proxy::pg::Config>().map_err(|e| invalid("--url", "<redacted>", &e.to_string()))?;
            BackendConfig::Static { url: SecretString::from(url) }
        }
    };
    let single_database = matches!(source, BackendConfig::Static { .. });
    let connect_headers = match &source {
        BackendConfig::Http(http) => http.headers.clone(),
        BackendConfig::Exec { headers, .. } => headers.clone(),
        BackendConfig::File { .. } | BackendConfig::Static { .. } => Vec::new(),
    };
    let resolver = pgdoor_resolver::build(source)?;
    let identity_header = match args.identity_header.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        Some(name) => Some(header_names(&[name.to_owned()])?.remove(0)),
        None => None,
    };
    if args.identity_header.is_some() && args.jwt.identity_jwt.is_some() {
        return Err(invalid(
            "--identity-jwt",
            args.jwt.identity_jwt.as_deref().unwrap_or_default(),
            "give --identity-header or --identity-jwt, not both: a verified token replaces the plain header",
        ));
    }
    let identity_jwt = identity_jwt(&args.jwt)?;
    let trusted_proxies =
        match args.trusted_proxies.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect::<Vec<_>>() {
            given if given.is_empty() => LOOPBACK.iter().map(|p| network(p)).collect::<Result<_, _>>()?,
            given => given.into_iter().map(network).collect::<Result<_, _>>()?,
        };

    if args.frame_ancestors.contains([';', ',', '\n', '\r']) || args.frame_ancestors.trim().is_empty() {
        return Err(invalid(
            "--frame-ancestors",
            &args.frame_ancestors,
            "a space-separated list of sources such as 'self' https://app.example.com",
        ));
    }
    let binary_codec: BinaryCodec =
        args.binary_codec.parse().map_err(|e: String| invalid("--binary-codec", &args.binary_codec, &e))?;
    let idle_timeout = if args.no_idle_timeout { None } else { duration("--idle-timeout", &args.idle_timeout, 60)? };
    let tls = args.tls_cert.clone().zip(args.tls_key.clone()).map(|(cert, key)| TlsFiles { cert, key });
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if threads == 0 {
        return Err(invalid("--threads", "0", "at least 1"));
    }
    if let Some(path) = args.pg_dump.as_deref().filter(|p| !p.is_file()) {
        return Err(invalid("--pg-dump", &path.display().to_string(), "no such file"));
    }
    Ok(DoorConfig {
        listen: if args.bind.contains(':') {
            format!("[{}]:{}", args.bind, args.listen)
        } else {
            format!("{}:{}", args.bind, args.listen)
        },
        tls,
        prefix: prefix(&args.prefix)?,
        resolver,
        upstream: args.upstream.as_deref().filter(|u| !u.is_empty()).map(upstream).transpose()?,
        single_database,
        connect_headers,
        identity_header,
        identity_jwt,
        trusted_proxies,
        session_binding: args.session_binding == SessionBinding::Cookie,
        idle_timeout,
        session_lifetime: duration("--session-lifetime", &args.session_lifetime, 60)?,
        idle_in_transaction_timeout: duration("--idle-in-transaction-timeout", &args.idle_in_transaction_timeout, 60)?,
        catalog_idle: duration("--catalog-idle", &args.catalog_idle, 1)?
            .ok_or_else(|| invalid("--catalog-idle", &args.catalog_idle, "at least 1s"))?,
        max_sessions: args.max_sessions.max(1),
        max_sessions_per_user: args.max_sessions_per_user.max(1),
        connect_rate_per_minute: args.connect_rate.max(1),
        max_connections_per_address: (args.max_connections_per_address > 0).then_some(args.max_connections_per_address),
        header_timeout: duration("--header-timeout", &args.header_timeout, 1)?
            .ok_or_else(|| invalid("--header-timeout", &args.header_timeout, "at least 1s"))?,
        readonly: args.readonly,
        query_timeout: (args.query_timeout > 0).then(|| Duration::from_secs(args.query_timeout)),
        max_rows: args.max_rows.max(1),
        max_result_bytes: args.max_result_bytes.max(1024),
        pg_dump: args.pg_dump.clone(),
        binary_codec,
        max_body: args.max_request_body,
        frame_ancestors: args.frame_ancestors.trim().to_owned(),
        basic_auth: args.auth_user.clone().zip(args.auth_pass.clone().map(SecretString::from)),
        cors_origin: args.cors.then(|| args.cors_origin.clone()),
        metrics: args.metrics,
        metrics_addr: args
            .metrics_addr
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|raw| {
                use std::net::ToSocketAddrs;
                raw.to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or_else(|| invalid("--metrics-addr", raw, "host:port, such as 127.0.0.1:9090"))
            })
            .transpose()?,
        audit_log: args.audit_log.clone(),
        log_forwarded_user: args.log_forwarded_user,
        show_server_address: args.show_server_address,
        drain_delay: Duration::from_secs(args.drain_delay.unwrap_or_else(default_drain_delay)),
        grace_period: Duration::from_secs(args.grace_period),
        threads,
    })
}

/// Long enough for a Kubernetes Service to stop sending to a terminating
/// pod; none for a person at a terminal pressing Ctrl+C.
fn default_drain_delay() -> u64 {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() { 0 } else { 5 }
}

fn invalid(flag: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { flag, value: value.to_owned(), reason: reason.to_owned() }
}

/// The identity token verifier the flags describe, when `--identity-jwt` is given; a key
/// file is read and checked now.
pub fn identity_jwt(args: &JwtArgs) -> Result<Option<Arc<jwt::Verifier>>, ConfigError> {
    let Some(given) = args.identity_jwt.as_deref().map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let flags = jwt::Flags {
        identity_jwt: given.to_owned(),
        jwks_url: args.jwks_url.clone().filter(|u| !u.trim().is_empty()),
        jwks_file: args.jwks_file.clone(),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
        algorithms: args.jwt_algorithms.iter().filter(|a| !a.trim().is_empty()).cloned().collect(),
        leeway: args.jwt_leeway,
        identity_claim: args.jwt_identity_claim.clone(),
    };
    let settings = jwt::Settings::from_flags(&flags).map_err(|reason| invalid("--identity-jwt", given, &reason))?;
    let verifier = jwt::Verifier::new(settings).map_err(|e| invalid("--identity-jwt", given, &e.to_string()))?;
    Ok(Some(Arc::new(verifier)))
}

/// `pgdoor`, `/pgdoor/`, `tools/db` -> `/pgdoor`, `/tools/db`; empty stays empty.
fn prefix(raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let valid = trimmed.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    });
    if !valid {
        return Err(invalid("--prefix", raw, "path segments of letters, digits, - . _ ~"));
    }
    Ok(format!("/{trimmed}"))
}

/// A bare number counts in `unit_secs`; otherwise a duration such as 90s or 12h; 0 is "never".
fn duration(flag: &'static str, raw: &str, unit_secs: u64) -> Result<Option<Duration>, ConfigError> {
    let raw = raw.trim();
    let parsed = match raw.parse::<u64>() {
        Ok(n) => Duration::from_secs(n * unit_secs),
        Err(_) => humantime::parse_duration(raw)
            .map_err(|e| invalid(flag, raw, &format!("{e}; use minutes, or a duration such as 90s or 12h")))?,
    };
    Ok((!parsed.is_zero()).then_some(parsed))
}

/// `http://host:port` or `https://host[:port]`, resolved now.
fn upstream(raw: &str) -> Result<Upstream, ConfigError> {
    let bad = |reason: &str| invalid("--upstream", raw, reason);
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("not a URL ({e})")))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(bad("the scheme must be http:// or https://")),
    };
    if url.path() != "/" || url.query().is_some() {
        return Err(bad("give only scheme, host and port: paths are forwarded as requested"));
    }
    let host = url.host_str().ok_or_else(|| bad("a host is needed"))?.trim_matches(['[', ']']).to_owned();
    let port = url.port_or_known_default().ok_or_else(|| bad("a port is needed"))?;
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| bad("the host does not resolve"))?;
    Ok(Upstream { addr, tls, sni: host })
}

fn network(raw: &str) -> Result<IpNet, ConfigError> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| invalid("--trusted-proxies", raw, "an IP address or a network such as 10.0.0.0/8"))
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
    let shown = pgdoor_resolver::redact_url(raw);
    let bad = |reason: &str| ConfigError::BadBackend { url: shown.clone(), reason: reason.to_owned() };
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
            let token = token.ok_or_else(|| ConfigError::MissingToken(shown.clone()))?;
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

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(prefix("").unwrap(), "");
        assert_eq!(prefix("/").unwrap(), "");
        assert_eq!(prefix("pgdoor").unwrap(), "/pgdoor");
        assert_eq!(prefix("/tools/db/").unwrap(), "/tools/db");
        assert!(prefix("a/../b").is_err());
        assert!(prefix("a b").is_err());
    }

    #[test]
    fn durations_in_minutes_or_with_units() {
        assert_eq!(duration("--idle-timeout", "180", 60).unwrap(), Some(Duration::from_secs(180 * 60)));
        assert_eq!(duration("--idle-timeout", "90s", 60).unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(duration("--idle-timeout", "12h", 60).unwrap(), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(duration("--session-lifetime", "0", 60).unwrap(), None);
        let err = duration("--idle-timeout", "soon", 60).unwrap_err().to_string();
        assert!(err.starts_with("--idle-timeout \"soon\""), "{err}");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        assert_eq!(LOOPBACK.map(|p| network(p).unwrap().to_string()), ["127.0.0.0/8", "::1/128"]);
        assert_eq!(network("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(network("localhost").is_err());
    }

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
