//! The command line as typed: clap definitions only, no validation beyond
//! what clap does. Every flag can also come from `PGDOOR_<NAME>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Browser access to a PostgreSQL database behind your SSO, without a login screen.
#[derive(Debug, Parser)]
#[command(name = "pgdoor", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

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
    /// Connect to a database and report how: server version, TLS, authentication, round-trip time.
    Check(CheckArgs),
    /// Ask the credential backend for a resource, show the exchange (secrets redacted), then check the database it names.
    CheckBackend(CheckBackendArgs),
}

/// Arguments of `pgdoor check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Connection string, as a postgres:// URL or libpq key=value pairs.
    #[arg(env = "PGDOOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
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
