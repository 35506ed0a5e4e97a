//! The one place where API errors become HTTP answers: pgweb's
//! `{"error": "...", "status": N}` with the fitting status, plus a `code` for
//! machines and, for SQL errors, every field of the server's error.

use std::time::Duration;

use serde_json::{Value, json};

use crate::connect::ConnectError;
use crate::http::Response;
use crate::pg::{self, DbError};

/// Everything an API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No session id in the request.
    #[error("Session ID is required: open the /connect link to start a session")]
    SessionRequired,
    /// The id is unknown: expired, closed, or from another pgdoor replica.
    #[error("This session has ended (expired, closed, or pgdoor restarted): open the /connect link again")]
    SessionGone,
    /// The id belongs to another browser.
    #[error("This session belongs to another browser: open the /connect link in this one")]
    NotYourSession,
    /// A route that would open or switch databases.
    #[error(
        "{0} is not available: pgdoor opens sessions only through /connect/<resource>, for the database the credential service grants"
    )]
    Locked(&'static str),
    /// A statement is already running in this session.
    #[error("A query is already running in this session: wait for it to finish, or cancel it")]
    Busy,
    /// A required parameter is missing.
    #[error("{0} parameter is required")]
    MissingParam(&'static str),
    /// A parameter has an unusable value.
    #[error("{0}")]
    BadParam(String),
    /// The server refused the statement.
    #[error("{}", .0.message)]
    Sql(Box<DbError>),
    /// The text held several statements where only one may run (read-only
    /// sessions, pgweb's raw `where`).
    #[error("Only one statement can run here: run the statements separately")]
    OneStatement(Box<DbError>),
    /// The statement ran past `--query-timeout` and was cancelled.
    #[error("The query was cancelled after {} seconds (the query timeout)", .0.as_secs())]
    Timeout(Duration),
    /// The connection broke while the statement ran; it was not run again.
    #[error(
        "The database connection was lost while running your statement ({0}); it was not run again. pgdoor reconnects on your next request"
    )]
    Lost(String),
    /// Reconnecting failed.
    #[error(transparent)]
    Reconnect(#[from] ConnectError),
    /// Any other client failure.
    #[error("{0}")]
    Database(pg::Error),
    /// No pg_dump on the machine.
    #[error(
        "SQL dumps need pg_dump on the pgdoor host, and no working one was found (--pg-dump, else PATH and /usr/lib/postgresql/*/bin): install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
    )]
    DumpUnavailable,
    /// The pg_dump found is older than the server.
    #[error(
        "pg_dump {tool} cannot dump a PostgreSQL {server} server: install pg_dump {server} or newer on the pgdoor host (Debian: postgresql-client-{server})"
    )]
    DumpTooOld {
        /// pg_dump's major version.
        tool: u32,
        /// The server's major version.
        server: u32,
    },
    /// pg_dump failed.
    #[error("pg_dump failed: {0}")]
    DumpFailed(String),
    /// No such table, view or sequence.
    #[error("There is no table {0} in this database (or you may not see it)")]
    NoSuchTable(String),
    /// No such route.
    #[error("Not found")]
    NotFound,
    /// The route exists with other methods.
    #[error("This route answers {} only", .0.join(" and "))]
    MethodNotAllowed(&'static [&'static str]),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::SessionRequired | ApiError::SessionGone => 401,
            ApiError::MissingParam(_) | ApiError::BadParam(_) => 400,
            ApiError::Sql(_) | ApiError::OneStatement(_) => 400,
            ApiError::NotFound | ApiError::NoSuchTable(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::NotYourSession | ApiError::Locked(_) => 403,
            ApiError::Busy => 409,
            ApiError::Timeout(_) => 504,
            ApiError::Lost(_) => 503,
            ApiError::Reconnect(e) => e.status(),
            ApiError::Database(_) | ApiError::DumpFailed(_) => 502,
            ApiError::DumpUnavailable | ApiError::DumpTooOld { .. } => 501,
        }
    }

    /// A short machine-readable kind.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::SessionRequired => "session_required",
            ApiError::SessionGone => "session_gone",
            ApiError::NotYourSession => "session_not_yours",
            ApiError::Locked(_) => "locked",
            ApiError::Busy => "busy",
            ApiError::MissingParam(_) | ApiError::BadParam(_) => "bad_request",
            ApiError::Sql(e) if e.code == "57014" => "cancelled",
            ApiError::Sql(_) => "sql_error",
            ApiError::OneStatement(_) => "one_statement",
            ApiError::Timeout(_) => "timeout",
            ApiError::Lost(_) => "connection_lost",
            ApiError::Reconnect(e) => e.code(),
            ApiError::Database(_) => "database_error",
            ApiError::DumpUnavailable | ApiError::DumpTooOld { .. } => "dump_unavailable",
            ApiError::DumpFailed(_) => "dump_failed",
            ApiError::NotFound | ApiError::NoSuchTable(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
        }
    }

    /// The JSON answer.
    pub fn response(&self) -> Response {
        let status = self.status();
        let mut body = json!({"error": self.to_string(), "status": status, "code": self.code()});
        if let ApiError::Sql(db) | ApiError::OneStatement(db) = self {
            body["db_error"] = serde_json::to_value(db).unwrap_or(Value::Null);
        }
        let response = Response::json(status, &body);
        match self {
            // 401 must name a scheme; this one says where the session goes.
            ApiError::SessionRequired | ApiError::SessionGone => {
                response.header("www-authenticate", "X-Session-ID realm=\"pgdoor\"")
            }
            _ => response,
        }
    }

    /// Classifies a failed user statement; `single_statement` says it went
    /// through the extended protocol, which refuses a second statement.
    pub fn from_query(error: pg::Error, single_statement: bool) -> Self {
        match error {
            pg::Error::Db(db) if single_statement && db.code == "42601" && db.message.contains("multiple commands") => {
                ApiError::OneStatement(db)
            }
            pg::Error::Db(db) => ApiError::Sql(db),
            pg::Error::Timeout(limit) => ApiError::Timeout(limit),
            pg::Error::NulInSql => ApiError::BadParam(pg::Error::NulInSql.to_string()),
            e if e.is_connection_lost() => ApiError::Lost(e.to_string()),
            e => ApiError::Database(e),
        }
    }
}
