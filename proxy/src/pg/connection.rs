//! An open connection: runs queries (simple protocol for SQL a person typed,
//! extended protocol with text parameters for SQL pgdoor builds), streams
//! their output into a [`Sink`], and keeps itself in a known state even when
//! a caller gives up half-way.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::task::Poll;
use std::time::{Duration, Instant};

use fallible_iterator::FallibleIterator;
use postgres_protocol::IsNull;
use postgres_protocol::message::backend::{Message, RowDescriptionBody};
use postgres_protocol::message::frontend::{self, BindError};
use tokio::io::AsyncWriteExt;

use super::auth::AuthMethod;
use super::cancel::CancelToken;
use super::error::{DbError, Error};
use super::framed::Framed;
use super::query::{Column, Completion, Row, Sink, SinkError};
use super::stream::Stream;
use super::tls::TlsInfo;

/// How a connection was made, for diagnostics (`pgdoor check`, the UI).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The address actually used.
    pub address: String,
    /// TLS parameters, `None` for plaintext.
    pub tls: Option<TlsInfo>,
    /// The authentication method used.
    pub auth: AuthMethod,
    /// Time from the first packet to ReadyForQuery.
    pub connect_time: Duration,
}

/// Transaction state reported by the server after every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// Not in a transaction block.
    Idle,
    /// Inside BEGIN ... COMMIT.
    InTransaction,
    /// Inside a failed transaction: statements are refused until ROLLBACK.
    Failed,
}

/// Fails (division by zero) when the transaction has a transaction id,
/// which a read-only transaction gets only by writing.
/// What a read-only session's statement may not leave behind: session-level
/// advisory locks (which block other people) and notification listens.
const RELEASE: [&str; 2] = ["SELECT pg_catalog.pg_advisory_unlock_all()", "UNLISTEN *"];

const WRITE_GUARD: &str = "SELECT 1 / (pg_catalog.txid_current_if_assigned() IS NULL)::int";

/// A PostgreSQL connection. Methods take `&mut self`: one request at a time.
///
/// Dropping it sends Terminate (from a spawned task when a runtime is
/// running), so the server logs a clean disconnect.
pub struct Connection {
    framed: Framed,
    params: HashMap<String, String>,
    cancel: CancelToken,
    info: ConnectionInfo,
    status: TransactionStatus,
    /// ReadyForQuery messages the server still owes: requests sent whose
    /// output has not been read yet (their reader was dropped, or a sink failed).
    pending: u32,
    /// Why the connection can no longer be used.
    broken: Option<String>,
    /// Value ranges of the current DataRow, reused across rows.
    ranges: Vec<Option<Range<usize>>>,
}

impl Connection {
    pub(crate) fn new(
        framed: Framed,
        params: HashMap<String, String>,
        cancel: CancelToken,
        info: ConnectionInfo,
    ) -> Self {
        Connection {
            framed,
            params,
            cancel,
            info,
            status: TransactionStatus::Idle,
            pending: 0,
            broken: None,
            ranges: Vec::new(),
        }
    }

