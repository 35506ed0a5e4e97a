//! The task that owns one session's connections. Handlers send it
//! [`Command`]s and await the answer; nothing else touches a socket. It
//! knows the truth about its editor connection (transaction status, session
//! state, what is running) and says what was lost when the connection goes.
//!
//! The editor connection runs the person's statements, one at a time; the
//! catalog connection runs pgdoor's own reads, opened on demand and closed
//! when idle, so the sidebar stays live while a long statement runs. Each
//! piece of work runs as a future that owns its connection and hands it back,
//! so the task's loop always answers: a second statement is told `Busy`, a
//! close is heard while a statement runs.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::apply;
use super::connector::{Connector, Grant};
use super::state::{PROBE, StateKinds, may_change_state, may_end_transaction};
use super::work::{Applied, ChangeSet, Loss, LossCause, Mode, Output, Ran, SessionError, Statement, StreamSink};
use crate::pg::{self, BinaryCodec, CancelToken, Collector, Connection, ResultSet, Sink, TransactionStatus};

/// How long a cancelled statement may take to stop before its server
/// process is ended.
pub const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// The session's time limits and value conversion.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `--idle-in-transaction-timeout`.
    pub idle_in_transaction: Option<Duration>,
    /// `--catalog-idle`: the catalog connection closes after this long unused.
    pub catalog_idle: Duration,
    /// How bytea is shown.
    pub codec: BinaryCodec,
}

/// A request to the task.
pub(super) enum Command {
    /// Run the person's SQL on the editor connection.
    Run { statement: Statement, renewal: Option<Grant>, reply: Reply<Ran> },
    /// Apply row changes on the editor connection.
    Apply { changes: ChangeSet, renewal: Option<Grant>, reply: Reply<(Applied, StateKinds)> },
    /// Run one of pgdoor's own reads on the catalog connection.
    Catalog { read: CatalogRead, renewal: Option<Grant> },
    /// Close both connections and end.
    Close { done: oneshot::Sender<()> },
}

/// One catalog read and where its answer goes.
pub(super) struct CatalogRead {
    pub sql: String,
    pub params: Vec<Option<String>>,
    pub reply: Reply<ResultSet>,
}

type Job<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where an editor job's answer goes.
type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

/// The editor connection and what is known about it.
struct Editor {
    conn: Option<Connection>,
    status: TransactionStatus,
    state: StateKinds,
    /// State may have changed since it was last asked (a probe is due).
    state_unsure: bool,
    /// A loss not yet told to the person.
    loss: Option<Loss>,
    idle_since: Instant,
}

/// What an editor job hands back.
struct EditorAfter {
    conn: Option<Connection>,
    status: TransactionStatus,
    state: StateKinds,
    state_unsure: bool,
    loss: Option<Loss>,
}

/// Everything an editor job needs, moved into its future.
struct EditorJob {
    after: EditorAfter,
    grant: Arc<Grant>,
    connector: Arc<Connector>,
    shared: Arc<Shared>,
    limits: Limits,
}

/// The session's task.
pub(super) struct Task {
    pub commands: mpsc::Receiver<Command>,
    pub shared: Arc<Shared>,
    pub connector: Arc<Connector>,
    pub limits: Limits,
    /// Shared with the jobs, so starting one copies no credential.
    pub grant: Arc<Grant>,
    editor: Editor,
    editor_job: Option<Job<EditorAfter>>,
    catalog: Option<Connection>,
    catalog_used: Instant,
    catalog_job: Option<Job<Option<Connection>>>,
    catalog_queue: VecDeque<CatalogRead>,
}

enum Event {
    Command(Option<Command>),
    Editor(EditorAfter),
    Catalog(Option<Connection>),
    Timer,
}

impl Task {
    pub fn new(
        commands: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
        connector: Arc<Connector>,
        limits: Limits,
        grant: Grant,
        editor: Connection,
    ) -> Task {
        shared.set_editor_pid(Some(editor.cancel_token().process_id()));
        let now = Instant::now();
        Task {
            commands,
            shared,
            connector,
            limits,
            grant: Arc::new(grant),
            editor: Editor {
                conn: Some(editor),
                status: TransactionStatus::Idle,
                state: StateKinds::NONE,
                state_unsure: false,
                loss: None,
                idle_since: now,
            },
            editor_job: None,
            catalog: None,
            catalog_used: now,
            catalog_job: None,
            catalog_queue: VecDeque::new(),
        }
    }

