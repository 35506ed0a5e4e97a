//! What a handler asks a session to do, and what it gets back.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::connector::ConnectError;
use super::state::StateKinds;
use crate::pg::{self, Column, Completion, DbError, ResultSet, Row, Sink, SinkError, TransactionStatus};

/// How a statement's text reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The simple protocol: any number of statements (the SQL editor).
    Script,
    /// The extended protocol: exactly one statement, a second is refused by
    /// the server (explain, pgweb's raw `where`).
    Single,
}

/// SQL a person asked for, on the session's editor connection.
pub struct Statement {
    /// The text.
    pub sql: String,
    /// Values for `$1`, `$2`, ... (extended protocol only), bound as text; `None` is NULL.
    pub params: Vec<Option<String>>,
    /// How it is sent.
    pub mode: Mode,
    /// Run it in a read-only transaction even in a writable session (a
    /// download, which must never write again what a person already ran).
    pub read_only: bool,
    /// Where the rows go.
    pub output: Output,
    /// Keep it in the session's history.
    pub history: bool,
}

/// Row changes applied together, in a transaction of their own: all of
/// them, or none when one fails or finds its row changed by someone else.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    /// The statements, in order.
    pub steps: Vec<Step>,
}

/// One statement of a [`ChangeSet`].
#[derive(Debug, Clone)]
pub struct Step {
    /// The statement, with `$1`, `$2`, ... for its values.
    pub sql: String,
    /// Values bound as text, their types inferred by the server; `None` is NULL.
    pub params: Vec<Option<String>>,
    /// It must touch a row: none touched means the row changed meanwhile.
    pub needs_row: bool,
}

/// How a change set ended (the connection survived).
#[derive(Debug)]
pub enum Applied {
    /// Committed; each step's result (its `RETURNING` rows), in order.
    Committed(Vec<ResultSet>),
    /// Rolled back: these steps found no row to change.
    Conflict(Vec<usize>),
    /// Rolled back: this step failed (the step count for the COMMIT itself).
    Failed {
        /// The step.
        at: usize,
        /// Why.
        error: pg::Error,
    },
}

/// Where a statement's rows go.
pub enum Output {
    /// Kept in memory, up to `max_rows` rows per result set and about
    /// `max_bytes` of values in all.
    Collect {
        /// The row cap.
        max_rows: usize,
        /// The byte cap.
        max_bytes: usize,
    },
    /// Encoded and sent as chunks while they arrive; only memory for one
    /// chunk is held. A closed channel means the client went away.
    Stream {
        /// Turns rows into the download's bytes.
        encoder: Box<dyn RowEncoder>,
        /// Where full chunks go.
        chunks: mpsc::Sender<Bytes>,
    },
}

/// Turns rows into a download format, chunk by chunk.
pub trait RowEncoder: Send {
    /// A result set starts.
    fn columns(&mut self, columns: &[Column]);
    /// One row.
    fn row(&mut self, row: &Row<'_>);
    /// The document ends (after the last row, or with no result set at all).
    fn finish(&mut self);
    /// Bytes encoded and not yet taken.
    fn pending(&self) -> usize;
    /// Takes what is encoded so far.
    fn take(&mut self) -> Bytes;
}

/// Bytes gathered before a chunk is sent.
pub const CHUNK: usize = 64 * 1024;

/// The sink that drives a [`RowEncoder`] and sends its chunks.
pub(super) struct StreamSink {
    pub encoder: Box<dyn RowEncoder>,
    pub chunks: mpsc::Sender<Bytes>,
    pub rows: u64,
}

impl StreamSink {
    async fn send(&mut self) -> Result<(), SinkError> {
        let chunk = self.encoder.take();
        self.chunks.send(chunk).await.map_err(|_| "the client went away".into())
    }

    /// Ends the document and sends the rest.
    pub async fn finish(&mut self) -> Result<(), SinkError> {
        self.encoder.finish();
        self.send().await
    }
}

impl Sink for StreamSink {
    fn columns(&mut self, columns: &[Column]) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.encoder.columns(columns);
        std::future::ready(Ok(()))
    }

