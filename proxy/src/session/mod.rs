//! The session service: one session per browser tab, created only by
//! `/connect`. A [`Session`] is a handle; one task per session owns its
//! editor and catalog connections (see `task.rs`), and the handle's methods
//! send it requests and await the answers. The [`Connector`] turns a
//! resource into a connection's settings; the [`Registry`] holds the live
//! sessions and their limits; the [`Reaper`] ends them.

mod apply;
mod connector;
mod downloads;
mod id;
mod policy;
mod reaper;
mod registry;
mod state;
mod task;
mod work;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::observe::Subject;
use crate::pg::{CancelToken, Connection, ResultSet, TransactionStatus};
pub use connector::{BackendDefaults, ConnectError, Connector, Grant};
pub use downloads::{Downloads, Progress};
pub use id::{BindingKey, SessionId, short_hash};
pub use policy::{Caps, Policy};
pub use reaper::Reaper;
pub use registry::{LimitError, Registry};
pub use state::StateKinds;
pub use task::Limits;
use task::{CatalogRead, Command, Task};
pub use work::{
    Applied, CHUNK, ChangeSet, Loss, LossCause, Mode, Output, Ran, RowEncoder, SessionError, Statement, Step, humanize,
};

/// The most statements kept in a session's history.
const HISTORY: usize = 500;

/// The most bytes of SQL a session's history keeps; the oldest go first.
const HISTORY_BYTES: usize = 1024 * 1024;

/// The most bytes of one statement the history keeps; the rest is cut off
/// with a note saying how much.
const HISTORY_STATEMENT_BYTES: usize = 64 * 1024;

/// One statement from this session's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// The SQL as run.
    pub query: String,
    /// When it ran, RFC 3339.
    pub timestamp: String,
}

/// What a new session starts with.
pub struct NewSession {
    /// Resource name.
    pub resource: String,
    /// Who opened it (the identity header's value).
    pub identity: Option<String>,
    /// What the credential allows.
    pub grant: Grant,
    /// Browser binding.
    pub binding: Option<BindingKey>,
}

/// A live session: a handle to the task that owns its connections.
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The browser it belongs to, when binding is on.
    pub binding: Option<BindingKey>,
    /// The resource it was opened for.
    pub resource: String,
    /// The database name (for the audit log).
    pub database: String,
    /// Who opened it (the identity header's value).
    pub identity: Option<String>,
    /// No SQL may write.
    pub readonly: bool,
    /// A name for the UI.
    pub label: Option<String>,
    /// What it may do (fixed for its life: a backend that changes it
    /// makes the person open the link again).
    pub policy: Policy,
    /// Its recent downloads, for the UI that started them.
    pub downloads: Downloads,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    /// The mark of the tab's last leave beacon; 0 once a request came after it.
    leaving: AtomicU64,
    /// Leave beacons so far (each one's mark).
    leaves: AtomicU64,
}

/// What the task and the handles both see.
struct Shared {
    short_hash: String,
    created: Instant,
    last_used: Mutex<Instant>,
    /// The person's statement running now, for `/api/cancel`.
    running: Mutex<Option<CancelToken>>,
    /// The editor connection's server process, 0 when it is closed.
    editor_pid: AtomicI32,
    /// The editor's transaction status after its last statement (see [`TransactionStatus`] order).
    transaction: AtomicU8,
    expires_at: Mutex<Option<OffsetDateTime>>,
    history: Mutex<VecDeque<HistoryEntry>>,
    closed: AtomicBool,
}

impl Shared {
    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn set_running(&self, token: Option<CancelToken>) {
        *lock(&self.running) = token;
    }

    fn running(&self) -> Option<CancelToken> {
        lock(&self.running).clone()
    }

    fn set_editor_pid(&self, pid: Option<i32>) {
        self.editor_pid.store(pid.unwrap_or(0), Ordering::Relaxed);
    }

    fn editor_pid(&self) -> Option<i32> {
        Some(self.editor_pid.load(Ordering::Relaxed)).filter(|pid| *pid != 0)
    }

    fn set_transaction(&self, status: TransactionStatus) {
        let code = match status {
            TransactionStatus::Idle => 0,
            TransactionStatus::InTransaction => 1,
            TransactionStatus::Failed => 2,
        };
        self.transaction.store(code, Ordering::Relaxed);
    }

    fn transaction(&self) -> TransactionStatus {
        match self.transaction.load(Ordering::Relaxed) {
            1 => TransactionStatus::InTransaction,
            2 => TransactionStatus::Failed,
            _ => TransactionStatus::Idle,
        }
    }

    fn renewed(&self, expires_at: Option<OffsetDateTime>) {
        *lock(&self.expires_at) = expires_at;
    }