    /// A server parameter reported with ParameterStatus (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The transaction state after the last request.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.status
    }

    /// How the connection was made.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// A handle that cancels the running statement from elsewhere.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// True once the connection is lost; every later call fails with [`Error::Lost`].
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Why the connection was lost, once it is.
    pub fn lost_reason(&self) -> Option<String> {
        self.broken.clone()
    }

    /// Runs SQL text with the simple protocol: any number of statements, each
    /// with its own result set. The text is one implicit transaction unless it
    /// manages its own. On a server error the rows and completions already
    /// delivered stay delivered, and the error is returned.
    pub async fn simple_query<S: Sink>(&mut self, sql: &str, sink: &mut S) -> Result<(), Error> {
        no_nul(sql)?;
        self.ready().await?;
        frontend::query(sql, &mut self.framed.wbuf).map_err(Error::protocol)?;
        self.send(1).await?;
        self.read_results(sink).await
    }

    /// Runs one statement read-only, all in one round trip. Outside a
    /// transaction it runs in its own `BEGIN READ ONLY` ... `COMMIT` (COMMIT
    /// keeps `SET`s); inside one, in a savepoint made read-only and rolled
    /// back afterwards, so the transaction around it is left as it was. The
    /// statement goes through the extended protocol, which takes exactly one
    /// statement, so nothing in the text can end the read-only transaction
    /// and then write: `COMMIT; INSERT ...` is refused by the server (42601),
    /// and `SET TRANSACTION READ WRITE`, `SET default_transaction_read_only`
    /// or `RESET ALL` can only affect a transaction that ends with it.
    /// With `release`, the session-level advisory locks and `LISTEN`s the
    /// statement took are given up in the same round trip (a read-only
    /// session keeps none).
    pub async fn query_read_only<S: Sink>(
        &mut self,
        sql: &str,
        params: &[Option<&str>],
        sink: &mut S,
        release: bool,
    ) -> Result<(), Error> {
        no_nul(sql)?;
        self.ready().await?;
        // Outside a transaction, a guard between the statement and COMMIT
        // fails (so COMMIT rolls back) when the statement made the transaction
        // write: it then has a transaction id. Inside one, the savepoint is
        // rolled back anyway.
        let guarded = self.status == TransactionStatus::Idle;
        let (before, after): (&[&str], &[&str]) = match self.status {
            TransactionStatus::Idle => (&["BEGIN READ ONLY"], &[WRITE_GUARD, "COMMIT"]),
            _ => (
                &["SAVEPOINT pgdoor_read_only", "SET TRANSACTION READ ONLY"],
                &["ROLLBACK TO SAVEPOINT pgdoor_read_only", "RELEASE SAVEPOINT pgdoor_read_only"],
            ),
        };
        for step in before {
            frontend::query(step, &mut self.framed.wbuf).map_err(Error::protocol)?;
        }
        self.extended(sql, params)?;
        let releases: &[&str] = if release { &RELEASE } else { &[] };
        for step in after.iter().chain(releases) {
            frontend::query(step, &mut self.framed.wbuf).map_err(Error::protocol)?;
        }
        let tail = (after.len() + releases.len()) as u32;
        self.send(before.len() as u32 + 1 + tail).await?;
        let mut result = Ok(());
        // The steps before, until the statement's and the closing steps' replies are left.
        while self.pending > tail + 1 {
            let step = self.read_results(&mut Discard).await;
            if self.broken.is_some() {
                return step;
            }
            result = result.and(step);
        }
        let ran = self.read_results(sink).await;
        if self.pending == 0 || self.broken.is_some() {
            // A failed sink already drained the rest; a lost connection has none.
            return result.and(ran);
        }
        let mut result = result.and(ran);
        let mut guard = guarded;
        while self.pending > 0 && self.broken.is_none() {
            let step = self.read_results(&mut Discard).await;
            if std::mem::take(&mut guard) && result.is_ok() && step.is_err() && self.broken.is_none() {
                result = Err(Error::ReadOnlyWrite);
                continue;
            }
            result = result.and(step);
        }
        result
    }

    /// True when the connection is usable as far as can be told without a
    /// round trip: not broken, and the server has not closed it while idle
    /// (after `pg_terminate_backend` or a restart it sends FATAL and hangs up).
    pub async fn check_alive(&mut self) -> bool {
        if self.broken.is_some() {
            return false;
        }
        if self.pending > 0 {
            return true;
        }
        // Polls the socket once, without a timer: an idle connection has nothing to say.
        loop {
            let polled = {
                let mut read = std::pin::pin!(self.read());
                std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await
            };
            match polled {
                Poll::Pending => return true,
                Poll::Ready(Ok(Message::ErrorResponse(body))) => {
                    let reason = DbError::parse(body.fields())
                        .map(|db| format!("the server ended the session: {db}"))
                        .unwrap_or_else(|e| e.to_string());
                    self.broken = Some(reason);
                    return false;
                }
                Poll::Ready(Ok(Message::ParameterStatus(body))) => {
                    if let (Ok(name), Ok(value)) = (body.name(), body.value()) {
                        self.params.insert(name.to_owned(), value.to_owned());
                    }
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(_)) => return false,
            }
        }
    }

    /// Runs one statement with the extended protocol (unnamed statement, one
    /// round trip). Parameters are sent as text, `None` as NULL; their types
    /// are inferred by the server.
    pub async fn query<S: Sink>(&mut self, sql: &str, params: &[Option<&str>], sink: &mut S) -> Result<(), Error> {
        no_nul(sql)?;
        self.ready().await?;
        self.extended(sql, params)?;
        self.send(1).await?;
        self.read_results(sink).await
    }

    /// Buffers Parse, Bind, Describe, Execute and Sync for one statement.
    fn extended(&mut self, sql: &str, params: &[Option<&str>]) -> Result<(), Error> {
        let buf = &mut self.framed.wbuf;
        frontend::parse("", sql, std::iter::empty(), buf).map_err(Error::protocol)?;
        frontend::bind(
            "",
            "",
            std::iter::empty(),
            params,
            |param, out| {
                Ok(match param {
                    Some(text) => {
                        out.extend_from_slice(text.as_bytes());
                        IsNull::No
                    }
                    None => IsNull::Yes,
                })
            },
            std::iter::empty(),
            buf,
        )
        .map_err(|e| match e {
            BindError::Conversion(e) => Error::protocol(format!("cannot encode a parameter: {e}")),
            BindError::Serialization(e) => Error::protocol(format!("cannot encode the parameters: {e}")),
        })?;
        frontend::describe(b'P', "", buf).map_err(Error::protocol)?;
        frontend::execute("", 0, buf).map_err(Error::protocol)?;
        frontend::sync(buf);
        Ok(())
    }

    /// Sends Terminate and closes the socket.
    pub async fn close(mut self) {
        self.terminate_now().await;
    }

    /// Makes sure the previous request is fully read before a new one starts:
    /// an abandoned request is cancelled and its output discarded.
    async fn ready(&mut self) -> Result<(), Error> {
        if let Some(reason) = &self.broken {
            return Err(Error::Lost(reason.clone()));
        }
        if self.pending > 0 {
            // The abandoned statement may run for long; stop it first.
            let _ = self.cancel.cancel().await;
            while self.pending > 0 {
                if let Message::ReadyForQuery(body) = self.read().await? {
                    self.finish(body.status());
                } else {
                    // Everything else belonged to the abandoned request.
                }
            }
        }
        Ok(())
    }

    /// Writes the buffered messages, which end in `replies` Syncs or Queries.
    async fn send(&mut self, replies: u32) -> Result<(), Error> {
        self.pending += replies;
        let result = self.framed.flush().await;
        self.mark(result)
    }

    async fn read(&mut self) -> Result<Message, Error> {
        let result = self.framed.read().await;
        self.mark(result)
    }

    /// Records a fatal error so that later calls fail fast.
    fn mark<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result
            && e.is_connection_lost()
        {
            self.broken = Some(e.to_string());
        }
        result
    }

    fn finish(&mut self, status: u8) {
        self.pending = self.pending.saturating_sub(1);
        self.status = match status {
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => TransactionStatus::Idle,
        };
    }

    /// Reads one request's output up to ReadyForQuery, feeding the sink.
    async fn read_results<S: Sink>(&mut self, sink: &mut S) -> Result<(), Error> {
        let mut statement_start = Instant::now();
        let mut error = None;
        loop {
            let sent = match self.read().await? {
                Message::RowDescription(body) => sink.columns(&columns(&body)?).await,
                Message::DataRow(body) => {
                    self.ranges.clear();
                    let mut ranges = body.ranges();
                    while let Some(range) = ranges.next().map_err(Error::protocol)? {
                        self.ranges.push(range);
                    }
                    sink.row(&Row { buf: body.buffer(), ranges: &self.ranges }).await
                }
                Message::CommandComplete(body) => {
                    let tag = body.tag().map_err(Error::protocol)?;
                    let done = Completion::new(tag, statement_start.elapsed());
                    statement_start = Instant::now();
                    sink.complete(&done).await
                }
                Message::EmptyQueryResponse => sink.complete(&Completion::new("", statement_start.elapsed())).await,
                Message::ErrorResponse(body) => {
                    let db = DbError::parse(body.fields())?;
                    if db.is_fatal() {
                        let reason = format!("the server ended the session: {db}");
                        self.broken = Some(reason.clone());
                        return Err(Error::Lost(reason));
                    }
                    error = Some(Error::Db(Box::new(db)));
                    Ok(())
                }
                Message::NoticeResponse(body) => {
                    sink.notice(DbError::parse(body.fields())?);
                    Ok(())
                }
                Message::ParameterStatus(body) => {
                    let name = body.name().map_err(Error::protocol)?.to_owned();
                    let value = body.value().map_err(Error::protocol)?.to_owned();
                    self.params.insert(name, value);
                    Ok(())
                }
                Message::ReadyForQuery(body) => {
                    self.finish(body.status());
                    return error.map_or(Ok(()), Err);
                }
                Message::CopyInResponse(_) => {
                    frontend::copy_fail("COPY FROM STDIN is not supported here", &mut self.framed.wbuf)
                        .map_err(Error::protocol)?;
                    self.send(0).await?;
                    Ok(())
                }
                Message::CopyOutResponse(_) => sink.columns(&[copy_column()]).await,
                Message::CopyData(body) => {
                    let line = body.data().strip_suffix(b"\n").unwrap_or(body.data());
                    sink.row(&Row { buf: line, ranges: &[Some(0..line.len())] }).await
                }
                Message::ParseComplete
                | Message::BindComplete
                | Message::NoData
                | Message::CopyDone
                | Message::NotificationResponse(_) => Ok(()),
                _ => {
                    let e = Error::protocol("unexpected message in a query response");
                    self.broken = Some(e.to_string());
                    return Err(e);
                }
            };
            if let Err(e) = sent {
                return self.abort(e).await;
            }
        }
    }

    /// The sink gave up: cancel the statement, discard the rest, keep the connection.
    async fn abort(&mut self, cause: SinkError) -> Result<(), Error> {
        self.ready().await?;
        Err(Error::Sink(cause))
    }

    async fn terminate_now(&mut self) {
        if self.broken.is_none() {
            frontend::terminate(&mut self.framed.wbuf);
            let _ = self.framed.flush().await;
            let _ = self.framed.stream.shutdown().await;
            self.broken = Some("the connection was closed".into());
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.broken.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let mut wbuf = bytes::BytesMut::with_capacity(5);
        frontend::terminate(&mut wbuf);
        let mut stream = std::mem::replace(&mut self.framed.stream, Stream::Closed);
        runtime.spawn(async move {
            let _ = stream.write_all(&wbuf).await;
            let _ = stream.shutdown().await;
        });
    }
}