    /// Serves commands until the session is closed or every handle is gone.
    pub async fn run(mut self) {
        loop {
            let wake = self.next_wake();
            let event = tokio::select! {
                command = self.commands.recv() => Event::Command(command),
                after = finish(&mut self.editor_job) => Event::Editor(after),
                conn = finish(&mut self.catalog_job) => Event::Catalog(conn),
                () = sleep_until(wake) => Event::Timer,
            };
            match event {
                Event::Command(None) => break,
                Event::Command(Some(Command::Close { done })) => {
                    self.shutdown().await;
                    let _ = done.send(());
                    return;
                }
                Event::Command(Some(Command::Run { statement, renewal, reply })) => {
                    self.renew(renewal);
                    self.start_unless_busy(reply, |job, reply| job.statement(statement, reply));
                }
                Event::Command(Some(Command::Apply { changes, renewal, reply })) => {
                    self.renew(renewal);
                    self.start_unless_busy(reply, |job, reply| job.changes(changes, reply));
                }
                Event::Command(Some(Command::Catalog { read, renewal })) => {
                    self.renew(renewal);
                    self.catalog_queue.push_back(read);
                    self.start_catalog();
                }
                Event::Editor(after) => {
                    self.editor_job = None;
                    self.editor = Editor {
                        conn: after.conn,
                        status: after.status,
                        state: after.state,
                        state_unsure: after.state_unsure,
                        loss: after.loss,
                        idle_since: Instant::now(),
                    };
                    self.shared.touch();
                }
                Event::Catalog(conn) => {
                    self.catalog_job = None;
                    self.catalog = conn;
                    self.catalog_used = Instant::now();
                    self.start_catalog();
                }
                Event::Timer => self.on_timer(),
            }
        }
        self.shutdown().await;
    }

    /// A renewed credential replaces the old one; connections made with the
    /// old one close (the editor's loss, if any, is told on its next request).
    fn renew(&mut self, renewal: Option<Grant>) {
        let Some(grant) = renewal else { return };
        self.shared.renewed(grant.expires_at);
        self.grant = Arc::new(grant);
        self.close_expired();
    }

    fn close_expired(&mut self) {
        if self.editor_job.is_none() && self.editor.conn.take().is_some() {
            self.editor_lost(LossCause::CredentialExpired);
            self.shared.set_editor_pid(None);
        }
        if self.catalog_job.is_none() {
            self.catalog = None;
        }
    }

    /// The editor connection is gone: remember what went with it.
    fn editor_lost(&mut self, cause: LossCause) {
        let transaction = self.editor.status != TransactionStatus::Idle;
        if transaction || !self.editor.state.is_empty() {
            self.editor.loss = Some(Loss { cause, transaction, outcome_unknown: false, state: self.editor.state });
        }
        self.editor.status = TransactionStatus::Idle;
        self.editor.state = StateKinds::NONE;
        self.editor.state_unsure = false;
    }

    /// Starts a person's editor job, or answers busy while one runs.
    fn start_unless_busy<T>(&mut self, reply: Reply<T>, work: impl FnOnce(EditorJob, Reply<T>) -> Job<EditorAfter>) {
        if self.editor_job.is_some() {
            let _ = reply.send(Err(SessionError::Busy));
        } else {
            self.start_editor(|job| work(job, reply));
        }
    }

    fn start_editor(&mut self, work: impl FnOnce(EditorJob) -> Job<EditorAfter>) {
        let job = EditorJob {
            after: EditorAfter {
                conn: self.editor.conn.take(),
                status: self.editor.status,
                state: self.editor.state,
                state_unsure: self.editor.state_unsure,
                loss: self.editor.loss.take(),
            },
            grant: self.grant.clone(),
            connector: self.connector.clone(),
            shared: self.shared.clone(),
            limits: self.limits.clone(),
        };
        self.editor_job = Some(work(job));
    }

