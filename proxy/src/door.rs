//! The pingora service: every request comes through [`Door`], which reads it
//! (with a body cap), routes it, answers it locally with the security headers,
//! and writes one access-log line.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use base64::Engine;
use bytes::BytesMut;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::config::DoorConfig;
use crate::http::{Body, Chunk, Request, Response};
use crate::observe::AuditLog;
use crate::session::Registry;
use crate::shutdown::{InFlight, Lifecycle};
use crate::{api, binding, connect, page, peer, rescue, ui};

/// The front door: the pingora service around the [`App`].
pub struct Door {
    app: App,
    fixed: FixedHeaders,
}

/// The security headers every local answer carries, built once: they depend
/// on the settings only.
struct FixedHeaders {
    /// The CSP of pgdoor's own error pages.
    page_csp: HeaderValue,
    /// The CSP of everything else that names no policy of its own.
    other_csp: HeaderValue,
    /// On every answer: nosniff, no referrer, and HSTS when pgdoor serves TLS.
    always: Vec<(HeaderName, HeaderValue)>,
    /// On API answers: the CORS headers, when `--cors-origin` is set.
    cors: Vec<(HeaderName, HeaderValue)>,
}

impl FixedHeaders {
    fn new(config: &DoorConfig) -> Self {
        let fixed =
            |name: &'static str, value: &'static str| (HeaderName::from_static(name), HeaderValue::from_static(value));
        let csp =
            |v: String| HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
        let mut always = vec![fixed("x-content-type-options", "nosniff"), fixed("referrer-policy", "no-referrer")];
        if config.tls.is_some() {
            always.push(fixed("strict-transport-security", "max-age=63072000"));
        }
        let cors = match config.cors_origin.as_deref().map(HeaderValue::from_str) {
            Some(Ok(origin)) => vec![
                (HeaderName::from_static("access-control-allow-origin"), origin),
                fixed("access-control-allow-methods", "GET, POST, OPTIONS"),
                fixed("access-control-allow-headers", "X-Session-ID, Content-Type"),
                fixed("access-control-expose-headers", "*"),
                fixed("vary", "Origin"),
            ],
            _ => Vec::new(),
        };
        FixedHeaders {
            page_csp: csp(page::content_security_policy(&config.frame_ancestors)),
            other_csp: csp(format!("default-src 'self'; frame-ancestors {}", config.frame_ancestors)),
            always,
            cors,
        }
    }
}

/// Per-request state for the access log; it counts the request as in flight.
pub struct Ctx {
    started: Instant,
    route: &'static str,
    session: Option<String>,
    user: Option<String>,
    _in_flight: InFlight,
}

impl Door {
    /// A door with an empty session registry.
    pub fn new(config: Arc<DoorConfig>, audit: Option<AuditLog>) -> Self {
        Door { fixed: FixedHeaders::new(&config), app: App::new(config, audit) }
    }

    /// The live sessions (for the reaper and shutdown).
    pub fn sessions(&self) -> Arc<Registry> {
        self.app.sessions.clone()
    }

    /// Where the process is in its life (for shutdown).
    pub fn lifecycle(&self) -> Arc<Lifecycle> {
        self.app.lifecycle.clone()
    }

    /// True for requests pgdoor does not answer itself, when an upstream is set:
    /// anything but /connect, /api, the health checks, and `/` in --url mode.
    fn goes_upstream(&self, session: &Session) -> bool {
        if self.app.config.upstream.is_none() {
            return false;
        }
        let header = session.req_header();
        if !self.authorized(header.headers.get("authorization").and_then(|v| v.to_str().ok())) {
            return false;
        }
        let full = header.uri.path();
        let path = full.strip_prefix(self.app.config.prefix.as_str()).filter(|p| p.starts_with('/')).unwrap_or(full);
        let local = full == "/healthz"
            || full == "/readyz"
            || (full == "/metrics" && self.app.config.metrics)
            || path.starts_with("/connect/")
            || path.starts_with("/api/")
            || (path == "/"
                && self.app.config.single_database
                && !header.uri.query().unwrap_or_default().contains("session="));
        !local
    }

