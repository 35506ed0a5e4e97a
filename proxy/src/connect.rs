//! `/connect/<resource>`: ask the resolver, connect, create a session bound
//! to this browser, and redirect the tab to `<prefix>/#session=<id>`.

use crate::app::App;
use crate::http::{Request, Response};
use crate::session::{BindingKey, ConnectError, NewSession, Session, short_hash};
use crate::{binding, page, rescue};

/// The longest resource name accepted.
const MAX_RESOURCE: usize = 512;

/// Handles `GET /connect/<resource>`.
pub async fn handle(app: &App, request: &Request, raw_resource: &str) -> Response {
    let prefix = app.config.prefix.as_str();
    let resource = percent_encoding::percent_decode_str(raw_resource).decode_utf8_lossy().into_owned();
    if resource.is_empty() || resource.len() > MAX_RESOURCE || resource.chars().any(char::is_control) {
        return page::error(400, "Invalid link", "This link does not name a database.", "Check the link you followed.");
    }
    if let Some(wait) = app.connect_rate_limited(request) {
        return page::error(
            429,
            "Too many attempts",
            "Too many connection attempts from your address.",
            "Wait a moment and try again.",
        )
        .header("retry-after", wait.as_secs().max(1).to_string());
    }
    let result = async {
        if app.lifecycle.stopping() {
            return Err(ConnectError::ShuttingDown);
        }
        // A missing or invalid identity token reaches no backend.
        let identity = app.identity(request).await.map_err(ConnectError::Identity)?;
        app.sessions.check_limits(identity.as_ref().map(|who| who.name.as_str()))?;
        let ask = app.resolve_request(&resource, request, identity.as_ref());
        let identity = identity.map(|who| who.name);
        let (grant, took) = app.connector.resolve(&ask).await;
        app.metrics.resolved(took);
        let grant = grant?;
        let editor = app.connector.connect(&grant).await?;
        let binding = app.config.session_binding.then(BindingKey::random);
        let fields = NewSession { resource: resource.clone(), identity: identity.clone(), grant, binding };
        let session = Session::start(fields, editor, app.connector.clone(), app.limits());
        if let Err(refused) = app.sessions.insert(session.clone()) {
            session.close().await;
            return Err(refused);
        }
        Ok::<_, ConnectError>(session)
    }
    .await;
    match result {
        Ok(session) => {
            app.metrics.connect("ok");
            tracing::info!(session = %session.id.short_hash(), resource = %short_hash(resource.as_bytes()), readonly = session.readonly, "session opened");
            // pgdoor's UI takes the id from the fragment, which no access log
            // sees; pgweb's UI, behind --upstream, reads the query string.
            let hand_over = if app.config.upstream.is_some() { '?' } else { '#' };
            let mut response = Response::redirect(&format!("{prefix}/{hand_over}session={}", session.id));
            if let Some(key) = session.binding {
                response = response.header("set-cookie", binding::set_cookie(app, request, key));
            }
            response
        }
        Err(e) => {
            app.metrics.connect(rescue::connect_code(&e));
            tracing::warn!(resource = %short_hash(resource.as_bytes()), status = rescue::connect_status(&e), "connect failed: {e}");
            rescue::connect(&e, request, app.config.show_server_address)
        }
    }
}