    fn start_catalog(&mut self) {
        if self.catalog_job.is_some() {
            return;
        }
        let Some(read) = self.catalog_queue.pop_front() else { return };
        let conn = self.catalog.take();
        let (grant, connector, limits) = (self.grant.clone(), self.connector.clone(), self.limits.clone());
        self.catalog_job = Some(Box::pin(catalog_read(conn, grant, connector, limits, read)));
    }

    /// When the timer must next look: an idle transaction's deadline, the
    /// catalog connection's idle end, the credential's expiry.
    fn next_wake(&self) -> Option<Instant> {
        let mut wakes = Vec::with_capacity(3);
        if self.editor_job.is_none()
            && self.editor.conn.is_some()
            && self.editor.status != TransactionStatus::Idle
            && let Some(limit) = self.limits.idle_in_transaction
        {
            wakes.push(self.editor.idle_since + limit);
        }
        if self.catalog_job.is_none() && self.catalog.is_some() {
            wakes.push(self.catalog_used + self.limits.catalog_idle);
        }
        if let Some(at) = self.grant.expires_at
            && (self.editor.conn.is_some() || self.catalog.is_some())
        {
            let left = (at - time::OffsetDateTime::now_utc()).max(time::Duration::ZERO);
            wakes.push(Instant::now() + left.unsigned_abs());
        }
        wakes.into_iter().min()
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.catalog_job.is_none() && self.catalog.is_some() && now >= self.catalog_used + self.limits.catalog_idle {
            // Dropping it sends Terminate.
            self.catalog = None;
            tracing::debug!(session = %self.shared.short_hash, "catalog connection closed after idle");
        }
        if self.grant.expired() {
            tracing::info!(session = %self.shared.short_hash, "credential expired: connections closed until the next request");
            self.close_expired();
        }
        if let Some(limit) = self.limits.idle_in_transaction
            && self.editor_job.is_none()
            && self.editor.conn.is_some()
            && self.editor.status != TransactionStatus::Idle
            && now >= self.editor.idle_since + limit
        {
            tracing::info!(session = %self.shared.short_hash, "transaction idle too long: rolled back");
            self.start_editor(|job| Box::pin(job.roll_back_idle(limit)));
        }
    }

    /// Stops what runs (cancel, then end its server process after the
    /// grace) and closes both connections with Terminate.
    async fn shutdown(&mut self) {
        self.shared.closed();
        if let Some(job) = self.editor_job.take() {
            if let Some(token) = self.shared.running() {
                let _ = token.cancel().await;
            }
            match tokio::time::timeout(CANCEL_GRACE, job).await {
                Ok(after) => self.editor.conn = after.conn,
                Err(_) => {
                    if let Some(pid) = self.shared.editor_pid() {
                        end_backend(&self.connector, &self.grant, pid).await;
                    }
                }
            }
        }
        if let Some(conn) = self.editor.conn.take() {
            conn.close().await;
        }
        self.catalog_job = None;
        if let Some(conn) = self.catalog.take() {
            conn.close().await;
        }
        for read in self.catalog_queue.drain(..) {
            let _ = read.reply.send(Err(SessionError::Ended));
        }
    }
}

impl EditorJob {
    fn statement(self, statement: Statement, mut reply: Reply<Ran>) -> Job<EditorAfter> {
        Box::pin(async move {
            let mut job = self;
            let result = job.run(statement, &mut reply).await;
            job.answer(reply, result)
        })
    }

    fn changes(self, changes: ChangeSet, mut reply: Reply<(Applied, StateKinds)>) -> Job<EditorAfter> {
        Box::pin(async move {
            let mut job = self;
            let result = job.apply(changes, &mut reply).await;
            job.answer(reply, result)
        })
    }

    /// Publishes the transaction state, answers, and hands the connection back.
    fn answer<T>(self, reply: Reply<T>, result: Result<T, SessionError>) -> EditorAfter {
        self.shared.set_transaction(self.after.status);
        let _ = reply.send(result);
        self.after
    }

