//! The API's route table: every route pgdoor answers under `/api`, with its
//! methods and path template. Dispatch matches requests against it, the
//! access log and metrics name routes by it, and a test holds it equal to
//! the OpenAPI document (`proxy/openapi.json`).

use http::Method;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Answered without a session.
    Open(Open),
    /// Works on the request's session.
    OnSession(OnSession),
}

/// Routes answered without a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Server and feature info.
    Info,
    /// The number of live sessions.
    Sessions,
    /// Saved bookmarks (always none).
    Bookmarks,
    /// Saved local queries (always none).
    LocalQueries,
    /// One saved local query (never found).
    LocalQuery,
    /// The OpenAPI document.
    Document,
    /// pgweb routes that would open or switch databases: refused.
    Locked(&'static str),
}

/// Routes that work on a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSession {
    /// Run SQL.
    Query,
    /// Explain SQL.
    Explain,
    /// Explain analyze SQL.
    Analyze,
    /// Cancel the running statement.
    Cancel,
    /// Close the session.
    Disconnect,
    /// The tab is leaving: close the session unless it comes back at once.
    Leave,
    /// A new download id.
    NewDownload,
    /// How a download went.
    Download,
    /// Who and where.
    Connection,
    /// The session's statements.
    History,
    /// Schema names.
    Schemas,
    /// Objects by schema and kind.
    Objects,
    /// The database's backends.
    Activity,
    /// `pg_settings`.
    ServerSettings,
    /// Size and row statistics of every table.
    TablesStats,
    /// An SQL dump.
    Export,
    /// A function's definition.
    Function,
    /// A table's columns.
    Columns,
    /// A table's rows.
    Rows,
    /// A table's sizes and row estimate.
    TableInfo,
    /// A table's indexes.
    Indexes,
    /// A table's constraints.
    Constraints,
    /// A relation's columns, keys, references, definition or sequence settings.
    Structure,
    /// Whether and how a table's rows can be edited.
    Editing,
    /// Apply row changes.
    Changes,
}

/// One route: the methods it answers (HEAD goes with GET) and its path, with
/// `{name}` for a path segment.
#[derive(Debug)]
pub struct Route {
    /// Accepted methods.
    pub methods: &'static [&'static str],
    /// The path template, such as `/api/tables/{table}/rows`.
    pub path: &'static str,
    /// What it does.
    pub endpoint: Endpoint,
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const GET_POST: &[&str] = &["GET", "POST"];

macro_rules! route {
    ($methods:expr, $path:literal, $endpoint:expr) => {
        Route { methods: $methods, path: $path, endpoint: $endpoint }
    };
}

/// Every API route.
pub const ROUTES: &[Route] = &[
    route!(GET, "/api/info", Endpoint::Open(Open::Info)),
    route!(GET, "/api/sessions", Endpoint::Open(Open::Sessions)),
    route!(GET, "/api/bookmarks", Endpoint::Open(Open::Bookmarks)),
    route!(GET, "/api/local_queries", Endpoint::Open(Open::LocalQueries)),
    route!(GET_POST, "/api/local_queries/{id}", Endpoint::Open(Open::LocalQuery)),
    route!(GET, "/api/openapi.json", Endpoint::Open(Open::Document)),
    route!(GET_POST, "/api/connect", Endpoint::Open(Open::Locked("/api/connect"))),
    route!(GET_POST, "/api/switchdb", Endpoint::Open(Open::Locked("/api/switchdb"))),
    route!(GET_POST, "/api/databases", Endpoint::Open(Open::Locked("/api/databases"))),
    route!(GET_POST, "/api/query", Endpoint::OnSession(OnSession::Query)),
    route!(GET_POST, "/api/explain", Endpoint::OnSession(OnSession::Explain)),
    route!(GET_POST, "/api/analyze", Endpoint::OnSession(OnSession::Analyze)),
    route!(POST, "/api/cancel", Endpoint::OnSession(OnSession::Cancel)),
    route!(POST, "/api/disconnect", Endpoint::OnSession(OnSession::Disconnect)),
    route!(POST, "/api/leave", Endpoint::OnSession(OnSession::Leave)),
    route!(POST, "/api/downloads", Endpoint::OnSession(OnSession::NewDownload)),
    route!(GET, "/api/downloads/{id}", Endpoint::OnSession(OnSession::Download)),
    route!(GET, "/api/connection", Endpoint::OnSession(OnSession::Connection)),
    route!(GET, "/api/history", Endpoint::OnSession(OnSession::History)),
    route!(GET, "/api/schemas", Endpoint::OnSession(OnSession::Schemas)),
    route!(GET, "/api/objects", Endpoint::OnSession(OnSession::Objects)),
    route!(GET, "/api/activity", Endpoint::OnSession(OnSession::Activity)),
    route!(GET, "/api/server_settings", Endpoint::OnSession(OnSession::ServerSettings)),
    route!(GET, "/api/tables_stats", Endpoint::OnSession(OnSession::TablesStats)),
    route!(GET_POST, "/api/export", Endpoint::OnSession(OnSession::Export)),
    route!(GET, "/api/functions/{id}", Endpoint::OnSession(OnSession::Function)),
    route!(GET, "/api/tables/{table}", Endpoint::OnSession(OnSession::Columns)),
    route!(GET_POST, "/api/tables/{table}/rows", Endpoint::OnSession(OnSession::Rows)),
    route!(GET, "/api/tables/{table}/info", Endpoint::OnSession(OnSession::TableInfo)),
    route!(GET, "/api/tables/{table}/indexes", Endpoint::OnSession(OnSession::Indexes)),
    route!(GET, "/api/tables/{table}/constraints", Endpoint::OnSession(OnSession::Constraints)),
    route!(GET, "/api/tables/{table}/structure", Endpoint::OnSession(OnSession::Structure)),
    route!(GET, "/api/tables/{table}/editing", Endpoint::OnSession(OnSession::Editing)),
    route!(POST, "/api/tables/{table}/changes", Endpoint::OnSession(OnSession::Changes)),
];

