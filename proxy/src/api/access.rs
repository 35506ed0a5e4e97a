//! Getting a session's connections ready for a request: find the session,
//! check it belongs to this browser, and reconnect a lost or expired
//! connection (re-resolving with this request's headers, same identity only).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedMutexGuard;

use super::error::ApiError;
use crate::connect::{self, BINDING_COOKIE, ConnectError};
use crate::door::{Ctx, Door};
use crate::http::Request;
use crate::pg::{Collector, Config, Connection, ResultSet};
use crate::session::{BindingKey, Session, SessionId};

/// The request's session: by `X-Session-ID` (or `_session_id`), bound to this browser.
pub fn session(door: &Door, request: &Request, ctx: &mut Ctx) -> Result<Arc<Session>, ApiError> {
    let raw = request
        .header("x-session-id")
        .map(str::to_owned)
        .or_else(|| request.query_param("_session_id"))
        .filter(|id| !id.is_empty())
        .ok_or(ApiError::SessionRequired)?;
    let id = SessionId::parse(raw.trim()).ok_or(ApiError::SessionGone)?;
    let session = door.sessions.get(&id).ok_or(ApiError::SessionGone)?;
    ctx.session(id.short_hash());
    let cookie = request.cookie(BINDING_COOKIE).and_then(|v| BindingKey::parse(&v));
    if !session.accepts(cookie) {
        return Err(ApiError::NotYourSession);
    }
    session.touch();
    Ok(session)
}

/// Refuses a request from another identity than the one that opened the session.
fn same_identity(door: &Door, session: &Session, request: &Request) -> Result<(), ApiError> {
    if session.identity.is_some() && door.identity(request) != session.identity {
        return Err(ConnectError::OtherIdentity.into());
    }
    Ok(())
}

/// Resolves the session's resource again (same identity only), for tools
/// that make their own connection (pg_dump).
pub async fn resolve(door: &Door, session: &Session, request: &Request) -> Result<Config, ApiError> {
    same_identity(door, session, request)?;
    Ok(connect::resolve(door, &session.resource, request).await?.0)
}

/// Opens a fresh connection for the session's resource.
async fn reopen(door: &Door, session: &Session, request: &Request) -> Result<Connection, ApiError> {
    same_identity(door, session, request)?;
    let opened = connect::open(door, &session.resource, request).await?;
    if opened.credential.readonly != session.readonly && !door.config.readonly {
        // Access changed under the session: it must be opened again.
        door.sessions.remove(&session.id);
        return Err(ApiError::SessionGone);
    }
    session.renewed(opened.credential.expires_at);
    tracing::info!(session = %session.id.short_hash(), "reconnected");
    Ok(opened.conn)
}

/// True when the connection in `slot` must be replaced before use.
async fn needs_reconnect(session: &Session, slot: &mut Option<Connection>) -> bool {
    match slot {
        None => true,
        Some(conn) => session.credential_expired() || !conn.check_alive().await,
    }
}

/// The editor connection, ready; `Busy` when a statement runs. The flag says
/// whether it was re-established for this request. The guard is owned, so a
/// streaming export can carry it into its own task.
pub async fn editor(
    door: &Door,
    session: &Session,
    request: &Request,
) -> Result<(OwnedMutexGuard<Option<Connection>>, bool), ApiError> {
    let mut guard = session.editor.clone().try_lock_owned().map_err(|_| ApiError::Busy)?;
    let reconnected = needs_reconnect(session, &mut guard).await;
    if reconnected {
        let conn = reopen(door, session, request).await?;
        session.editor_opened(&conn);
        *guard = Some(conn);
    }
    Ok((guard, reconnected))
}

/// Runs exactly one statement as SQL the person typed: on the editor
/// connection (409 when busy), under the session's read-only rule and the
/// query timeout, through the extended protocol so a second statement
/// smuggled into the text is refused by the server.
pub async fn editor_statement(
    door: &Door,
    session: &Session,
    request: &Request,
    sql: &str,
    max_rows: usize,
    kind: &'static str,
) -> Result<ResultSet, ApiError> {
    let (mut editor, _) = editor(door, session, request).await?;
    let started = Instant::now();
    let conn = editor.as_mut().expect("the editor is connected");
    let token = conn.cancel_token().clone();
    let mut out = Collector::new(door.config.binary_codec, max_rows);
    let result = {
        let run = async {
            if session.readonly {
                conn.query_read_only(sql, &mut out).await
            } else {
                conn.query(sql, &[], &mut out).await
            }
        };
        token.run_with_timeout(door.config.query_timeout, run).await
    };
    match result {
        Ok(()) => {
            let set = out.into_last();
            door.recorder().record(session, kind, sql, started.elapsed(), Ok(Some(set.rows_seen)));
            Ok(set)
        }
        Err(e) => {
            if e.is_connection_lost() {
                *editor = None;
            }
            let error = ApiError::from_query(e, true);
            door.recorder().record(session, kind, sql, started.elapsed(), Err(error.to_string()));
            Err(error)
        }
    }
}

/// Runs one of pgdoor's own catalog statements on the metadata connection
/// (opened on first use); a lost connection is reconnected and the read tried once more.
pub async fn meta_query(
    door: &Door,
    session: &Session,
    request: &Request,
    sql: &str,
    params: &[Option<&str>],
) -> Result<ResultSet, ApiError> {
    let mut guard = session.meta.lock().await;
    let mut retried = false;
    loop {
        if needs_reconnect(session, &mut guard).await {
            *guard = Some(reopen(door, session, request).await?);
        }
        let conn = guard.as_mut().expect("connected above");
        let token = conn.cancel_token().clone();
        let mut out = Collector::new(door.config.binary_codec, usize::MAX);
        let run = conn.query(sql, params, &mut out);
        let result = token.run_with_timeout(door.config.query_timeout, run).await;
        match result {
            Ok(()) => return Ok(out.into_last()),
            Err(e) if e.is_connection_lost() && !retried => {
                retried = true;
                *guard = None;
            }
            Err(e) => return Err(ApiError::from_query(e, false)),
        }
    }
}