    /// Routes one request; returns the route's name for the log, and the answer.
    async fn route(&self, request: &Request, ctx: &mut Ctx) -> Response {
        let path = request.path.as_str();
        if let Some(refused) = method_refused(request) {
            ctx.route = "method-not-allowed";
            return refused;
        }
        if path == "/healthz" {
            ctx.route = "/healthz";
            return Response::text(200, "ok\n");
        }
        if let Some(refused) = self.check_basic_auth(request) {
            ctx.route = "basic-auth";
            return refused;
        }
        if request.method == http::Method::OPTIONS && self.app.config.cors_origin.is_some() {
            ctx.route = "preflight";
            return Response::text(204, "");
        }
        if request.path == "/metrics" && self.app.config.metrics && self.app.config.metrics_addr.is_none() {
            ctx.route = "/metrics";
            return self.metrics_page();
        }
        if let Some(resource) = path.strip_prefix("/connect/") {
            ctx.route = "/connect/:resource";
            return connect::handle(&self.app, request, resource).await;
        }
        if path.starts_with("/api/") {
            let mut noted = api::Noted::default();
            let response = api::handle(&self.app, request, &mut noted).await;
            ctx.route = noted.route.unwrap_or("/api");
            ctx.session = noted.session;
            return response;
        }
        if path == "/" && self.app.config.single_database && request.query_param("session").is_none() {
            ctx.route = "/";
            return Response::redirect(&format!("{}/connect/default", self.app.config.prefix));
        }
        if let Some(answer) = ui::handle(request, &self.app.config.frame_ancestors) {
            ctx.route = "ui";
            return answer;
        }
        ctx.route = "not-found";
        if request.wants_json() {
            return rescue::api(&api::ApiError::NotFound);
        }
        page::error(404, "Not found", "There is nothing at this address.", "Open the link you were given again.")
    }

    /// True when the request came in on `--metrics-addr`.
    fn on_metrics_listener(&self, session: &Session) -> bool {
        let Some(metrics) = self.app.config.metrics_addr else { return false };
        session.server_addr().and_then(|a| a.as_inet()).is_some_and(|a| a.port() == metrics.port())
    }

    fn metrics_page(&self) -> Response {
        Response::new(200, "text/plain; version=0.0.4; charset=utf-8", self.app.metrics.render(self.app.sessions.len()))
            .header("cache-control", "no-store")
    }

    fn check_basic_auth(&self, request: &Request) -> Option<Response> {
        if self.authorized(request.header("authorization")) {
            return None;
        }
        Some(Response::text(401, "authentication required\n").header("www-authenticate", "Basic realm=\"pgdoor\""))
    }

    /// True when basic auth is off, or the Authorization header matches (in constant time).
    fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some((user, pass)) = &self.app.config.basic_auth else { return true };
        let expected = format!("{user}:{}", pass.expose_secret());
        let given = authorization
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
            .unwrap_or_default();
        given.ct_eq(expected.as_bytes()).into()
    }

    /// Security headers on every local answer; CORS on the API when enabled.
    fn finish(&self, mut response: Response, api: bool) -> Response {
        if !response.headers.iter().any(|(n, _)| n == "content-security-policy") {
            let csp = if response_is_html(&response) { &self.fixed.page_csp } else { &self.fixed.other_csp };
            response.headers.push((HeaderName::from_static("content-security-policy"), csp.clone()));
        }
        response.headers.extend(self.fixed.always.iter().cloned());
        if api {
            response.headers.extend(self.fixed.cors.iter().cloned());
        }
        response
    }

    /// Reads the request off the session. `Err(response)` when it must be refused as is.
    async fn read_request(&self, session: &mut Session) -> pingora::Result<Result<Request, Response>> {
        let header = session.req_header();
        let method = header.method.clone();
        let full_path = header.uri.path().to_owned();
        let query = header.uri.query().unwrap_or_default().to_owned();
        let headers = header.headers.clone();
        let prefix = &self.app.config.prefix;
        let path = if prefix.is_empty() {
            full_path
        } else if full_path == *prefix {
            return Ok(Err(Response::redirect(&format!("{prefix}/"))));
        } else {
            match full_path.strip_prefix(prefix.as_str()) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ if full_path == "/healthz" || full_path == "/readyz" || full_path == "/metrics" => full_path,
                _ => {
                    return Ok(Err(page::error(
                        404,
                        "Not found",
                        "There is nothing at this address.",
                        "Open the link you were given again.",
                    )));
                }
            }
        };
        let declared =
            headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > self.app.config.max_body) {
            return Ok(Err(self.too_large()));
        }
        if headers.get("expect").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")) {
            session.as_downstream_mut().write_continue_response().await?;
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = session.read_request_body().await? {
            if body.len() + chunk.len() > self.app.config.max_body {
                return Ok(Err(self.too_large()));
            }
            body.extend_from_slice(&chunk);
        }
        let peer = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        let nets = &self.app.config.trusted_proxies;
        let trusted = peer.is_some_and(|ip| peer::is_trusted(ip, nets));
        let forwarded_for = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let client = peer.map(|ip| peer::client_address(ip, forwarded_for, nets));
        Ok(Ok(Request { method, path, query, headers, body: body.freeze(), trusted, client }))
    }

    fn too_large(&self) -> Response {
        Response::json(
            413,
            &serde_json::json!({"error": format!("the request body is larger than {} bytes", self.app.config.max_body), "status": 413}),
        )
    }
}

