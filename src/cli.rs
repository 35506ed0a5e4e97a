//! The command line as typed: clap definitions only, no validation beyond
//! what clap does. Every flag can also come from `PGDOOR_<NAME>`.

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
}

/// Arguments of `pgdoor check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Connection string, as a postgres:// URL or libpq key=value pairs.
    #[arg(env = "PGDOOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