fn columns(body: &RowDescriptionBody) -> Result<Vec<Column>, Error> {
    body.fields()
        .map(|f| {
            Ok(Column {
                name: f.name().to_owned(),
                type_oid: f.type_oid(),
                table_oid: f.table_oid(),
                column_id: f.column_id(),
                type_modifier: f.type_modifier(),
            })
        })
        .collect()
        .map_err(Error::protocol)
}

/// A sink for pgdoor's own bookkeeping statements.
struct Discard;

impl Sink for Discard {
    fn columns(&mut self, _: &[Column]) -> impl std::future::Future<Output = Result<(), SinkError>> + Send {
        std::future::ready(Ok(()))
    }
    fn row(&mut self, _: &Row<'_>) -> impl std::future::Future<Output = Result<(), SinkError>> + Send {
        std::future::ready(Ok(()))
    }
    fn complete(&mut self, _: &Completion) -> impl std::future::Future<Output = Result<(), SinkError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// The single text column COPY ... TO STDOUT output is shown in.
fn copy_column() -> Column {
    Column { name: "copy".into(), type_oid: 25, table_oid: 0, column_id: 0, type_modifier: -1 }
}

/// Statement text travels as a C string: a NUL in it cannot be sent, and
/// must be refused before anything is written to the connection.
fn no_nul(sql: &str) -> Result<(), Error> {
    if sql.contains('\0') { Err(Error::NulInSql) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::super::connect::{ClientOptions, connect, connect_with};
    use super::super::fake_server::{Peer, serve, started};
    use super::super::query::Collector;
    use super::*;

    /// Waits for the client's Query message.
    async fn query_sent(peer: &mut Peer) {
        let (tag, _) = peer.read().await;
        assert_eq!(tag, b'Q');
    }

    #[tokio::test]
    async fn an_unexpected_message_mid_query_breaks_the_connection_for_good() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.accept(1, 2).await;
            query_sent(&mut peer).await;
            // AuthenticationOk has no place in a query's answer.
            peer.auth(0, &[]).await;
            assert_eq!(peer.until_closed().await, b"", "nothing more is sent on a broken connection");
        })
        .await;
        let mut conn = connect(&config).await.unwrap();
        let error = conn.simple_query("SELECT 1", &mut Collector::unbounded()).await.unwrap_err();
        assert!(matches!(error, Error::Protocol(_)), "{error}");
        assert!(conn.is_broken());
        assert!(conn.lost_reason().unwrap().contains("protocol error"), "{:?}", conn.lost_reason());
        let again = conn.simple_query("SELECT 1", &mut Collector::unbounded()).await.unwrap_err();
        assert!(matches!(again, Error::Lost(_)), "a broken connection is never reused: {again}");
        drop(conn);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_server_that_closes_mid_query_is_a_lost_connection() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.accept(1, 2).await;
            query_sent(&mut peer).await;
            peer.send(b'T', &0i16.to_be_bytes()).await;
        })
        .await;
        let mut conn = connect(&config).await.unwrap();
        let error = conn.simple_query("SELECT", &mut Collector::unbounded()).await.unwrap_err();
        assert!(error.is_connection_lost(), "{error}");
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
        assert!(conn.is_broken());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_row_over_the_message_cap_breaks_the_connection() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.accept(1, 2).await;
            query_sent(&mut peer).await;
            peer.send(b'N', &vec![b'x'; 4096]).await;
            assert_eq!(peer.until_closed().await, b"", "nothing more is sent on a broken connection");
        })
        .await;
        let mut conn = connect_with(&config, &ClientOptions { max_message_size: 1024 }).await.unwrap();
        let error = conn.simple_query("SELECT 1", &mut Collector::unbounded()).await.unwrap_err();
        assert!(matches!(error, Error::MessageTooLarge { limit: 1024, .. }), "{error}");
        assert!(conn.is_broken());
        drop(conn);
        server.await.unwrap();
    }
}
