//! Everything an API call can fail with, and the words a person reads for
//! each. `rescue.rs` turns them into HTTP answers.

use std::time::Duration;

use crate::pg::{self, DbError};
use crate::session::{ConnectError, Loss, LossCause, SessionError, humanize};

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
    /// A request a browser sent on another site's behalf.
    #[error(
        "pgdoor's API does not answer requests made by another site ({0}); open pgdoor itself, or ask the operator to allow that origin with --cors-origin"
    )]
    CrossSite(String),
    /// `_session_id` outside a download.
    #[error(
        "_session_id is accepted only on downloads (a GET link or a download's form POST): send the session id in the X-Session-ID header"
    )]
    SessionIdInUrl,
    /// The backend's policy for this session allows no downloads.
    #[error("Downloads are turned off for this database link: ask whoever gave you the link if you need the data")]
    DownloadsOff,
    /// A `download` id this session did not mint, or no longer remembers.
    #[error("Unknown download id: start each download with POST /api/downloads")]
    UnknownDownload,
    /// A `download` id that a request used already.
    #[error("This download id was used already: start each download with POST /api/downloads")]
    DownloadUsed,
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
    /// A statement of a script failed after others ran: `done` holds their
    /// outcomes (as the `statements` of a result), the rest did not run.
    #[error("Statement {} failed: {}", .done.len() + 1, .db.message)]
    ScriptFailed {
        /// The server's error.
        db: Box<DbError>,
        /// The statements before it, as JSON.
        done: Vec<serde_json::Value>,
    },
    /// The text held several statements where only one may run (read-only
    /// sessions, pgweb's raw `where`).
    #[error("Only one statement can run here: run the statements separately")]
    OneStatement(Box<DbError>),
    /// The statement ran past `--query-timeout` and was cancelled, or its
    /// server process ended when it ignored the cancel.
    #[error("{}", timeout_text(*.limit, *.ended, .lost.as_ref()))]
    Timeout {
        /// The limit.
        limit: Duration,
        /// The server process was ended.
        ended: bool,
        /// What went with it.
        lost: Option<Loss>,
    },
    /// The connection broke while the statement ran; it was not run again.
    #[error(
        "The database connection was lost while running your statement ({}); it was not run again.{} pgdoor reconnects on your next request",
        .0.cause_text(), loss_text(.0)
    )]
    Lost(Loss),
    /// The transaction is gone; this request was not run.
    #[error("{}", transaction_lost_text(.0))]
    TransactionLost(Loss),
    /// Reconnecting failed.
    #[error(transparent)]
    Reconnect(#[from] ConnectError),
    /// A read-only statement wrote, and was rolled back.
    #[error("{}", pg::Error::ReadOnlyWrite)]
    ReadOnlyWrite,
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
    /// A read-only link: rows cannot be changed.
    #[error("This database link is read-only: rows cannot be changed here")]
    ReadOnlySession,
    /// The backend's policy for this session allows no edits.
    #[error("Editing rows is turned off for this database link: ask whoever gave you the link if you need it")]
    EditsOff,
    /// A relation whose rows pgdoor cannot name one by one.
    #[error("{0}")]
    NotEditable(String),
    /// The editor connection is inside the person's transaction.
    #[error(
        "Your SQL editor has a transaction open: commit or roll it back there first; changes are applied in a transaction of their own"
    )]
    TransactionOpen,
    /// Rows changed by someone else since they were loaded: nothing applied.
    #[error("{}", conflict_text(.at.len(), *.total))]
    Conflict {
        /// The changes (by index) whose row was not found as seen.
        at: Vec<usize>,
        /// All changes sent.
        total: usize,
    },
    /// One change failed; nothing applied.
    #[error("{}", change_failed_text(*.at, *.total, &.error.message))]
    ChangeFailed {
        /// The change (by index); `total` for the COMMIT.
        at: usize,
        /// All changes sent.
        total: usize,
        /// The server's error.
        error: Box<DbError>,
    },
    /// The connection broke while changes were applied.
    #[error("{}", changes_lost_text(.0))]
    ChangesLost(Loss),
    /// No such route.
    #[error("Not found")]
    NotFound,
    /// The route exists with other methods.
    #[error("This route answers {} only", .0.join(" and "))]
    MethodNotAllowed(&'static [&'static str]),
}

