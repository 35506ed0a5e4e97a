//! The command line as typed: clap definitions only, no validation beyond
//! what clap does. Every flag can also come from `PGDOOR_<NAME>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Browser access to a PostgreSQL database behind your SSO, without a login screen.
///
/// Without a subcommand pgdoor serves, as `pgdoor serve` does.
#[derive(Debug, Parser)]
#[command(name = "pgdoor", version, about, propagate_version = true, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Serving flags, when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, global = true, env = "PGDOOR_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log line format.
    #[arg(long, global = true, env = "PGDOOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve /connect, the API and the UI (the default).
    Serve(Box<ServeArgs>),
    /// Connect to a database and report how: server version, TLS, authentication, round-trip time.
    Check(CheckArgs),
    /// Ask the credential backend for a resource, show the exchange (secrets redacted), then check the database it names.
    CheckBackend(Box<CheckBackendArgs>),
    /// Start a throwaway PostgreSQL with a sample database and serve it, until Ctrl-C.
    Demo(DemoArgs),
}

/// Arguments of `pgdoor demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,

    /// Port to listen on (default: 8080 when free, else any free port).
    #[arg(long)]
    pub listen: Option<u16>,

    /// Directory holding initdb, pg_ctl and postgres (default: PATH, then the newest
    /// /usr/lib/postgresql/*/bin).
    #[arg(long, value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,
}