fn response_is_html(response: &Response) -> bool {
    response.headers.iter().any(|(n, v)| n == "content-type" && v.as_bytes().starts_with(b"text/html"))
}

/// Writes a response to the client. A stream's headers go out with its first
/// chunk, so a producer that fails before any data still answers with its error.
async fn write(session: &mut Session, response: Response) -> pingora::Result<()> {
    let mut header = ResponseHeader::build(response.status, Some(response.headers.len() + 2))?;
    for (name, value) in response.headers {
        header.append_header(name, value)?;
    }
    match response.body {
        Body::Full(bytes) => {
            header.insert_header("content-length", bytes.len().to_string())?;
            let empty = bytes.is_empty();
            session.write_response_header(Box::new(header), empty).await?;
            if !empty {
                session.write_response_body(Some(bytes), true).await?;
            }
        }
        Body::Stream(mut chunks) => {
            let first = match next_chunk(session, &mut chunks).await? {
                Some(Chunk::Failed(failure)) => return Box::pin(write(session, *failure)).await,
                other => other,
            };
            header.insert_header("transfer-encoding", "chunked")?;
            session.write_response_header(Box::new(header), false).await?;
            let mut next = first;
            while let Some(chunk) = next {
                match chunk {
                    Chunk::Data(bytes) => session.write_response_body(Some(bytes), false).await?,
                    Chunk::Failed(_) => {
                        // No final chunk: the client sees a broken download, not a short one.
                        return Error::e_explain(ErrorType::WriteError, "the export failed after it started");
                    }
                }
                next = next_chunk(session, &mut chunks).await?;
            }
            session.write_response_body(None, true).await?;
        }
    }
    Ok(())
}

/// The stream's next chunk, or an error when the client leaves first (which
/// drops the stream, and so stops the statement that feeds it).
async fn next_chunk(
    session: &mut Session,
    chunks: &mut tokio::sync::mpsc::Receiver<Chunk>,
) -> pingora::Result<Option<Chunk>> {
    tokio::select! {
        chunk = chunks.recv() => Ok(chunk),
        () = client_gone(session) => Error::e_explain(ErrorType::ConnectionClosed, "the client left the download"),
    }
}

/// Resolves when the client closes the connection (or resets the HTTP/2
/// stream) while its request is being answered.
async fn client_gone(session: &mut Session) {
    if session.as_downstream_mut().read_body_or_idle(true).await.is_err() {
        return;
    }
    // Bytes after the request: not a close; keep waiting for the answer.
    std::future::pending().await
}

/// 405 for anything but GET and HEAD (and CORS preflights) on the paths that
/// only read: health, metrics, `/connect/…` and the UI's page.
fn method_refused(request: &Request) -> Option<Response> {
    let read = matches!(request.method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS);
    let path = request.path.as_str();
    let fixed = ["/healthz", "/readyz", "/metrics", "/"].contains(&path) || path.starts_with("/connect/");
    (!read && fixed).then(|| Response::text(405, "only GET and HEAD are answered here\n").header("allow", "GET, HEAD"))
}

