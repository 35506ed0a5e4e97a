//! The front door's settings, resolved and validated by the binary from its
//! flags, and shared as `Arc<DoorConfig>`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use pgdoor_resolver::Resolver;
use secrecy::SecretString;

use crate::pg::BinaryCodec;

/// Everything the server needs.
pub struct DoorConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// Serve HTTPS (with HTTP/2) with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// URL prefix without trailing slash: `""` or `/pgdoor`.
    pub prefix: String,
    /// Where credentials come from.
    pub resolver: Arc<dyn Resolver>,
    /// Where requests pgdoor does not answer itself go (`--upstream`).
    pub upstream: Option<Upstream>,
    /// `--url` mode: one database; `/` without a session goes to `/connect/default`.
    pub single_database: bool,
    /// Request headers passed to the resolver, lower-cased.
    pub connect_headers: Vec<String>,
    /// The header naming the person (for limits and reconnects), lower-cased.
    pub identity_header: Option<String>,
    /// Verifies the gateway's signed identity token (`--identity-jwt`);
    /// the identity is then its claim, never a plain header.
    pub identity_jwt: Option<Arc<crate::jwt::Verifier>>,
    /// Peers whose forwarded headers are believed, and the proxies skipped when
    /// finding the client's address in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpNet>,
    /// Bind sessions to the browser with an HttpOnly cookie.
    pub session_binding: bool,
    /// Close sessions idle this long.
    pub idle_timeout: Option<Duration>,
    /// Close sessions this old.
    pub session_lifetime: Option<Duration>,
    /// Most sessions at once.
    pub max_sessions: usize,
    /// Most sessions per identity.
    pub max_sessions_per_user: usize,
    /// `/connect` attempts per client address per minute.
    pub connect_rate_per_minute: u32,
    /// Open HTTP connections per client address (not counting trusted proxies).
    pub max_connections_per_address: Option<u32>,
    /// From accept (or a later request's first byte) to the end of its headers.
    pub header_timeout: Duration,
    /// Every session is read-only.
    pub readonly: bool,
    /// Cancel statements running longer than this.
    pub query_timeout: Option<Duration>,
    /// Roll back transactions left idle this long.
    pub idle_in_transaction_timeout: Option<Duration>,
    /// Close a session's catalog connection after this long unused.
    pub catalog_idle: Duration,
    /// Rows kept per result for `/api/query`.
    pub max_rows: usize,
    /// Bytes of values kept per result for `/api/query` and the rows API.
    pub max_result_bytes: usize,
    /// The pg_dump for SQL dumps; `None` picks the newest on the machine.
    pub pg_dump: Option<PathBuf>,
    /// How bytea values are shown.
    pub binary_codec: BinaryCodec,
    /// Largest request body accepted.
    pub max_body: usize,
    /// CSP `frame-ancestors` value.
    pub frame_ancestors: String,
    /// HTTP basic auth, when set.
    pub basic_auth: Option<(String, SecretString)>,
    /// CORS origin, when CORS is on.
    pub cors_origin: Option<String>,
    /// Serve /metrics.
    pub metrics: bool,
    /// Serve /metrics on this address only, when set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where audit lines go, when set.
    pub audit_log: Option<PathBuf>,
    /// Log the forwarded user on each access line.
    pub log_forwarded_user: bool,
    /// Include the database server's address in `/api/connection`.
    pub show_server_address: bool,
    /// At shutdown, how long `/readyz` fails while requests are still served.
    pub drain_delay: Duration,
    /// At shutdown, how long requests in flight get to finish (after the drain).
    pub grace_period: Duration,
    /// Worker threads for the HTTP service.
    pub threads: usize,
}

/// The server behind pgdoor, resolved once at startup.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// Speak TLS to it.
    pub tls: bool,
    /// The TLS server name (its host name).
    pub sni: String,
}

/// Certificate and key files (PEM) for the HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

impl fmt::Debug for DoorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoorConfig")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("prefix", &self.prefix)
            .field("single_database", &self.single_database)
            .field("readonly", &self.readonly)
            .field("basic_auth", &self.basic_auth.as_ref().map(|(user, _)| (user, "<redacted>")))
            .finish_non_exhaustive()
    }
}