    async fn row(&mut self, row: &Row<'_>) -> Result<(), SinkError> {
        self.encoder.row(row);
        self.rows += 1;
        if self.encoder.pending() >= CHUNK { self.send().await } else { Ok(()) }
    }

    fn complete(&mut self, _: &Completion) -> impl Future<Output = Result<(), SinkError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// What a statement did.
#[derive(Debug)]
pub struct Ran {
    /// Each statement's result set (collected output only).
    pub results: Vec<ResultSet>,
    /// Notices and warnings, in order, up to the caps.
    pub notices: Vec<DbError>,
    /// Notices past the caps, counted and dropped.
    pub notices_dropped: u64,
    /// Rows sent (streamed output only).
    pub rows_streamed: u64,
    /// The transaction state afterwards.
    pub transaction: TransactionStatus,
    /// The connection was opened anew for this statement.
    pub reconnected: bool,
    /// Session state the previous connection held and the new one lacks.
    pub state_lost: StateKinds,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Why a connection's transaction or state is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossCause {
    /// The connection broke (the server ended it, restarted, failed over).
    ConnectionLost(String),
    /// pgdoor ended a statement that ignored its cancel (the client had left).
    Ended,
    /// The transaction sat idle past `--idle-in-transaction-timeout` and
    /// pgdoor rolled it back.
    IdleInTransaction(Duration),
    /// The credential expired and its connections were closed.
    CredentialExpired,
}

/// A loss the person has not been told of yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// Why.
    pub cause: LossCause,
    /// An open (or failed) transaction was rolled back.
    pub transaction: bool,
    /// The statement in flight may have committed before the connection
    /// broke (a write outside a transaction, or a COMMIT): nobody can tell.
    pub outcome_unknown: bool,
    /// Session state that is gone.
    pub state: StateKinds,
}

/// Everything a session request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A statement of this session is already running.
    #[error("a statement is already running in this session")]
    Busy,
    /// The session was closed.
    #[error("the session has ended")]
    Ended,
    /// The transaction is gone; nothing was run for this request.
    #[error("the transaction was lost")]
    TransactionLost(Loss),
    /// The statement failed; the connection is fine.
    #[error(transparent)]
    Failed(pg::Error),
    /// A statement of a script failed after others had run: their results,
    /// in order (the statements after it did not run).
    #[error("{error}")]
    ScriptFailed {
        /// Why the failing statement failed.
        error: Box<pg::DbError>,
        /// The results of the statements before it.
        done: Vec<ResultSet>,
    },
    /// The statement ran past the time limit and was cancelled, or ended
    /// (`ended`) when it ignored the cancel; `lost` says what went with it.
    #[error("the statement ran past {} s", .limit.as_secs())]
    Timeout {
        /// The limit.
        limit: Duration,
        /// The server process was ended because the statement ignored the cancel.
        ended: bool,
        /// What an ended connection took with it.
        lost: Option<Loss>,
    },
    /// The connection broke while the statement ran; it was not run again.
    #[error("the connection was lost: {}", .0.cause_text())]
    Lost(Loss),
    /// No connection could be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Changes need the editor connection outside a transaction.
    #[error("a transaction is open on the editor connection")]
    TransactionOpen,
}

impl Loss {
    /// The cause in words.
    pub fn cause_text(&self) -> String {
        match &self.cause {
            LossCause::ConnectionLost(detail) => detail.clone(),
            LossCause::Ended => "pgdoor ended a statement that ignored its cancel".into(),
            LossCause::IdleInTransaction(limit) => {
                format!("the transaction was idle for more than {}", humanize(*limit))
            }
            LossCause::CredentialExpired => "the database credential expired".into(),
        }
    }
}

/// "10 minutes", "90 seconds".
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 60 && s % 60 == 0 => format!("{} minute{}", s / 60, if s == 60 { "" } else { "s" }),
        s => format!("{s} second{}", if s == 1 { "" } else { "s" }),
    }
}