    fn closed(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn remember(&self, query: &str) {
        let timestamp =
            OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let query = if query.len() > HISTORY_STATEMENT_BYTES {
            let cut = (0..=HISTORY_STATEMENT_BYTES).rev().find(|&i| query.is_char_boundary(i)).unwrap_or(0);
            format!("{}\n-- [pgdoor kept the first {cut} of {} bytes of this statement]", &query[..cut], query.len())
        } else {
            query.to_owned()
        };
        let mut history = lock(&self.history);
        let mut bytes: usize = history.iter().map(|e| e.query.len()).sum::<usize>() + query.len();
        while history.len() >= HISTORY || (bytes > HISTORY_BYTES && !history.is_empty()) {
            bytes -= history.pop_front().map_or(0, |e| e.query.len());
        }
        history.push_back(HistoryEntry { query, timestamp });
    }
}

impl Session {
    /// Starts the task for a session around its first editor connection.
    pub fn start(fields: NewSession, editor: Connection, connector: Arc<Connector>, limits: Limits) -> Arc<Session> {
        let id = SessionId::random();
        let now = Instant::now();
        let shared = Arc::new(Shared {
            short_hash: id.short_hash(),
            created: now,
            last_used: Mutex::new(now),
            running: Mutex::new(None),
            editor_pid: AtomicI32::new(0),
            transaction: AtomicU8::new(0),
            expires_at: Mutex::new(fields.grant.expires_at),
            history: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
        });
        let (commands, receiver) = mpsc::channel(16);
        let session = Session {
            id,
            binding: fields.binding,
            resource: fields.resource,
            database: fields.grant.config.dbname.clone(),
            identity: fields.identity,
            readonly: fields.grant.readonly,
            label: fields.grant.label.clone(),
            policy: fields.grant.policy.clone(),
            downloads: Downloads::default(),
            commands,
            shared: shared.clone(),
            leaving: AtomicU64::new(0),
            leaves: AtomicU64::new(0),
        };
        tokio::spawn(Task::new(receiver, shared, connector, limits, fields.grant, editor).run());
        Arc::new(session)
    }

    /// Runs the person's SQL on the editor connection. `renewal` replaces an
    /// expired credential first. Dropping the future before it resolves
    /// cancels the statement on the server.
    pub async fn run(&self, statement: Statement, renewal: Option<Grant>) -> Result<Ran, SessionError> {
        self.touch();
        let (reply, answer) = oneshot::channel();
        self.send(Command::Run { statement, renewal, reply }).await?;
        answer.await.map_err(|_| SessionError::Ended)?
    }

    /// Applies row changes on the editor connection, in a transaction of
    /// their own; also says what session state a reconnect lost first.
    /// Dropping the future cancels them (nothing is applied).
    pub async fn apply(
        &self,
        changes: ChangeSet,
        renewal: Option<Grant>,
    ) -> Result<(Applied, StateKinds), SessionError> {
        self.touch();
        let (reply, answer) = oneshot::channel();
        self.send(Command::Apply { changes, renewal, reply }).await?;
        answer.await.map_err(|_| SessionError::Ended)?
    }

    /// Runs one of pgdoor's own reads (names bound as parameters) on the
    /// catalog connection.
    pub async fn catalog(
        &self,
        sql: impl Into<String>,
        params: &[Option<&str>],
        renewal: Option<Grant>,
    ) -> Result<ResultSet, SessionError> {
        self.touch();
        let (reply, answer) = oneshot::channel();
        let params = params.iter().map(|p| p.map(str::to_owned)).collect();
        self.send(Command::Catalog { read: CatalogRead { sql: sql.into(), params, reply }, renewal }).await?;
        answer.await.map_err(|_| SessionError::Ended)?
    }

    async fn send(&self, command: Command) -> Result<(), SessionError> {
        self.commands.send(command).await.map_err(|_| SessionError::Ended)
    }

    /// Cancels the person's running statement, if any.
    pub async fn cancel(&self) -> bool {
        match self.shared.running() {
            Some(token) => token.cancel().await.is_ok(),
            None => false,
        }
    }

    /// Ends the session: what runs is cancelled (and its server process
    /// ended after [`CANCEL_GRACE`]), both connections get Terminate.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.send(Command::Close { done }).await.is_ok() {
            let _ = closed.await;
        }
    }

    /// True when one of the browser's binding keys is this session's (or binding is off).
    pub fn accepts(&self, keys: &[BindingKey]) -> bool {
        self.binding.as_ref().is_none_or(|mine| keys.iter().any(|theirs| mine.matches(theirs)))
    }

    /// The tab said it is leaving (its page was hidden: closed, navigated
    /// away, or reloading). Returns the mark [`Session::still_leaving`] checks.
    pub fn mark_leaving(&self) -> u64 {
        let mark = self.leaves.fetch_add(1, Ordering::AcqRel) + 1;
        self.leaving.store(mark, Ordering::Release);
        mark
    }

    /// A request of the tab arrived: it has not left (a reload came back).
    pub fn present(&self) {
        self.leaving.store(0, Ordering::Release);
    }

    /// True when no request arrived since the leave beacon that got `mark`.
    pub fn still_leaving(&self, mark: u64) -> bool {
        self.leaving.load(Ordering::Acquire) == mark
    }

    /// Marks the session as used now.
    pub fn touch(&self) {
        self.shared.touch();
    }

    /// Time since the last request ended; zero while a statement runs.
    pub fn idle_for(&self) -> Duration {
        if self.shared.running().is_some() {
            return Duration::ZERO;
        }
        lock(&self.shared.last_used).elapsed()
    }

    /// Time since `/connect`.
    pub fn age(&self) -> Duration {
        self.shared.created.elapsed()
    }

    /// True once the credential's `expires_at` has passed.
    pub fn credential_expired(&self) -> bool {
        lock(&self.shared.expires_at).is_some_and(|at| at <= OffsetDateTime::now_utc())
    }

    /// The server process id of the editor connection, when it is open.
    pub fn editor_pid(&self) -> Option<i32> {
        self.shared.editor_pid()
    }

    /// The editor's transaction status as its last statement left it
    /// (`Idle` again once a loss or an idle rollback ended the transaction).
    pub fn transaction(&self) -> TransactionStatus {
        self.shared.transaction()
    }

    /// True once the session was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }

    /// Who and what the audit log names for this session's statements.
    pub fn subject(&self) -> Subject<'_> {
        Subject { identity: self.identity.as_deref(), resource: &self.resource, database: &self.database }
    }

    /// The history, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        lock(&self.shared.history).iter().cloned().collect()
    }
}

/// Locks a std mutex, ignoring poisoning: the data stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