    /// The editor connection is gone: forgotten, outside any transaction;
    /// returns the session state it held.
    fn forget_connection(&mut self) -> StateKinds {
        self.after.conn = None;
        self.shared.set_editor_pid(None);
        self.after.status = TransactionStatus::Idle;
        self.after.state_unsure = false;
        std::mem::take(&mut self.after.state)
    }

    /// A change set in a transaction of its own; never inside the person's
    /// open transaction (it would commit or roll back with it, unseen).
    async fn apply(
        &mut self,
        changes: ChangeSet,
        reply: &mut Reply<(Applied, StateKinds)>,
    ) -> Result<(Applied, StateKinds), SessionError> {
        let (_, state_lost) = self.ready().await?;
        if self.after.status != TransactionStatus::Idle {
            return Err(SessionError::TransactionOpen);
        }
        let conn = self.after.conn.as_mut().expect("ready() connected");
        let token = conn.cancel_token().clone();
        self.shared.set_running(Some(token.clone()));
        let limit = self.grant.policy.statement_timeout;
        let (codec, max_bytes) = (self.limits.codec, self.grant.policy.max_result_bytes);
        let mut commit_sent = false;
        let work = apply::transaction(conn, &changes.steps, codec, max_bytes, &mut commit_sent);
        let finish = supervise(&token, limit, reply.closed(), work).await;
        self.shared.set_running(None);
        let result = match finish {
            Finish::Stopped(Stop::Timeout(limit), Ok(Applied::Failed { .. })) => {
                self.settle(false).await;
                return Err(SessionError::Timeout { limit, ended: false, lost: None });
            }
            Finish::Done(result) | Finish::Stopped(_, result) => result,
            Finish::Ended(stop) => {
                let state = self.forget_connection();
                end_backend(&self.connector, &self.grant, token.process_id()).await;
                let lost = Loss { cause: LossCause::Ended, transaction: false, outcome_unknown: commit_sent, state };
                return Err(match stop {
                    Stop::Timeout(limit) => SessionError::Timeout { limit, ended: true, lost: Some(lost) },
                    Stop::Left => SessionError::Ended,
                });
            }
        };
        match result {
            Ok(applied) => {
                self.settle(false).await;
                Ok((applied, state_lost))
            }
            Err(e) if e.is_connection_lost() => {
                let state = self.forget_connection();
                let cause = LossCause::ConnectionLost(e.to_string());
                Err(SessionError::Lost(Loss { cause, transaction: false, outcome_unknown: commit_sent, state }))
            }
            Err(e) => {
                self.settle(false).await;
                Err(SessionError::Failed(e))
            }
        }
    }

