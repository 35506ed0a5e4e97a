//! The one rescue point: every error a handler returns becomes an HTTP
//! answer here. pgweb's `{"error": "...", "status": N}` with the fitting
//! status, a `code` for machines, and for SQL errors every field of the
//! server's error; a readable page instead where a person navigated.

use pgdoor_resolver::ResolveError;
use serde_json::{Value, json};

use crate::api::ApiError;
use crate::http::{Request, Response};
use crate::page;
use crate::pg::{self, TransactionStatus};
use crate::session::ConnectError;

/// The JSON answer for an API error.
pub fn api(error: &ApiError) -> Response {
    api_in(error, None)
}

/// The JSON answer for an API error on a session, with the transaction
/// status its editor connection is left in (a failed statement inside a
/// transaction leaves it failed: only ROLLBACK helps).
pub fn api_in(error: &ApiError, transaction: Option<TransactionStatus>) -> Response {
    let status = api_status(error);
    let message = match error {
        ApiError::Reconnect(e) => connect_message(e, false),
        other => other.to_string(),
    };
    let mut body = json!({"error": message, "status": status, "code": api_code(error)});
    if let Some(transaction) = transaction {
        body["transaction"] = json!(transaction);
    }
    match error {
        ApiError::Sql(db) | ApiError::OneStatement(db) => {
            body["db_error"] = serde_json::to_value(db).unwrap_or(Value::Null);
        }
        ApiError::ScriptFailed { db, done } => {
            body["db_error"] = serde_json::to_value(db).unwrap_or(Value::Null);
            body["statements"] = json!(done);
            body["failed_statement"] = json!(done.len() + 1);
        }
        ApiError::Conflict { at, .. } => body["conflicts"] = json!(at),
        ApiError::ChangeFailed { at, error, .. } => {
            body["at"] = json!(at);
            body["db_error"] = serde_json::to_value(error).unwrap_or(Value::Null);
        }
        ApiError::TransactionLost(loss)
        | ApiError::Lost(loss)
        | ApiError::ChangesLost(loss)
        | ApiError::Timeout { lost: Some(loss), .. } => {
            body["lost"] = json!({
                "transaction": loss.transaction,
                "outcome_unknown": loss.outcome_unknown,
                "state": loss.state,
            });
        }
        _ => {}
    }
    let response = Response::json(status, &body);
    match error {
        // 401 must name a scheme; this one says where the session goes.
        ApiError::SessionRequired | ApiError::SessionGone => {
            response.header("www-authenticate", "X-Session-ID realm=\"pgdoor\"")
        }
        ApiError::Reconnect(ConnectError::Limit(_)) => response.header("retry-after", "60"),
        _ => response,
    }
}

/// The answer for a failed `/connect`: a page, or JSON when the client asked
/// for it. A database's own message (which names hosts, ports, roles and
/// databases) is shown only with `detail` (`--show-server-address`); the log has it always.
pub fn connect(error: &ConnectError, request: &Request, detail: bool) -> Response {
    let status = connect_status(error);
    let message = connect_message(error, detail);
    let response = if request.wants_json() {
        Response::json(status, &json!({"error": message, "status": status, "code": connect_code(error)}))
    } else {
        page::error(status, "Could not open the database", &message, connect_advice(error))
    };
    match error {
        ConnectError::Limit(_) => response.header("retry-after", "60"),
        ConnectError::ShuttingDown => response.header("retry-after", "5"),
        _ => response,
    }
}