#[async_trait]
impl ProxyHttp for Door {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx { started: Instant::now(), route: "-", session: None, user: None, _in_flight: self.app.lifecycle.request() }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> pingora::Result<bool> {
        // Once stopping, each answer closes its connection.
        session.set_keepalive((!self.app.lifecycle.stopping()).then_some(75));
        if self.on_metrics_listener(session) {
            ctx.route = "/metrics";
            let response = match session.req_header().uri.path() {
                "/metrics" => self.metrics_page(),
                _ => Response::text(404, "only /metrics is served here\n"),
            };
            write(session, self.finish(response, false)).await?;
            return Ok(true);
        }
        if self.goes_upstream(session) {
            ctx.route = "upstream";
            return Ok(false);
        }
        let (response, api) = match self.read_request(session).await? {
            Ok(request) => {
                if self.app.config.log_forwarded_user {
                    ctx.user = if self.app.config.identity_jwt.is_some() {
                        // The verified identity, never a header beside it (verified tokens are cached).
                        self.app.identity(&request).await.ok().flatten().map(|who| who.name)
                    } else {
                        request
                            .forwarded_header("x-forwarded-email")
                            .or_else(|| request.forwarded_header("x-forwarded-user"))
                            .map(str::to_owned)
                    };
                }
                let response = if request.path == "/readyz" && method_refused(&request).is_none() {
                    ctx.route = "/readyz";
                    match self.app.lifecycle.ready() {
                        true => Response::text(200, "ready\n"),
                        false => Response::text(503, "shutting down\n"),
                    }
                } else {
                    let routed = self.route(&request, ctx);
                    tokio::pin!(routed);
                    tokio::select! {
                        response = &mut routed => response,
                        () = client_gone(session) => {
                            // Dropping the handler drops its wait for the session, which
                            // cancels the statement it started on the server.
                            return Error::e_explain(ErrorType::ConnectionClosed, "the client went away");
                        }
                    }
                };
                (response, request.path.starts_with("/api/"))
            }
            Err(response) => (response, false),
        };
        let response = self.finish(response, api);
        // A failed write (the client left, or an export broke after it started)
        // must drop the connection rather than let pingora finish the body.
        write(session, response).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> pingora::Result<Box<HttpPeer>> {
        match &self.app.config.upstream {
            Some(upstream) => Ok(Box::new(HttpPeer::new(upstream.addr, upstream.tls, upstream.sni.clone()))),
            None => Error::e_explain(ErrorType::InternalError, "no upstream is configured"),
        }
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut pingora::http::RequestHeader,
        _ctx: &mut Ctx,
    ) -> pingora::Result<()> {
        if let Some(peer) = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string()) {
            upstream_request.insert_header("x-forwarded-for", peer)?;
        }
        let proto = if self.app.config.tls.is_some() { "https" } else { "http" };
        upstream_request.insert_header("x-forwarded-proto", proto)?;
        if let Some(host) = session.req_header().headers.get("host").cloned() {
            upstream_request.insert_header("x-forwarded-host", host)?;
        }
        // pgdoor's own secrets stay here: the binding cookie, and the basic-auth
        // password that let the request in.
        let cookies: Vec<String> = upstream_request
            .headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        upstream_request.remove_header("cookie");
        if let Some(kept) = binding::strip(&cookies.join("; ")) {
            upstream_request.insert_header("cookie", kept)?;
        }
        if self.app.config.basic_auth.is_some() {
            upstream_request.remove_header("authorization");
        }
        Ok(())
    }

    /// A readable page when the upstream is down; nothing when an answer had
    /// already started (an export cut off on purpose, a client gone).
    async fn fail_to_proxy(&self, session: &mut Session, error: &pingora::Error, _ctx: &mut Ctx) -> FailToProxy {
        let started = session.response_written().is_some();
        let gone = matches!(error.etype(), ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed);
        if started || gone {
            return FailToProxy { error_code: 0, can_reuse_downstream: false };
        }
        let page = page::error(
            502,
            "The server behind pgdoor is not answering",
            "pgdoor could not reach the server it forwards this address to.",
            "Try again in a moment; if it persists, tell your administrator.",
        )
        .header("x-content-type-options", "nosniff");
        let _ = write(session, page).await;
        FailToProxy { error_code: 502, can_reuse_downstream: false }
    }

    /// pingora's own error lines quote the request line, whose query may hold
    /// a session id; `logging` writes a clean one instead.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, _error: &pingora::Error) -> bool {
        true
    }

    async fn logging(&self, session: &mut Session, error: Option<&pingora::Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let method = session.req_header().method.as_str().to_owned();
        if let Some(error) = error {
            tracing::warn!(route = ctx.route, "request failed: {}", error.etype().as_str());
        }
        self.app.metrics.request(ctx.route, status);
        tracing::info!(
            target: "pgdoor::access",
            method = %method,
            route = ctx.route,
            status,
            duration_ms = ctx.started.elapsed().as_secs_f64() * 1000.0,
            session = ctx.session.as_deref().unwrap_or("-"),
            user = ctx.user.as_deref().unwrap_or("-"),
        );
    }
}