impl ApiError {
    /// The error of a statement reading `table`: a missing relation there
    /// means no such table (a 404, as on every table route).
    pub fn in_table(self, table: &str) -> Self {
        match self {
            ApiError::Sql(db) if db.code == "42P01" => ApiError::NoSuchTable(table.to_owned()),
            error => error,
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
            pg::Error::NulInSql => ApiError::BadParam(pg::Error::NulInSql.to_string()),
            pg::Error::ReadOnlyWrite => ApiError::ReadOnlyWrite,
            e if e.is_connection_lost() => ApiError::Lost(Loss {
                cause: LossCause::ConnectionLost(e.to_string()),
                transaction: false,
                outcome_unknown: false,
                state: Default::default(),
            }),
            e => ApiError::Database(e),
        }
    }

    /// Classifies a failed change set.
    pub fn from_changes(error: SessionError) -> Self {
        match error {
            SessionError::Lost(loss) => ApiError::ChangesLost(loss),
            SessionError::TransactionOpen => ApiError::TransactionOpen,
            other => ApiError::from_session(other, true),
        }
    }

    /// Classifies a failed session request; `single_statement` as in [`ApiError::from_query`].
    pub fn from_session(error: SessionError, single_statement: bool) -> Self {
        match error {
            SessionError::Busy => ApiError::Busy,
            SessionError::Ended => ApiError::SessionGone,
            SessionError::TransactionLost(loss) => ApiError::TransactionLost(loss),
            SessionError::Failed(e) => ApiError::from_query(e, single_statement),
            // Without the outcomes (see query::run), it is the error alone.
            SessionError::ScriptFailed { error, .. } => ApiError::Sql(error),
            SessionError::Timeout { limit, ended, lost } => ApiError::Timeout { limit, ended, lost },
            SessionError::Lost(loss) => ApiError::Lost(loss),
            SessionError::Connect(e) => ApiError::Reconnect(e),
            SessionError::TransactionOpen => ApiError::TransactionOpen,
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        ApiError::from_session(error, false)
    }
}

/// What else went with a loss, as a sentence (or nothing).
fn loss_text(loss: &Loss) -> String {
    let mut text = String::new();
    if loss.transaction {
        text.push_str(" Your transaction was rolled back and nothing in it was committed.");
    }
    if loss.outcome_unknown {
        text.push_str(
            " Whether it committed before the connection broke cannot be known: look at the data before you run it again.",
        );
    }
    if !loss.state.is_empty() {
        text.push_str(&format!(" The connection's session state is gone too: {}.", loss.state));
    }
    text
}

fn conflict_text(conflicts: usize, total: usize) -> String {
    let rows = if conflicts == 1 { "1 row".to_owned() } else { format!("{conflicts} rows") };
    format!(
        "{rows} changed in the database since you loaded {} (or are gone), so nothing was applied: none of your {total} change{} ran. Reload to see the rows as they are now, then make your changes again",
        if conflicts == 1 { "it" } else { "them" },
        if total == 1 { "" } else { "s" }
    )
}

fn change_failed_text(at: usize, total: usize, message: &str) -> String {
    if at >= total {
        format!("Your changes failed when committed: {message}. Nothing was applied")
    } else {
        format!("Change {} of {total} failed: {message}. Nothing was applied", at + 1)
    }
}

fn changes_lost_text(loss: &Loss) -> String {
    if loss.outcome_unknown {
        format!(
            "The database connection was lost while your changes were being committed ({}): whether they were applied cannot be known. Reload the rows to see; pgdoor reconnects on your next request",
            loss.cause_text()
        )
    } else {
        format!(
            "The database connection was lost while applying your changes ({}): nothing was applied. pgdoor reconnects on your next request",
            loss.cause_text()
        )
    }
}

fn transaction_lost_text(loss: &Loss) -> String {
    let state = if loss.state.is_empty() {
        String::new()
    } else {
        format!(" The connection's session state is gone too: {}.", loss.state)
    };
    match &loss.cause {
        LossCause::IdleInTransaction(limit) => format!(
            "Your transaction was idle for more than {} and pgdoor rolled it back: nothing in it was committed, and this statement was not run.{state} Start the transaction again",
            humanize(*limit)
        ),
        _ => format!(
            "The connection was lost ({}): your transaction was rolled back and nothing in it was committed, and this statement was not run.{state} Start the transaction again; pgdoor reconnects on your next request",
            loss.cause_text()
        ),
    }
}

fn timeout_text(limit: Duration, ended: bool, lost: Option<&Loss>) -> String {
    let secs = limit.as_secs();
    if !ended {
        return format!("The query was cancelled after {secs} seconds (the query timeout)");
    }
    format!(
        "The query ran past the {secs}-second query timeout and ignored the cancel, so pgdoor ended its server process.{} pgdoor reconnects on your next request",
        lost.map(loss_text).unwrap_or_default()
    )
}
