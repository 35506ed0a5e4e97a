//! Errors of the PostgreSQL client: one enum that says which step failed, and
//! [`DbError`], every field of a server's ErrorResponse or NoticeResponse.

use std::fmt;
use std::io;
use std::time::Duration;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::ErrorFields;
use serde::Serialize;

use super::config::{ConfigError, SslMode};

/// Everything that can go wrong between pgdoor and a PostgreSQL server.
///
/// The variants follow the order of a connection's life, so a caller (and
/// `pgdoor check`) can name the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection string is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The host name could not be resolved.
    #[error("could not resolve host \"{host}\": {source}")]
    Dns {
        /// The host name as given.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// No TCP connection (or Unix socket connection) could be opened.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The address tried last.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// `connect_timeout` passed before the connection was ready.
    #[error("timed out after {}s while connecting (connect_timeout)", .0.as_secs())]
    ConnectTimeout(Duration),
    /// The server refused TLS but the sslmode requires it.
    #[error("the server does not accept TLS connections, but sslmode={0} requires TLS")]
    TlsRefused(SslMode),
    /// A certificate or key file could not be used.
    #[error("TLS setup failed: {0}")]
    TlsSetup(String),
    /// The TLS handshake failed for a reason other than the certificate.
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(String),
    /// The server's certificate was rejected (unknown issuer, wrong name, expired, ...).
    #[error("server certificate rejected: {0}")]
    Certificate(String),
    /// Authentication cannot proceed on the client side (unsupported method,
    /// missing password, channel binding required but not possible, bad SCRAM answer).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The server answered with an error.
    #[error("{0}")]
    Db(Box<DbError>),
    /// The connection broke: the server closed it, was restarted, or ended
    /// this backend (`pg_terminate_backend`). The connection cannot be used again.
    #[error("connection lost: {0}")]
    Lost(String),
    /// One message from the server was larger than the configured cap; the
    /// connection was closed.
    #[error(
        "the server sent a message of {len} bytes, more than the limit of {limit} bytes; the connection was closed"
    )]
    MessageTooLarge {
        /// Declared size of the message.
        len: usize,
        /// The cap in force.
        limit: usize,
    },
    /// The server sent something the protocol does not allow at this point.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The statement text holds a NUL character, which the protocol cannot
    /// carry; nothing was sent and the connection stays usable.
    #[error("the SQL text contains a NUL character (\\0), which PostgreSQL cannot take: remove it")]
    NulInSql,
    /// A statement run read-only made its transaction write (PostgreSQL lets
    /// a read-only transaction write large objects and temporary tables); it
    /// was rolled back and the connection stays usable.
    #[error(
        "this statement wrote to the database (a large object or a temporary table) although it runs read-only: it was rolled back and nothing it did was kept"
    )]
    ReadOnlyWrite,
    /// The consumer of the rows failed (for example the HTTP client went away);
    /// the query was cancelled and the connection stays usable.
    #[error("result consumer failed: {0}")]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The SQLSTATE code when the server reported the error.
    pub fn code(&self) -> Option<&str> {
        self.as_db_error().map(|e| e.code.as_str())
    }

    /// The server's error, when it is one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }

    /// Names the step of connecting that failed, in words for a person.
    pub fn failed_step(&self) -> &'static str {
        match self {
            Error::Config(_) => "connection string",
            Error::Dns { .. } => "DNS lookup",
            Error::Connect { .. } => "TCP connection",
            Error::ConnectTimeout(_) => "connection timeout",
            Error::TlsRefused(_) | Error::TlsHandshake(_) => "TLS negotiation",
            Error::TlsSetup(_) => "TLS setup",
            Error::Certificate(_) => "certificate verification",
            Error::Auth(_) => "authentication",
            Error::Db(e) if e.code.starts_with("28") => "authentication",
            Error::Db(e) if e.code == "3D000" => "database",
            Error::Db(_) | Error::Lost(_) | Error::MessageTooLarge { .. } | Error::Protocol(_) => "startup",
            Error::Sink(_) | Error::NulInSql | Error::ReadOnlyWrite => "query",
        }
    }

    /// True when the connection can no longer be used and a new one is needed.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::Lost(_) | Error::MessageTooLarge { .. } | Error::Protocol(_))
    }

    pub(crate) fn protocol(what: impl fmt::Display) -> Self {
        Error::Protocol(what.to_string())
    }

    /// Maps an I/O error on an established connection.
    pub(crate) fn lost(e: io::Error) -> Self {
        Error::Lost(e.to_string())
    }
}

/// An ErrorResponse or NoticeResponse with all of its fields.
///
/// Field names follow the protocol documentation; absent fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbError {
    /// Severity, never localized: ERROR, FATAL, PANIC, WARNING, NOTICE, DEBUG, INFO, LOG.
    pub severity: String,
    /// SQLSTATE code.
    pub code: String,
    /// Primary message.
    pub message: String,
    /// Optional detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Optional hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// 1-based character position in the original query text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Position in an internally generated query, with that query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_position: Option<u32>,
    /// The internally generated query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_query: Option<String>,
    /// Call stack context.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_: Option<String>,
    /// Schema of the object involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Table involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Column involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Data type involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// Constraint involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Server source file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Server source line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Server source routine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routine: Option<String>,
}

impl DbError {
    /// Reads every field of an ErrorResponse or NoticeResponse body.
    pub(crate) fn parse(mut fields: ErrorFields<'_>) -> Result<Self, Error> {
        let mut e = DbError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
            position: None,
            internal_position: None,
            internal_query: None,
            where_: None,
            schema: None,
            table: None,
            column: None,
            datatype: None,
            constraint: None,
            file: None,
            line: None,
            routine: None,
        };
        let mut localized_severity = None;
        while let Some(field) = fields.next().map_err(Error::protocol)? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'S' => localized_severity = Some(value),
                b'V' => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                b'P' => e.position = value.parse().ok(),
                b'p' => e.internal_position = value.parse().ok(),
                b'q' => e.internal_query = Some(value),
                b'W' => e.where_ = Some(value),
                b's' => e.schema = Some(value),
                b't' => e.table = Some(value),
                b'c' => e.column = Some(value),
                b'd' => e.datatype = Some(value),
                b'n' => e.constraint = Some(value),
                b'F' => e.file = Some(value),
                b'L' => e.line = value.parse().ok(),
                b'R' => e.routine = Some(value),
                _ => {}
            }
        }
        // Servers before 9.6 send only the localized severity.
        if e.severity.is_empty() {
            e.severity = localized_severity.unwrap_or_default();
        }
        Ok(e)
    }

    /// True for FATAL and PANIC: the server closes the connection after it.
    pub fn is_fatal(&self) -> bool {
        matches!(self.severity.as_str(), "FATAL" | "PANIC")
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (DETAIL: {detail})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (HINT: {hint})")?;
        }
        write!(f, " [SQLSTATE {}]", self.code)
    }
}

impl std::error::Error for DbError {}
