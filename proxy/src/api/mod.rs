//! The pgweb-compatible JSON API under `/api`. Routes are listed once in
//! [`routes::ROUTES`]; one module per area; every error goes through
//! [`error::ApiError`].

mod access;
mod catalog;
mod changes;
mod downloads;
mod dump;
mod error;
mod export;
mod info;
mod paging;
mod plan;
mod query;
mod routes;
mod rows;
mod sql;
mod structure;

/// What the fuzz targets reach inside the API.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use crate::http::Request;

    /// The rows route's SELECT for `request` on a table keyed by `id`, and
    /// whether its condition is pgweb's raw `where`; `None` when the
    /// parameters are refused.
    pub fn rows_sql(request: &Request, table: &str) -> Option<(String, bool)> {
        let page = super::rows::Page::plan(request, table, 10_000).ok()?;
        let key = if page.raw_where { Vec::new() } else { vec!["id".to_owned()] };
        page.select(&key, page.limit).ok().map(|select| (select.sql, page.raw_where))
    }

    /// The statement a download link carries.
    pub fn download_query(request: &Request, sql: String) -> String {
        super::query::download_query(request, sql)
    }
}

use std::sync::Arc;

use serde_json::json;

use crate::app::App;
use crate::http::{Request, Response};
use crate::rescue;
use crate::session::Session;
pub use error::ApiError;
use routes::{Endpoint, Miss, OnSession, Open};

/// The OpenAPI 3 document of every route pgdoor answers.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// What the access log learns of an API request.
#[derive(Default)]
pub struct Noted {
    /// The route template.
    pub route: Option<&'static str>,
    /// The session's short hash.
    pub session: Option<String>,
}

/// Answers a request under `/api/`.
pub async fn handle(app: &App, request: &Request, noted: &mut Noted) -> Response {
    if let Some(origin) = cross_site(app, request) {
        return rescue::api(&ApiError::CrossSite(origin));
    }
    let matched = match routes::find(&request.method, &request.path) {
        Ok(matched) => matched,
        Err(Miss::NotFound) => return rescue::api(&ApiError::NotFound),
        Err(Miss::MethodNotAllowed(methods)) => {
            return rescue::api(&ApiError::MethodNotAllowed(methods)).header("allow", methods.join(", "));
        }
    };
    noted.route = Some(matched.route.path);
    match matched.route.endpoint {
        Endpoint::Open(open) => answer(app, open).unwrap_or_else(|e| rescue::api(&e)),
        Endpoint::OnSession(route) => {
            let session = match access::session(app, request).await {
                Ok(session) => session,
                Err(e) => return rescue::api(&e),
            };
            noted.session = Some(session.id.short_hash());
            if !session.policy.downloads && downloads::wanted(request, route) {
                return rescue::api(&ApiError::DownloadsOff);
            }
            let download = match downloads::named(&session, request) {
                Ok(download) => download,
                Err(e) => return rescue::api(&e),
            };
            let answer = on_session(app, &session, request, route, matched.param).await;
            if let Some(download) = &download {
                downloads::settle(download, &answer);
            }
            match answer {
                Ok(response) => response,
                Err(e) => rescue::api_in(&e, Some(session.transaction())),
            }
        }
    }
}

/// The origin of a request a browser made for another site, which the API
/// refuses unless `--cors-origin` names it: `Sec-Fetch-Site: cross-site`, or,
/// unless it says `same-origin`, an `Origin` that is neither pgdoor's host
/// nor the allowed origin.
fn cross_site(app: &App, request: &Request) -> Option<String> {
    let origin = request.header("origin");
    if origin.is_some() && origin == app.config.cors_origin.as_deref() {
        return None;
    }
    let shown = || origin.unwrap_or("another site").to_owned();
    match request.header("sec-fetch-site") {
        Some(site) if site.eq_ignore_ascii_case("cross-site") => return Some(shown()),
        // The browser's own word, which no page can set; its `Origin` may
        // then be `null` (a form under `Referrer-Policy: no-referrer`).
        Some(site) if site.eq_ignore_ascii_case("same-origin") => return None,
        _ => {}
    }
    let origin = origin?;
    let authority = url::Url::parse(origin).ok().filter(|u| u.has_host()).map(|u| {
        let host = u.host_str().unwrap_or_default().to_owned();
        u.port().map_or(host.clone(), |port| format!("{host}:{port}"))
    });
    let hosts = [request.header("host"), request.forwarded_header("x-forwarded-host")];
    let same = authority.is_some_and(|a| hosts.iter().flatten().any(|h| h.eq_ignore_ascii_case(&a)));
    (!same).then(shown)
}

/// Routes that need no session.
fn answer(app: &App, route: Open) -> Result<Response, ApiError> {
    match route {
        Open::Info => Ok(Response::json(200, &info::info(app))),
        Open::Sessions => Ok(Response::json(200, &json!({"sessions": app.sessions.len()}))),
        Open::Bookmarks | Open::LocalQueries => Ok(Response::json(200, &json!([]))),
        Open::LocalQuery => Err(ApiError::NotFound),
        Open::Document => Ok(Response::new(200, "application/json; charset=utf-8", OPENAPI)),
        Open::Locked(route) => Err(ApiError::Locked(route)),
    }
}

/// Routes on the request's session.
async fn on_session(
    app: &App,
    session: &Arc<Session>,
    request: &Request,
    route: OnSession,
    param: &str,
) -> Result<Response, ApiError> {
    match route {
        OnSession::Query => query::run(app, session, request).await,
        OnSession::Explain => plan::explain(app, session, request, false).await,
        OnSession::Analyze => plan::explain(app, session, request, true).await,
        OnSession::Cancel => Ok(Response::json(200, &json!({"success": session.cancel().await}))),
        OnSession::Disconnect => Ok(info::disconnect(app, session).await),
        OnSession::Leave => Ok(info::leave(app, session)),
        OnSession::NewDownload => Ok(downloads::mint(session)),
        OnSession::Download => downloads::status(session, param),
        OnSession::Connection => info::connection(app, session, request).await,
        OnSession::History => Ok(Response::json(200, &session.history())),
        OnSession::Schemas => catalog::schemas(app, session, request).await,
        OnSession::Objects => catalog::objects(app, session, request).await,
        OnSession::Activity => catalog::activity(app, session, request).await,
        OnSession::ServerSettings => catalog::server_settings(app, session, request).await,
        OnSession::TablesStats => catalog::tables_stats(app, session, request).await,
        OnSession::Export => dump::export(app, session, request).await,
        OnSession::Function => catalog::function(app, session, request, param).await,
        OnSession::Columns if request.param("type").as_deref() == Some("function") => {
            catalog::function(app, session, request, param).await
        }
        OnSession::Columns => catalog::columns(app, session, request, param).await,
        OnSession::Rows => rows::rows(app, session, request, param).await,
        OnSession::TableInfo => catalog::info(app, session, request, param).await,
        OnSession::Indexes => catalog::indexes(app, session, request, param).await,
        OnSession::Constraints => catalog::constraints(app, session, request, param).await,
        OnSession::Structure => structure::structure(app, session, request, param).await,
        OnSession::Editing => changes::editing(app, session, request, param).await,
        OnSession::Changes => changes::apply(app, session, request, param).await,
    }
}