    async fn run(&mut self, statement: Statement, reply: &mut Reply<Ran>) -> Result<Ran, SessionError> {
        let (reconnected, state_lost) = self.ready().await?;
        let Statement { sql, params, mode, read_only, output, history } = statement;
        let text = Text { sql, params, mode };
        let hinted = may_change_state(&text.sql);
        let status_before = self.after.status;
        let access = match (self.grant.readonly, read_only) {
            (true, _) => Access::ReadOnlySession,
            (false, true) => Access::ReadOnly,
            (false, false) => Access::Write,
        };
        let started = Instant::now();
        let conn = self.after.conn.as_mut().expect("ready() connected");
        let token = conn.cancel_token().clone();
        self.shared.set_running(Some(token.clone()));
        let limit = self.grant.policy.statement_timeout;
        let (finish, output) = match output {
            Output::Collect { max_rows, max_bytes } => {
                let mut sink = Collector::new(self.limits.codec, max_rows).with_max_bytes(max_bytes);
                let work = execute(conn, &text, access, &mut sink);
                let finish = supervise(&token, limit, reply.closed(), work).await;
                (finish, Collected::Rows(sink))
            }
            Output::Stream { encoder, chunks } => {
                let watch = chunks.clone();
                let mut sink = StreamSink { encoder, chunks, rows: 0 };
                let work = async {
                    execute(conn, &text, access, &mut sink).await?;
                    sink.finish().await.map_err(pg::Error::Sink)
                };
                let finish = supervise(&token, limit, watch.closed(), work).await;
                let rows = sink.rows;
                (finish, Collected::Streamed(rows))
            }
        };
        self.shared.set_running(None);
        let elapsed = started.elapsed();
        let result = match finish {
            Finish::Done(result) | Finish::Stopped(Stop::Left, result) => result,
            Finish::Stopped(Stop::Timeout(limit), result) => match result {
                Err(e) if e.code() == Some("57014") => {
                    self.settle(hinted || self.after.state_unsure).await;
                    return Err(SessionError::Timeout { limit, ended: false, lost: None });
                }
                other => other,
            },
            Finish::Ended(stop) => {
                let state = self.forget_connection();
                end_backend(&self.connector, &self.grant, token.process_id()).await;
                let lost = lost(LossCause::Ended, status_before, state);
                return match stop {
                    Stop::Timeout(limit) => Err(SessionError::Timeout { limit, ended: true, lost }),
                    // Nobody is listening; the next request is told.
                    Stop::Left => {
                        self.after.loss = lost;
                        Err(SessionError::Ended)
                    }
                };
            }
        };
        match result {
            Err(e) if e.is_connection_lost() => {
                let state = self.forget_connection();
                // A read-only statement ran in a transaction of its own that
                // could not commit anything; a write may have committed.
                let committing = matches!(access, Access::Write)
                    && (status_before == TransactionStatus::Idle || may_end_transaction(&text.sql));
                let loss = Loss {
                    cause: LossCause::ConnectionLost(e.to_string()),
                    transaction: status_before != TransactionStatus::Idle && !committing,
                    outcome_unknown: committing,
                    state,
                };
                Err(SessionError::Lost(loss))
            }
            Err(e) => {
                self.settle(hinted || self.after.state_unsure).await;
                match (e, output) {
                    (pg::Error::Db(error), Collected::Rows(sink)) if !sink.results.is_empty() => {
                        Err(SessionError::ScriptFailed { error, done: sink.results })
                    }
                    (e, _) => Err(SessionError::Failed(e)),
                }
            }
            Ok(()) => {
                self.settle(hinted || self.after.state_unsure).await;
                if history {
                    self.shared.remember(&text.sql);
                }
                let (results, notices, notices_dropped, rows_streamed) = match output {
                    Collected::Rows(sink) => (sink.results, sink.notices, sink.notices_dropped, 0),
                    Collected::Streamed(rows) => (Vec::new(), Vec::new(), 0, rows),
                };
                Ok(Ran {
                    results,
                    notices,
                    notices_dropped,
                    rows_streamed,
                    transaction: self.after.status,
                    reconnected,
                    state_lost,
                    elapsed,
                })
            }
        }
    }

    /// Makes the editor connection usable, telling first what a lost one
    /// took with it: a transaction (nothing is run: 409), or session state
    /// (the statement runs on a fresh connection and the answer says so).
    async fn ready(&mut self) -> Result<(bool, StateKinds), SessionError> {
        let mut state_lost = StateKinds::NONE;
        if let Some(loss) = self.after.loss.take() {
            if loss.transaction {
                return Err(SessionError::TransactionLost(loss));
            }
            state_lost = loss.state;
        }
        if let Some(conn) = self.after.conn.as_mut()
            && !conn.check_alive().await
        {
            let reason = conn.lost_reason().unwrap_or_else(|| "the server closed the connection".into());
            let status = self.after.status;
            let state = self.forget_connection();
            if let Some(loss) = lost(LossCause::ConnectionLost(reason), status, state) {
                if loss.transaction {
                    return Err(SessionError::TransactionLost(loss));
                }
                state_lost = loss.state;
            }
        }
        if self.after.conn.is_some() {
            return Ok((false, state_lost));
        }
        let conn = self.connector.connect(&self.grant).await?;
        self.shared.set_editor_pid(Some(conn.cancel_token().process_id()));
        self.after.conn = Some(conn);
        Ok((true, state_lost))
    }