/// Arguments of `pgdoor serve`, most named as pgweb's.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PGDOOR_BIND", default_value = "localhost")]
    pub bind: String,

    /// Port to listen on.
    #[arg(long, env = "PGDOOR_LISTEN", default_value_t = 8081)]
    pub listen: u16,

    /// Serve HTTPS (and HTTP/2) with this certificate chain (PEM).
    #[arg(long, env = "PGDOOR_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "PGDOOR_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Mount everything under this path, e.g. pgdoor or /tools/db/ (slashes optional).
    #[arg(long, env = "PGDOOR_PREFIX", default_value = "")]
    pub prefix: String,

    /// Multi-session mode; required with --connect-backend, as in pgweb.
    #[arg(long, env = "PGDOOR_SESSIONS")]
    pub sessions: bool,

    /// Where credentials come from.
    #[command(flatten)]
    pub backend: BackendArgs,

    /// One locked database instead of a credential backend: every /connect opens this URL,
    /// and / without a session goes to /connect/default.
    #[arg(long, env = "PGDOOR_URL", hide_env_values = true, value_name = "DATABASE_URL")]
    pub url: Option<String>,

    /// Forward every request pgdoor does not answer itself (anything but /connect, /api and the
    /// health checks) to this server, e.g. pgweb's own UI: http://127.0.0.1:8082.
    #[arg(long, env = "PGDOOR_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,

    /// Request header naming the person (set by the SSO gateway), for per-person limits
    /// and to keep reconnects to the same person, e.g. X-Forwarded-Email.
    #[arg(long, env = "PGDOOR_IDENTITY_HEADER", value_name = "NAME")]
    pub identity_header: Option<String>,

    /// How the gateway's signed identity token is verified.
    #[command(flatten)]
    pub jwt: JwtArgs,

    /// Comma-separated addresses or networks (CIDR) whose forwarded headers are believed;
    /// headers from other peers are ignored. Unset: loopback only (127.0.0.0/8, ::1).
    #[arg(long, env = "PGDOOR_TRUSTED_PROXIES", value_delimiter = ',', value_name = "CIDRS")]
    pub trusted_proxies: Vec<String>,

    /// Bind each session to the browser that opened it with an HttpOnly cookie (cookie),
    /// or not (none, for API clients).
    #[arg(long, env = "PGDOOR_SESSION_BINDING", value_enum, default_value_t = SessionBinding::Cookie)]
    pub session_binding: SessionBinding,

    /// Close sessions idle this long: minutes, or a duration such as 90s or 2h.
    #[arg(long, env = "PGDOOR_IDLE_TIMEOUT", default_value = "180")]
    pub idle_timeout: String,

    /// Never close idle sessions.
    #[arg(long, env = "PGDOOR_NO_IDLE_TIMEOUT")]
    pub no_idle_timeout: bool,

    /// Close sessions this old whatever their use: a duration such as 12h, or 0 for never.
    #[arg(long, env = "PGDOOR_SESSION_LIFETIME", default_value = "12h")]
    pub session_lifetime: String,

    /// Roll back a transaction left open and idle this long (its locks are released and the
    /// next request says so): minutes, or a duration such as 90s; 0 for never.
    #[arg(long, env = "PGDOOR_IDLE_IN_TRANSACTION_TIMEOUT", default_value = "10")]
    pub idle_in_transaction_timeout: String,

    /// Close a session's catalog connection (the sidebar's) after this long unused; it
    /// reopens on demand: a duration such as 60s.
    #[arg(long, env = "PGDOOR_CATALOG_IDLE", default_value = "60s")]
    pub catalog_idle: String,

    /// Most sessions at once.
    #[arg(long, env = "PGDOOR_MAX_SESSIONS", default_value_t = 1000)]
    pub max_sessions: usize,

    /// Most sessions per person (by --identity-header or --identity-jwt).
    #[arg(long, env = "PGDOOR_MAX_SESSIONS_PER_USER", default_value_t = 20)]
    pub max_sessions_per_user: usize,

    /// /connect attempts allowed per client address per minute.
    #[arg(long, env = "PGDOOR_CONNECT_RATE", default_value_t = 30)]
    pub connect_rate: u32,

    /// Open HTTP connections allowed per client address (IPv6 by /64; trusted proxies are not
    /// counted); 0 for no cap.
    #[arg(long, env = "PGDOOR_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: u32,

    /// Close a connection whose request headers take longer than this to arrive, counted from
    /// the connection's accept or the request's first byte: a duration such as 10s.
    #[arg(long, env = "PGDOOR_HEADER_TIMEOUT", default_value = "10s")]
    pub header_timeout: String,

    /// Make every session read-only.
    #[arg(long, env = "PGDOOR_READONLY")]
    pub readonly: bool,

    /// Cancel statements running longer than this many seconds (0: never).
    #[arg(long, env = "PGDOOR_QUERY_TIMEOUT", default_value_t = 300)]
    pub query_timeout: u64,

    /// Rows kept per query result in the API (the rest are counted, not sent).
    #[arg(long, env = "PGDOOR_MAX_ROWS", default_value_t = 10_000)]
    pub max_rows: usize,

    /// Bytes of values kept per query result in the API (4 MiB; the rest are counted, not
    /// sent). Downloads are not capped: they stream.
    #[arg(long, env = "PGDOOR_MAX_RESULT_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_result_bytes: usize,

    /// pg_dump used for SQL dumps (default: the newest on PATH or under /usr/lib/postgresql/*/bin).
    #[arg(long, env = "PGDOOR_PG_DUMP", value_name = "PATH")]
    pub pg_dump: Option<PathBuf>,

    /// How bytea values are shown: none (PostgreSQL's \x form), hex, base58 or base64.
    #[arg(long, env = "PGDOOR_BINARY_CODEC", default_value = "none")]
    pub binary_codec: String,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "PGDOOR_MAX_REQUEST_BODY", default_value_t = 1024 * 1024)]
    pub max_request_body: usize,

    /// Who may embed pgdoor in a frame (CSP frame-ancestors), e.g. 'self' https://app.example.com.
    #[arg(long, env = "PGDOOR_FRAME_ANCESTORS", default_value = "'self'")]
    pub frame_ancestors: String,

    /// HTTP basic auth user (with --auth-pass) on every route but the health checks.
    #[arg(long, env = "PGDOOR_AUTH_USER", requires = "auth_pass")]
    pub auth_user: Option<String>,

    /// HTTP basic auth password.
    #[arg(long, env = "PGDOOR_AUTH_PASS", hide_env_values = true, requires = "auth_user")]
    pub auth_pass: Option<String>,

    /// Send CORS headers on /api.
    #[arg(long, env = "PGDOOR_CORS")]
    pub cors: bool,

    /// The allowed CORS origin.
    #[arg(long, env = "PGDOOR_CORS_ORIGIN", default_value = "*")]
    pub cors_origin: String,

    /// Serve Prometheus metrics at /metrics (at the root, not under --prefix).
    #[arg(long, env = "PGDOOR_METRICS")]
    pub metrics: bool,

    /// Serve the metrics on this separate address (host:port) instead, without basic auth.
    #[arg(long, env = "PGDOOR_METRICS_ADDR", requires = "metrics", value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Write one JSON line per statement people run (time, identity, resource, database,
    /// statement, duration, rows, error) to this file (created 0600), or - for stdout.
    #[arg(long, env = "PGDOOR_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,

    /// Add the forwarded user (X-Forwarded-Email or X-Forwarded-User; with --identity-jwt, the
    /// verified identity) to access log lines.
    #[arg(long, env = "PGDOOR_LOG_FORWARDED_USER")]
    pub log_forwarded_user: bool,

    /// Show the database server's address in /api/connection, and the database's own message when
    /// /connect or a dump cannot connect (it names host, port, role and database).
    #[arg(long, env = "PGDOOR_SHOW_SERVER_ADDRESS")]
    pub show_server_address: bool,

    /// Seconds at shutdown during which /readyz fails but requests are still served, so load
    /// balancers stop sending new ones (default 5, or 0 when stdin is a terminal)
    #[arg(long, env = "PGDOOR_DRAIN_DELAY", value_name = "SECONDS")]
    pub drain_delay: Option<u64>,

    /// Seconds requests in flight get to finish at shutdown, after the drain delay; then every
    /// session closes (running statements cancelled) within about a second.
    #[arg(long, env = "PGDOOR_GRACE_PERIOD", default_value_t = 10)]
    pub grace_period: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "PGDOOR_THREADS")]
    pub threads: Option<usize>,
}

/// `--session-binding` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionBinding {
    /// An HttpOnly cookie ties the session to the browser.
    Cookie,
    /// The session id alone is enough (API clients).
    None,
}