/// Why no route answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// The path exists with other methods.
    MethodNotAllowed(&'static [&'static str]),
}

/// A matched route and its path parameter (still percent-encoded), if any.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'static Route,
    /// The `{...}` segment's raw text; empty when the template has none.
    pub param: &'a str,
}

/// Finds the route for `method` and `path` (without `--prefix`).
pub fn find<'a>(method: &Method, path: &'a str) -> Result<Matched<'a>, Miss> {
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    let mut allowed = None;
    for route in ROUTES {
        let Some(param) = matches(route.path, path) else { continue };
        if route.methods.contains(&method) {
            return Ok(Matched { route, param });
        }
        allowed = Some(route.methods);
    }
    Err(allowed.map_or(Miss::NotFound, Miss::MethodNotAllowed))
}

/// The `{...}` segment of `path` when it fits `template`.
fn matches<'a>(template: &str, path: &'a str) -> Option<&'a str> {
    let mut param = "";
    let mut parts = path.split('/');
    for expected in template.split('/') {
        let part = parts.next()?;
        if expected.starts_with('{') {
            if part.is_empty() {
                return None;
            }
            param = part;
        } else if expected != part {
            return None;
        }
    }
    parts.next().is_none().then_some(param)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        let rows = find(&Method::GET, "/api/tables/shop.orders/rows").unwrap();
        assert_eq!((rows.route.endpoint, rows.param), (Endpoint::OnSession(OnSession::Rows), "shop.orders"));
        let columns = find(&Method::HEAD, "/api/tables/a%2Fb").unwrap();
        assert_eq!((columns.route.endpoint, columns.param), (Endpoint::OnSession(OnSession::Columns), "a%2Fb"));
        assert_eq!(find(&Method::GET, "/api/tables/").unwrap_err(), Miss::NotFound);
        assert_eq!(find(&Method::GET, "/api/tables/a/b/rows").unwrap_err(), Miss::NotFound);
        assert_eq!(find(&Method::GET, "/api/query/extra").unwrap_err(), Miss::NotFound);
        assert_eq!(find(&Method::DELETE, "/api/query").unwrap_err(), Miss::MethodNotAllowed(GET_POST));
        assert_eq!(find(&Method::GET, "/api/cancel").unwrap_err(), Miss::MethodNotAllowed(POST));
    }

    /// Every route is in the OpenAPI document with its methods, and the
    /// document has nothing pgdoor does not serve.
    #[test]
    fn the_openapi_document_lists_exactly_these_routes() {
        let document: serde_json::Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.starts_with("/api/"))
            .flat_map(|(path, item)| {
                item.as_object().unwrap().keys().filter(|k| *k != "parameters").map(move |method| {
                    assert!(
                        matches!(method.as_str(), "get" | "post"),
                        "{path}: pgdoor's API answers GET and POST only, not {method}"
                    );
                    (method.to_uppercase(), path.clone())
                })
            })
            .collect();
        let served: BTreeSet<(String, String)> =
            ROUTES.iter().flat_map(|r| r.methods.iter().map(|m| ((*m).to_owned(), r.path.to_owned()))).collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(missing.is_empty(), "served but not in openapi.json: {missing:?}");
        assert!(extra.is_empty(), "in openapi.json but not served: {extra:?}");
        let others: BTreeSet<&str> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|p| !p.starts_with("/api"))
            .collect();
        assert_eq!(others, BTreeSet::from(["/connect/{resource}", "/healthz", "/metrics", "/readyz"]));
    }
}
