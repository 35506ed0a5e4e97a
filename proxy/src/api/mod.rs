//! The pgweb-compatible JSON API under `/api`. One module per area; every
//! error goes through [`error::ApiError`].

mod access;
mod error;
mod query;
mod session;

use http::Method;
use serde_json::json;

use crate::door::{Ctx, Door};
use crate::http::{Request, Response};
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
        "info" if get => return Ok(Response::json(200, &session::info(door))),
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
        "connection" if get => session::connection(door, &session, request).await,
        "history" if get => Ok(Response::json(200, &session.history())),
        "cancel" if post => Ok(Response::json(200, &json!({"success": session.cancel().await}))),
        "disconnect" if post => Ok(session::disconnect(door, &session).await),
        _ => Err(ApiError::NotFound),
    }
}