    /// After a statement: the transaction status, and (when the statement
    /// may have changed it, or a transaction ended) the session state.
    async fn settle(&mut self, probe: bool) {
        let Some(conn) = self.after.conn.as_mut() else { return };
        let before = self.after.status;
        self.after.status = conn.transaction_status();
        let ended = before != TransactionStatus::Idle && self.after.status == TransactionStatus::Idle;
        let probe = probe || (ended && !self.after.state.is_empty());
        if !probe {
            return;
        }
        if self.after.status == TransactionStatus::Failed {
            // The server answers nothing but ROLLBACK now; ask once it is over.
            self.after.state_unsure = true;
            return;
        }
        let mut out = Collector::unbounded();
        match conn.query(PROBE, &[], &mut out).await {
            Ok(()) => {
                self.after.state =
                    out.into_last().rows.first().map_or(StateKinds::NONE, |row| StateKinds::from_probe(row));
                self.after.state_unsure = false;
            }
            Err(e) => {
                tracing::debug!("session state probe failed: {e}");
                self.after.state_unsure = true;
            }
        }
    }

    /// `--idle-in-transaction-timeout`: the transaction is rolled back and
    /// the next request is told so (and not run).
    async fn roll_back_idle(mut self, limit: Duration) -> EditorAfter {
        let status = self.after.status;
        if let Some(conn) = self.after.conn.as_mut() {
            let mut out = Collector::unbounded();
            let rolled_back = conn.simple_query("ROLLBACK", &mut out).await;
            if rolled_back.is_err() {
                self.after.conn = None;
                self.shared.set_editor_pid(None);
            }
        }
        let state = self.after.state;
        self.settle(!state.is_empty()).await;
        self.after.loss = Some(Loss {
            cause: LossCause::IdleInTransaction(limit),
            transaction: status != TransactionStatus::Idle,
            outcome_unknown: false,
            state: if self.after.conn.is_some() { StateKinds::NONE } else { state },
        });
        let now = if self.after.conn.is_some() { self.after.status } else { TransactionStatus::Idle };
        self.shared.set_transaction(now);
        self.after
    }
}

/// A loss worth telling: a transaction or session state went.
fn lost(cause: LossCause, status: TransactionStatus, state: StateKinds) -> Option<Loss> {
    let transaction = status != TransactionStatus::Idle;
    (transaction || !state.is_empty()).then_some(Loss { cause, transaction, outcome_unknown: false, state })
}

/// What a statement's output became.
enum Collected {
    Rows(Collector),
    Streamed(u64),
}

/// How a statement may touch the database.
#[derive(Clone, Copy)]
enum Access {
    /// As the session's role allows.
    Write,
    /// Read-only, in a session that may write (a GET, a download).
    ReadOnly,
    /// In a read-only session: read-only, and nothing held afterwards.
    ReadOnlySession,
}

/// Sends the statement the way its mode and the read-only rule say.
async fn execute<S: Sink>(conn: &mut Connection, text: &Text, access: Access, sink: &mut S) -> Result<(), pg::Error> {
    let params: Vec<Option<&str>> = text.params.iter().map(Option::as_deref).collect();
    match (access, text.mode) {
        (Access::ReadOnly, _) => conn.query_read_only(&text.sql, &params, sink, false).await,
        (Access::ReadOnlySession, _) => conn.query_read_only(&text.sql, &params, sink, true).await,
        (Access::Write, Mode::Single) => conn.query(&text.sql, &params, sink).await,
        (Access::Write, Mode::Script) => conn.simple_query(&text.sql, sink).await,
    }
}

/// A statement's text, apart from where its rows go.
struct Text {
    sql: String,
    params: Vec<Option<String>>,
    mode: Mode,
}

/// Why a statement was stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The time limit passed.
    Timeout(Duration),
    /// The client went away.
    Left,
}

/// How supervised work ended.
enum Finish<T> {
    /// On its own.
    Done(Result<T, pg::Error>),
    /// After a cancel.
    Stopped(Stop, Result<T, pg::Error>),
    /// It ignored the cancel for [`CANCEL_GRACE`]; its server process must be ended.
    Ended(Stop),
}

