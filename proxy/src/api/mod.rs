//! The pgweb-compatible JSON API under `/api`. One module per area; every
//! error goes through [`error::ApiError`].

mod access;
mod catalog;
mod error;
mod export;
mod info;
mod query;
mod rows;
mod sql;

use http::Method;
use serde_json::json;

use crate::door::{Ctx, Door};
use crate::http::{Request, Response};
use crate::session::Session;
pub use error::ApiError;

/// Answers `/api/<rest>`.
pub async fn handle(door: &Door, request: &Request, rest: &str, ctx: &mut Ctx) -> Response {
    match dispatch(door, request, rest, ctx).await {
        Ok(response) => response,
        Err(e) => e.response(),
    }
}

/// The 404 answer for unknown API routes.
pub fn not_found() -> Response {
    ApiError::NotFound.response()
}

async fn dispatch(door: &Door, request: &Request, rest: &str, ctx: &mut Ctx) -> Result<Response, ApiError> {
    let get = request.method == Method::GET || request.method == Method::HEAD;
    let post = request.method == Method::POST;
    // Routes that need no session.
    match rest {
        "info" if get => return Ok(Response::json(200, &info::info(door))),
        "sessions" if get => return Ok(Response::json(200, &json!({"sessions": door.sessions.len()}))),
        "bookmarks" if get => return Ok(Response::json(200, &json!([]))),
        "connect" => return Err(ApiError::Locked("/api/connect")),
        "switchdb" => return Err(ApiError::Locked("/api/switchdb")),
        "databases" => return Err(ApiError::Locked("/api/databases")),
        _ => {}
    }
    let session = access::session(door, request, ctx)?;
    match rest {
        "query" if get || post => query::run(door, &session, request).await,
        "connection" if get => info::connection(door, &session, request).await,
        "history" if get => Ok(Response::json(200, &session.history())),
        "cancel" if post => Ok(Response::json(200, &json!({"success": session.cancel().await}))),
        "disconnect" if post => Ok(info::disconnect(door, &session).await),
        "explain" if get || post => rows::explain(door, &session, request, false).await,
        "analyze" if get || post => rows::explain(door, &session, request, true).await,
        "schemas" if get => catalog::schemas(door, &session, request).await,
        "objects" if get => catalog::objects(door, &session, request).await,
        "activity" if get => catalog::activity(door, &session, request).await,
        "server_settings" if get => catalog::server_settings(door, &session, request).await,
        _ if get => table_route(door, &session, request, rest).await,
        _ => Err(ApiError::NotFound),
    }
}

/// `tables/:table[/rows|/info|/indexes|/constraints]` and `functions/:id`.
async fn table_route(door: &Door, session: &Session, request: &Request, rest: &str) -> Result<Response, ApiError> {
    if let Some(id) = rest.strip_prefix("functions/") {
        return catalog::function(door, session, request, id).await;
    }
    let Some(path) = rest.strip_prefix("tables/") else { return Err(ApiError::NotFound) };
    let (table, part) = match path.rsplit_once('/') {
        Some((table, part @ ("rows" | "info" | "indexes" | "constraints"))) => (table, part),
        _ => (path, ""),
    };
    match part {
        "rows" => rows::rows(door, session, request, table).await,
        "info" => catalog::info(door, session, request, table).await,
        "indexes" => catalog::indexes(door, session, request, table).await,
        "constraints" => catalog::constraints(door, session, request, table).await,
        _ => catalog::columns(door, session, request, table).await,
    }
}