/// An API error's status.
pub fn api_status(error: &ApiError) -> u16 {
    match error {
        ApiError::SessionRequired | ApiError::SessionGone => 401,
        ApiError::MissingParam(_) | ApiError::BadParam(_) => 400,
        ApiError::Sql(_) | ApiError::ScriptFailed { .. } | ApiError::OneStatement(_) | ApiError::ReadOnlyWrite => 400,
        ApiError::NotFound | ApiError::NoSuchTable(_) => 404,
        ApiError::MethodNotAllowed(_) => 405,
        ApiError::NotYourSession
        | ApiError::Locked(_)
        | ApiError::CrossSite(_)
        | ApiError::DownloadsOff
        | ApiError::ReadOnlySession
        | ApiError::EditsOff => 403,
        ApiError::NotEditable(_) => 400,
        ApiError::TransactionOpen | ApiError::Conflict { .. } => 409,
        ApiError::ChangeFailed { .. } => 400,
        ApiError::UnknownDownload => 404,
        ApiError::DownloadUsed => 409,
        ApiError::SessionIdInUrl => 401,
        ApiError::Busy | ApiError::TransactionLost(_) => 409,
        ApiError::Timeout { .. } => 504,
        ApiError::Lost(_) | ApiError::ChangesLost(_) => 503,
        ApiError::Reconnect(e) => connect_status(e),
        ApiError::Database(_) | ApiError::DumpFailed(_) => 502,
        ApiError::DumpUnavailable | ApiError::DumpTooOld { .. } => 501,
    }
}

/// An API error's machine-readable kind.
pub fn api_code(error: &ApiError) -> &'static str {
    match error {
        ApiError::SessionRequired => "session_required",
        ApiError::SessionGone => "session_gone",
        ApiError::NotYourSession => "session_not_yours",
        ApiError::Locked(_) => "locked",
        ApiError::CrossSite(_) => "cross_site",
        ApiError::SessionIdInUrl => "session_required",
        ApiError::DownloadsOff => "downloads_disabled",
        ApiError::UnknownDownload => "not_found",
        ApiError::DownloadUsed => "download_used",
        ApiError::Busy => "busy",
        ApiError::MissingParam(_) | ApiError::BadParam(_) => "bad_request",
        ApiError::Sql(e) if e.code == "57014" => "cancelled",
        ApiError::Sql(e) if e.code == "25006" => "read_only",
        ApiError::ReadOnlyWrite => "read_only",
        ApiError::Sql(_) | ApiError::ScriptFailed { .. } => "sql_error",
        ApiError::OneStatement(_) => "one_statement",
        ApiError::Timeout { .. } => "timeout",
        ApiError::Lost(_) | ApiError::ChangesLost(_) => "connection_lost",
        ApiError::ReadOnlySession => "read_only",
        ApiError::EditsOff => "edits_disabled",
        ApiError::NotEditable(_) => "not_editable",
        ApiError::TransactionOpen => "transaction_open",
        ApiError::Conflict { .. } => "conflict",
        ApiError::ChangeFailed { .. } => "sql_error",
        ApiError::TransactionLost(loss) => match loss.cause {
            crate::session::LossCause::IdleInTransaction(_) => "transaction_timeout",
            _ => "transaction_lost",
        },
        ApiError::Reconnect(e) => connect_code(e),
        ApiError::Database(_) => "database_error",
        ApiError::DumpUnavailable | ApiError::DumpTooOld { .. } => "dump_unavailable",
        ApiError::DumpFailed(_) => "dump_failed",
        ApiError::NotFound | ApiError::NoSuchTable(_) => "not_found",
        ApiError::MethodNotAllowed(_) => "method_not_allowed",
    }
}

/// A connect failure's status.
pub fn connect_status(error: &ConnectError) -> u16 {
    match error {
        ConnectError::Resolve(e) if e.is_not_found() => 404,
        ConnectError::Resolve(ResolveError::Refused { .. }) => 403,
        ConnectError::Resolve(ResolveError::TimedOut(_)) => 504,
        ConnectError::Resolve(_) | ConnectError::BadUrl(_) | ConnectError::Database(_) => 502,
        ConnectError::Setting { .. } => 502,
        ConnectError::Limit(_) => 429,
        ConnectError::OtherIdentity | ConnectError::WritableReadOnlyRole(_) => 403,
        ConnectError::AccessChanged | ConnectError::Identity(_) => 401,
        ConnectError::ShuttingDown => 503,
    }
}

