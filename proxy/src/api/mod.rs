//! The pgweb-compatible JSON API under `/api`. Routes are listed once in
//! [`routes::ROUTES`]; one module per area; every error goes through
//! [`error::ApiError`].

mod access;
mod catalog;
mod dump;
mod error;
mod export;
mod info;
mod query;
mod routes;
mod rows;
mod sql;

use std::sync::Arc;

use serde_json::json;

use crate::door::{Ctx, Door};
use crate::http::{Request, Response};
use crate::session::Session;
pub use error::ApiError;
use routes::{Endpoint, Miss, OnSession, Open};

/// The OpenAPI 3 document of every route pgdoor answers.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Answers a request under `/api/`.
pub async fn handle(door: &Door, request: &Request, ctx: &mut Ctx) -> Response {
    let matched = match routes::find(&request.method, &request.path) {
        Ok(matched) => matched,
        Err(Miss::NotFound) => return ApiError::NotFound.response(),
        Err(Miss::MethodNotAllowed(methods)) => {
            return ApiError::MethodNotAllowed(methods).response().header("allow", methods.join(", "));
        }
    };
    ctx.route = matched.route.path;
    match dispatch(door, request, matched.route.endpoint, matched.param, ctx).await {
        Ok(response) => response,
        Err(e) => e.response(),
    }
}

/// The 404 answer for unknown API routes.
pub fn not_found() -> Response {
    ApiError::NotFound.response()
}

async fn dispatch(
    door: &Door,
    request: &Request,
    endpoint: Endpoint,
    param: &str,
    ctx: &mut Ctx,
) -> Result<Response, ApiError> {
    match endpoint {
        Endpoint::Open(open) => answer(door, open),
        Endpoint::OnSession(route) => {
            let session = access::session(door, request, ctx)?;
            on_session(door, &session, request, route, param).await
        }
    }
}

/// Routes that need no session.
fn answer(door: &Door, route: Open) -> Result<Response, ApiError> {
    match route {
        Open::Info => Ok(Response::json(200, &info::info(door))),
        Open::Sessions => Ok(Response::json(200, &json!({"sessions": door.sessions.len()}))),
        Open::Bookmarks | Open::LocalQueries => Ok(Response::json(200, &json!([]))),
        Open::LocalQuery => Err(ApiError::NotFound),
        Open::Document => Ok(Response::new(200, "application/json; charset=utf-8", OPENAPI)),
        Open::Locked(route) => Err(ApiError::Locked(route)),
    }
}

/// Routes on the request's session.
async fn on_session(
    door: &Door,
    session: &Arc<Session>,
    request: &Request,
    route: OnSession,
    param: &str,
) -> Result<Response, ApiError> {
    match route {
        OnSession::Query => query::run(door, session, request).await,
        OnSession::Explain => rows::explain(door, session, request, false).await,
        OnSession::Analyze => rows::explain(door, session, request, true).await,
        OnSession::Cancel => Ok(Response::json(200, &json!({"success": session.cancel().await}))),
        OnSession::Disconnect => Ok(info::disconnect(door, session).await),
        OnSession::Connection => info::connection(door, session, request).await,
        OnSession::History => Ok(Response::json(200, &session.history())),
        OnSession::Schemas => catalog::schemas(door, session, request).await,
        OnSession::Objects => catalog::objects(door, session, request).await,
        OnSession::Activity => catalog::activity(door, session, request).await,
        OnSession::ServerSettings => catalog::server_settings(door, session, request).await,
        OnSession::TablesStats => catalog::tables_stats(door, session, request).await,
        OnSession::Export => dump::export(door, session, request).await,
        OnSession::Function => catalog::function(door, session, request, param).await,
        OnSession::Columns if request.param("type").as_deref() == Some("function") => {
            catalog::function(door, session, request, param).await
        }
        OnSession::Columns => catalog::columns(door, session, request, param).await,
        OnSession::Rows => rows::rows(door, session, request, param).await,
        OnSession::TableInfo => catalog::info(door, session, request, param).await,
        OnSession::Indexes => catalog::indexes(door, session, request, param).await,
        OnSession::Constraints => catalog::constraints(door, session, request, param).await,
    }
}
