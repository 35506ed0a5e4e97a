//! Routes about the server and the session: info, connection, disconnect.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::access;
use super::error::ApiError;
use crate::app::App;
use crate::http::{Request, Response};
use crate::session::Session;

/// `GET /api/info`: pgweb's shape, plus pgdoor's own section.
pub fn info(app: &App) -> Value {
    let timeout = app.config.query_timeout.map_or(0, |d| d.as_secs());
    json!({
        "app": {
            "version": env!("CARGO_PKG_VERSION"),
            "git_sha": "",
            "build_time": "",
            "build_arch": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            "go_version": "",
        },
        "features": {
            "session_lock": true,
            "query_timeout": timeout,
            "local_queries": false,
            "bookmarks_only": false,
        },
        "pgdoor": {
            "readonly": app.config.readonly,
            "max_rows": app.config.max_rows,
            "max_result_bytes": app.config.max_result_bytes,
            "single_database": app.config.single_database,
        },
    })
}

/// `GET /api/connection`: who and where, never a password; the server's
/// address only with `--show-server-address`.
pub async fn connection(app: &App, session: &Session, request: &Request) -> Result<Response, ApiError> {
    let mut sql = String::from(
        "SELECT current_database() AS current_database, current_schemas(false)::text AS current_schemas, \
         current_user AS current_user, session_user AS session_user, version() AS version",
    );
    if app.config.show_server_address {
        sql.push_str(", host(inet_server_addr()) AS inet_server_addr, inet_server_port() AS inet_server_port");
    }
    let result = access::catalog(app, session, request, &sql, &[]).await?;
    let mut info: Map<String, Value> =
        result.columns.iter().map(|c| c.name.clone()).zip(result.rows.into_iter().next().unwrap_or_default()).collect();
    info.insert("session_lock".into(), Value::Bool(true));
    info.insert("readonly".into(), Value::Bool(session.readonly));
    info.insert("transaction".into(), serde_json::to_value(session.transaction()).unwrap_or(Value::Null));
    info.insert("label".into(), session.label.clone().map_or(Value::Null, Value::String));
    // The limits and switches the UI shows (row cap, downloads, banner).
    info.insert("policy".into(), session.policy.report());
    // The activity view offers cancel on this session's own statement only.
    info.insert("editor_pid".into(), session.editor_pid().map_or(Value::Null, Value::from));
    // The UI re-opens /connect/<resource> when the session is gone.
    info.insert("resource".into(), Value::String(session.resource.clone()));
    Ok(Response::json(200, &info))
}

/// How long a tab that sent its leave beacon has to come back (a reload, or
/// a page restored from the back-forward cache) before its session ends.
pub const LEAVE_GRACE: Duration = Duration::from_secs(3);

/// `POST /api/leave`: the tab's beacon on `pagehide`. The session ends
/// (what runs is cancelled, Terminate sent) unless another request of it
/// arrives within [`LEAVE_GRACE`].
pub fn leave(app: &App, session: &Arc<Session>) -> Response {
    let mark = session.mark_leaving();
    let (sessions, session) = (app.sessions.clone(), session.clone());
    tokio::spawn(async move {
        tokio::time::sleep(LEAVE_GRACE).await;
        if session.still_leaving(mark) && sessions.remove(&session.id).is_some() {
            tracing::info!(session = %session.id.short_hash(), "the tab left: session closed");
            session.close().await;
        }
    });
    Response::json(202, &json!({"leaving": true, "ends_in_seconds": LEAVE_GRACE.as_secs()}))
}

/// `POST /api/disconnect`: ends the session and closes its connections.
pub async fn disconnect(app: &App, session: &Session) -> Response {
    let removed = app.sessions.remove(&session.id);
    // A tab closed inside a transaction leaves nothing open: the task rolls back as it closes.
    if let Some(session) = &removed {
        session.close().await;
    }
    Response::json(200, &json!({"success": removed.is_some()}))
}
