//! pgdoor's PostgreSQL client, built on `postgres-protocol` over tokio and
//! rustls. Layered like tokio-postgres, but small and with the parts pgdoor
//! needs in the open: every sslmode, every common auth method, streaming rows
//! into a [`Sink`], cancellation, and a cap on message size.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pgdoor_proxy::pg::Error> {
//! use pgdoor_proxy::pg::{Collector, Config, connect};
//!
//! let config: Config = "postgres://app@db.internal/shop?sslmode=verify-full&sslrootcert=system".parse()?;
//! let mut conn = connect(&config).await?;
//! let mut rows = Collector::unbounded();
//! conn.query("SELECT name FROM items WHERE id = $1", &[Some("42")], &mut rows).await?;
//! # Ok(()) }
//! ```

mod auth;
mod cancel;
mod config;
mod connect;
mod connection;
mod error;
#[cfg(test)]
mod fake_server;
mod framed;
mod passfile;
mod query;
mod socket;
mod stream;
mod tls;
mod value;

pub use auth::AuthMethod;
pub use cancel::CancelToken;
pub use config::{ChannelBinding, Config, ConfigError, Environment, Host, Isolated, OsEnvironment, RootCert, SslMode};
#[cfg(feature = "fuzzing")]
pub use connect::replay;
pub use connect::{ClientOptions, connect, connect_with};
pub use connection::{Connection, ConnectionInfo, TransactionStatus};
pub use error::{DbError, Error};
pub use query::{Collector, Column, Completion, ResultSet, Row, Sink, SinkError};
pub use tls::{TlsInfo, Verification};
pub use value::{BinaryCodec, decode_bytea, to_json};