/// Runs `work`, cancelling it when `gone` resolves (the client left) or the
/// limit passes; work that ignores the cancel for [`CANCEL_GRACE`] is given up.
async fn supervise<T>(
    token: &CancelToken,
    limit: Option<Duration>,
    gone: impl Future<Output = ()>,
    work: impl Future<Output = Result<T, pg::Error>>,
) -> Finish<T> {
    tokio::pin!(work);
    tokio::pin!(gone);
    let timer = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let stop = tokio::select! {
        result = &mut work => return Finish::Done(result),
        () = &mut gone => Stop::Left,
        () = timer => Stop::Timeout(limit.unwrap_or_default()),
    };
    let _ = token.cancel().await;
    match tokio::time::timeout(CANCEL_GRACE, &mut work).await {
        Ok(result) => Finish::Stopped(stop, result),
        Err(_) => Finish::Ended(stop),
    }
}

/// Ends a server process that ignores cancels, from a connection of its own
/// (a role may end its own backends).
async fn end_backend(connector: &Connector, grant: &Grant, pid: i32) {
    let ended = async {
        let mut conn = connector.connect(grant).await.map_err(|e| e.to_string())?;
        let mut out = Collector::unbounded();
        let pid = pid.to_string();
        conn.query("SELECT pg_catalog.pg_terminate_backend($1::int)", &[Some(&pid)], &mut out)
            .await
            .map_err(|e| e.to_string())?;
        conn.close().await;
        Ok::<_, String>(out.into_last().rows.first().and_then(|r| r.first()).and_then(|v| v.as_bool()))
    };
    match tokio::time::timeout(Duration::from_secs(10), ended).await {
        Ok(Ok(Some(true))) => tracing::warn!(pid, "a statement ignored its cancel: its server process was ended"),
        Ok(Ok(_)) => tracing::warn!(pid, "a statement ignored its cancel and its server process could not be ended"),
        Ok(Err(e)) => tracing::warn!(pid, "a statement ignored its cancel; ending its server process failed: {e}"),
        Err(_) => tracing::warn!(pid, "a statement ignored its cancel; ending its server process timed out"),
    }
}

/// One catalog read on the catalog connection (opened on first use); a lost
/// connection is reopened and the read tried once more.
async fn catalog_read(
    mut conn: Option<Connection>,
    grant: Arc<Grant>,
    connector: Arc<Connector>,
    limits: Limits,
    mut read: CatalogRead,
) -> Option<Connection> {
    let params: Vec<Option<&str>> = read.params.iter().map(Option::as_deref).collect();
    let mut retried = false;
    let result = loop {
        if let Some(open) = conn.as_mut()
            && !open.check_alive().await
        {
            conn = None;
        }
        if conn.is_none() {
            match connector.connect(&grant).await {
                Ok(open) => conn = Some(open),
                Err(e) => break Err(SessionError::Connect(e)),
            }
        }
        let open = conn.as_mut().expect("connected above");
        let token = open.cancel_token().clone();
        let mut out = Collector::new(limits.codec, usize::MAX);
        let work = open.query(&read.sql, &params, &mut out);
        match supervise(&token, grant.policy.statement_timeout, read.reply.closed(), work).await {
            Finish::Done(Ok(())) => break Ok(out.into_last()),
            Finish::Done(Err(e)) if e.is_connection_lost() && !retried => {
                retried = true;
                conn = None;
            }
            Finish::Done(Err(e)) | Finish::Stopped(Stop::Left, Err(e)) => {
                if e.is_connection_lost() {
                    conn = None;
                }
                break Err(SessionError::Failed(e));
            }
            Finish::Stopped(_, Ok(())) => break Ok(out.into_last()),
            Finish::Stopped(Stop::Timeout(limit), Err(_)) => {
                break Err(SessionError::Timeout { limit, ended: false, lost: None });
            }
            Finish::Ended(stop) => {
                end_backend(&connector, &grant, token.process_id()).await;
                conn = None;
                let limit = match stop {
                    Stop::Timeout(limit) => limit,
                    Stop::Left => Duration::ZERO,
                };
                break Err(SessionError::Timeout { limit, ended: true, lost: None });
            }
        }
    };
    let _ = read.reply.send(result);
    conn
}

/// The output of a job, or never when there is none.
async fn finish<T>(job: &mut Option<Job<T>>) -> T {
    match job {
        Some(job) => job.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