/// Arguments of `pgdoor check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Connection string, as a postgres:// URL or libpq key=value pairs.
    #[arg(env = "PGDOOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// The role is meant to be handed out read-only: warn about everything it could write.
    #[arg(long)]
    pub readonly: bool,
}

/// Where credentials come from: pgweb's connect-backend flags plus pgdoor's.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Credential backend: an http:// or https:// connect backend (pgweb's protocol),
    /// file:///path/resources.toml, or exec:///path/to/program.
    #[arg(long, env = "PGDOOR_CONNECT_BACKEND", value_name = "URL")]
    pub connect_backend: Option<String>,

    /// API token sent to the connect backend as `token` (prefer the environment variable:
    /// a command line is visible to every local user).
    #[arg(long, env = "PGDOOR_CONNECT_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub connect_token: Option<String>,

    /// Comma-separated request headers passed to the backend (names lower-cased), e.g.
    /// X-Forwarded-Email,X-Forwarded-User.
    #[arg(long, env = "PGDOOR_CONNECT_HEADERS", value_delimiter = ',', value_name = "NAMES")]
    pub connect_headers: Vec<String>,

    /// Seconds the backend (HTTP exchange or exec program) may take.
    #[arg(long, env = "PGDOOR_CONNECT_TIMEOUT", default_value_t = 10, value_name = "SECONDS")]
    pub connect_timeout: u64,

    /// Extra CA certificates (PEM) trusted for an https:// backend, besides the OS store.
    #[arg(long, env = "PGDOOR_CONNECT_CA", value_name = "FILE")]
    pub connect_ca: Option<PathBuf>,

    /// Client certificate (PEM) for mutual TLS with the backend.
    #[arg(long, env = "PGDOOR_CONNECT_CERT", requires = "connect_key", value_name = "FILE")]
    pub connect_cert: Option<PathBuf>,

    /// Private key (PEM) of --connect-cert.
    #[arg(long, env = "PGDOOR_CONNECT_KEY", requires = "connect_cert", value_name = "FILE")]
    pub connect_key: Option<PathBuf>,
}

/// `--identity-jwt` and its companion flags (`pgdoor serve` and `check-backend`).
#[derive(Debug, Clone, clap::Args)]
pub struct JwtArgs {
    /// Verify the gateway's signed identity token instead of believing a header: the header
    /// carrying it, or a preset (cloudflare-access, google-iap, pomerium, oauth2-proxy). Needs
    /// --jwt-audience, and --jwt-issuer and --jwks-url or --jwks-file unless the preset knows them.
    #[arg(long, env = "PGDOOR_IDENTITY_JWT", value_name = "HEADER|PRESET")]
    pub identity_jwt: Option<String>,

    /// Where the gateway publishes its public keys (a JWKS): https://, or http:// to loopback only.
    /// Fetched again when a token names an unknown key, at most once a minute.
    #[arg(long, env = "PGDOOR_JWKS_URL", value_name = "URL", conflicts_with = "jwks_file")]
    pub jwks_url: Option<String>,

    /// The gateway's public keys (a JWKS) in a file, read at start.
    #[arg(long, env = "PGDOOR_JWKS_FILE", value_name = "PATH")]
    pub jwks_file: Option<PathBuf>,

    /// The issuer (`iss`) identity tokens must name.
    #[arg(long, env = "PGDOOR_JWT_ISSUER", value_name = "ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Comma-separated audiences (`aud`); a token must name one of them.
    #[arg(long, env = "PGDOOR_JWT_AUDIENCE", value_delimiter = ',', value_name = "AUDIENCES")]
    pub jwt_audience: Vec<String>,

    /// Comma-separated signature algorithms accepted (default: the preset's, else
    /// RS256,ES256,EdDSA); HMAC and none are never accepted.
    #[arg(long, env = "PGDOOR_JWT_ALGORITHMS", value_delimiter = ',', value_name = "ALGS")]
    pub jwt_algorithms: Vec<String>,

    /// Clock skew allowed on a token's exp and nbf, in seconds.
    #[arg(long, env = "PGDOOR_JWT_LEEWAY", default_value_t = 5, value_name = "SECONDS")]
    pub jwt_leeway: u64,

    /// The token claim that names the person.
    #[arg(long, env = "PGDOOR_JWT_IDENTITY_CLAIM", default_value = "email", value_name = "CLAIM")]
    pub jwt_identity_claim: String,
}

/// Arguments of `pgdoor check-backend`.
#[derive(Debug, clap::Args)]
pub struct CheckBackendArgs {
    /// The backend to ask.
    #[command(flatten)]
    pub backend: BackendArgs,

    /// A request header as the gateway would set it, NAME=VALUE (repeatable); only the
    /// names in --connect-headers are passed on.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// An identity token to verify with the --identity-jwt flags, as the gateway would send it;
    /// the backend is then told the verified identity, as /connect would.
    #[arg(long, value_name = "FILE", requires = "identity_jwt")]
    pub jwt: Option<PathBuf>,

    /// How --jwt is verified.
    #[command(flatten)]
    pub jwt_flags: JwtArgs,

    /// The resource, as in /connect/<resource>.
    pub resource: String,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((name.trim().to_owned(), value.to_owned()))
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
