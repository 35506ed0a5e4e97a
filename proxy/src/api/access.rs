//! Finding a request's session, and what every call on it needs: the
//! browser's binding, the identity that opened it, and a renewed credential
//! when the old one expired (re-resolved with this request's headers).

use std::sync::Arc;
use std::time::Instant;

use super::error::ApiError;
use crate::app::App;
use crate::binding;
use crate::http::Request;
use crate::pg::ResultSet;
use crate::session::{ConnectError, Grant, Mode, Output, Ran, Session, SessionId, Statement};

/// The request's session: by `X-Session-ID` (or `_session_id`), bound to
/// this browser, and opened by this identity. Any such request tells the
/// session its tab is still there (see [`Session::present`]).
pub async fn session(app: &App, request: &Request) -> Result<Arc<Session>, ApiError> {
    let in_url = || {
        if is_leave_beacon(request) || is_download(request) == Some(http::Method::POST) {
            // A beacon or a form cannot set headers: the id comes in the form body.
            return request.param("_session_id").map(Ok);
        }
        let id = request.query_param("_session_id")?;
        Some(if is_download(request).is_some() { Ok(id) } else { Err(ApiError::SessionIdInUrl) })
    };
    let raw = match request.header("x-session-id") {
        Some(id) => id.to_owned(),
        None => in_url().transpose()?.unwrap_or_default(),
    };
    if raw.is_empty() {
        return Err(ApiError::SessionRequired);
    }
    let id = SessionId::parse(raw.trim()).ok_or(ApiError::SessionGone)?;
    let session = app.sessions.get(&id).ok_or(ApiError::SessionGone)?;
    if !session.accepts(&binding::keys(request)) {
        return Err(ApiError::NotYourSession);
    }
    if let Some(owner) = &session.identity {
        // A verified token must still verify, and name the same person.
        let now = app.identity(request).await.map_err(ConnectError::Identity)?;
        if now.map(|who| who.name).as_ref() != Some(owner) {
            return Err(ConnectError::OtherIdentity.into());
        }
    }
    session.present();
    Ok(session)
}

/// `POST /api/leave` from `navigator.sendBeacon`.
fn is_leave_beacon(request: &Request) -> bool {
    request.method == http::Method::POST && request.path == "/api/leave"
}

/// The method of a request that answers with a file: a GET (pgweb's UI
/// links these with `_session_id`) or a form POST (pgdoor's UI submits
/// these into a hidden frame, so the browser streams the file to disk).
fn is_download(request: &Request) -> Option<http::Method> {
    let file = |param: &dyn Fn(&str) -> Option<String>| {
        param("format").is_some_and(|f| !f.is_empty())
            || request.path.ends_with("/api/export")
            || param("export").as_deref() == Some("true")
    };
    match request.method {
        http::Method::GET if file(&|name| request.query_param(name)) => Some(http::Method::GET),
        http::Method::POST if request.is_form() && file(&|name| request.param(name)) => Some(http::Method::POST),
        _ => None,
    }
}

/// A fresh grant when the session's credential has expired, else `None`.
/// Access that changed under the session (read-only now, or no longer) ends it.
pub async fn renewal(app: &App, session: &Session, request: &Request) -> Result<Option<Grant>, ApiError> {
    if !session.credential_expired() {
        return Ok(None);
    }
    Ok(Some(resolve(app, session, request).await?))
}

/// Resolves the session's resource again with this request's headers.
pub async fn resolve(app: &App, session: &Session, request: &Request) -> Result<Grant, ApiError> {
    let who = app.identity(request).await.map_err(ConnectError::Identity)?;
    let ask = app.resolve_request(&session.resource, request, who.as_ref());
    let (grant, took) = app.connector.resolve(&ask).await;
    app.metrics.resolved(took);
    let grant = grant?;
    if grant.readonly != session.readonly || grant.policy != session.policy {
        app.sessions.remove(&session.id);
        session.close().await;
        return Err(ConnectError::AccessChanged.into());
    }
    Ok(grant)
}

/// Runs one of pgdoor's own reads on the session's catalog connection.
pub async fn catalog(
    app: &App,
    session: &Session,
    request: &Request,
    sql: &str,
    params: &[Option<&str>],
) -> Result<ResultSet, ApiError> {
    let renewal = renewal(app, session, request).await?;
    Ok(session.catalog(sql, params, renewal).await?)
}

/// Runs exactly one statement as SQL the person typed, on the editor
/// connection (409 when busy), under the read-only rule and the query
/// timeout; a second statement smuggled into the text is refused by the server.
pub async fn statement(
    app: &App,
    session: &Session,
    request: &Request,
    sql: &str,
    max_rows: usize,
    kind: &'static str,
) -> Result<Ran, ApiError> {
    let renewal = renewal(app, session, request).await?;
    let started = Instant::now();
    let statement = Statement {
        sql: sql.to_owned(),
        params: Vec::new(),
        mode: Mode::Single,
        // A GET can be a link on another page: it never writes.
        read_only: request.method == http::Method::GET,
        output: Output::Collect { max_rows, max_bytes: session.policy.max_result_bytes },
        history: kind != "rows",
    };
    match session.run(statement, renewal).await {
        Ok(ran) => {
            let rows = ran.results.last().map(|r| r.rows_seen);
            app.recorder().record(&session.subject(), kind, sql, ran.elapsed, Ok(rows));
            Ok(ran)
        }
        Err(e) => {
            let error = ApiError::from_session(e, true);
            app.recorder().record(&session.subject(), kind, sql, started.elapsed(), Err(error.to_string()));
            Err(error)
        }
    }
}