/// A connect failure's machine-readable kind (also the metrics' outcome label).
pub fn connect_code(error: &ConnectError) -> &'static str {
    match error {
        ConnectError::Resolve(e) if e.is_not_found() => "unknown_resource",
        ConnectError::Resolve(ResolveError::Refused { .. }) => "backend_refused",
        ConnectError::Resolve(ResolveError::TimedOut(_)) => "backend_timeout",
        ConnectError::Resolve(_) => "backend_unavailable",
        ConnectError::BadUrl(_) | ConnectError::Setting { .. } => "backend_invalid",
        ConnectError::Database(_) => "database_unavailable",
        ConnectError::Limit(_) => "too_many_sessions",
        ConnectError::OtherIdentity => "other_identity",
        ConnectError::WritableReadOnlyRole(_) => "writable_read_only_role",
        ConnectError::AccessChanged => "session_gone",
        ConnectError::Identity(e) => e.code(),
        ConnectError::ShuttingDown => "shutting_down",
    }
}

/// What the person should do about a connect failure.
fn connect_advice(error: &ConnectError) -> &'static str {
    match error {
        ConnectError::Resolve(e) if e.is_not_found() => {
            "Check the link you followed; it may be mistyped or no longer valid."
        }
        ConnectError::Resolve(ResolveError::Refused { .. }) => {
            "You may not have access to this database. Ask your administrator if you think you should."
        }
        ConnectError::Resolve(_) | ConnectError::BadUrl(_) | ConnectError::Setting { .. } => {
            "The service that hands out database access is not working right now. Try again in a minute; if it persists, tell your administrator."
        }
        ConnectError::Database(_) => {
            "The database did not accept the connection. Try again in a minute; if it persists, tell your administrator."
        }
        ConnectError::Limit(_) => "Close sessions you no longer use, then try again.",
        ConnectError::OtherIdentity => "Open the link from your own account.",
        ConnectError::WritableReadOnlyRole(_) => {
            "Tell your administrator: a read-only link needs a database role without superuser, pg_execute_server_program or pg_write_server_files."
        }
        ConnectError::AccessChanged => "Open the link you were given again.",
        ConnectError::Identity(_) => {
            "Sign in again through your organisation's sign-in page, then open the link again."
        }
        ConnectError::ShuttingDown => "pgdoor is restarting or stopping: open the link again in a few seconds.",
    }
}

/// The person-facing description: never the backend's internal reasons in
/// detail, nor the database's unless `detail`.
fn connect_message(error: &ConnectError, detail: bool) -> String {
    match error {
        ConnectError::Database(e) if !detail => database_message(e).into(),
        ConnectError::Setting { name, .. } if !detail => {
            format!("The database refused the setting {name} this link asks for.")
        }
        ConnectError::Resolve(e) if e.is_not_found() => "There is no database behind this link.".into(),
        ConnectError::Resolve(ResolveError::Refused { .. }) => "Access to this database was refused.".into(),
        ConnectError::Resolve(ResolveError::TimedOut(_)) => "The credential service did not answer in time.".into(),
        ConnectError::Resolve(_) | ConnectError::BadUrl(_) => "The credential service could not be used.".into(),
        other => format!("{}.", other.to_string().trim_end_matches('.')),
    }
}

/// What went wrong reaching the database, in words that name no host, port,
/// role or database.
fn database_message(error: &pg::Error) -> &'static str {
    use pg::Error as E;
    match error {
        E::Auth(_) => "The database did not accept this link's credentials.",
        E::Db(db) if db.code.starts_with("28") => "The database did not accept this link's credentials.",
        E::Db(db) if db.code == "3D000" => "The database this link names does not exist.",
        E::Db(db) if db.code == "53300" => "The database has too many connections right now.",
        E::Db(db) if db.code.starts_with("57P") => "The database is starting up or shutting down.",
        E::TlsRefused(_) | E::TlsHandshake(_) | E::TlsSetup(_) | E::Certificate(_) => {
            "A secure connection to the database could not be set up."
        }
        E::Config(_) | E::Dns { .. } | E::Connect { .. } | E::ConnectTimeout(_) => {
            "The database server could not be reached."
        }
        _ => "The database refused the connection.",
    }
}
