//! `/connect/<resource>`: ask the resolver, connect, create a session bound
//! to this browser, and redirect the tab to `<prefix>/?session=<id>`.

use std::sync::Arc;

use pgdoor_resolver::{Credential, ResolveError, ResolveRequest};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::door::Door;
use crate::http::{Request, Response};
use crate::page;
use crate::pg::{self, Config, Connection, Isolated};
use crate::session::{BindingKey, LimitError, NewSession, Session, short_hash};

/// The binding cookie's name.
pub const BINDING_COOKIE: &str = "pgdoor_bind";

/// The longest resource name accepted.
const MAX_RESOURCE: usize = 512;

/// Why a connection for a resource could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The resolver failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The resolver's URL is not a usable connection string.
    #[error("the credential backend returned an unusable database URL: {0}")]
    BadUrl(pg::ConfigError),
    /// The database refused or could not be reached.
    #[error("could not connect to the database ({step}): {source}", step = .0.failed_step(), source = .0)]
    Database(pg::Error),
    /// A limit stops a new session.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The person is not the one who opened the session (reconnect only).
    #[error("this session belongs to someone else: open your own /connect link")]
    OtherIdentity,
}

impl ConnectError {
    /// The HTTP status for this failure.
    pub fn status(&self) -> u16 {
        match self {
            ConnectError::Resolve(e) if e.is_not_found() => 404,
            ConnectError::Resolve(ResolveError::Refused { .. }) => 403,
            ConnectError::Resolve(ResolveError::TimedOut(_)) => 504,
            ConnectError::Resolve(_) | ConnectError::BadUrl(_) | ConnectError::Database(_) => 502,
            ConnectError::Limit(_) => 429,
            ConnectError::OtherIdentity => 403,
        }
    }

    /// A short machine-readable kind.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Resolve(e) if e.is_not_found() => "unknown_resource",
            ConnectError::Resolve(ResolveError::Refused { .. }) => "backend_refused",
            ConnectError::Resolve(ResolveError::TimedOut(_)) => "backend_timeout",
            ConnectError::Resolve(_) => "backend_unavailable",
            ConnectError::BadUrl(_) => "backend_invalid",
            ConnectError::Database(_) => "database_unavailable",
            ConnectError::Limit(_) => "too_many_sessions",
            ConnectError::OtherIdentity => "other_identity",
        }
    }

    /// What the person should do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            ConnectError::Resolve(e) if e.is_not_found() => {
                "Check the link you followed; it may be mistyped or no longer valid."
            }
            ConnectError::Resolve(ResolveError::Refused { .. }) => {
                "You may not have access to this database. Ask your administrator if you think you should."
            }
            ConnectError::Resolve(_) | ConnectError::BadUrl(_) => {
                "The service that hands out database access is not working right now. Try again in a minute; if it persists, tell your administrator."
            }
            ConnectError::Database(_) => {
                "The database did not accept the connection. Try again in a minute; if it persists, tell your administrator."
            }
            ConnectError::Limit(_) => "Close sessions you no longer use, then try again.",
            ConnectError::OtherIdentity => "Open the link from your own account.",
        }
    }

    /// The person-facing description: never the backend's internal reasons in detail.
    fn public_message(&self) -> String {
        match self {
            ConnectError::Resolve(e) if e.is_not_found() => "There is no database behind this link.".into(),
            ConnectError::Resolve(ResolveError::Refused { .. }) => "Access to this database was refused.".into(),
            ConnectError::Resolve(ResolveError::TimedOut(_)) => "The credential service did not answer in time.".into(),
            ConnectError::Resolve(_) | ConnectError::BadUrl(_) => "The credential service could not be used.".into(),
            other => format!("{}.", other.to_string().trim_end_matches('.')),
        }
    }

    /// A page or JSON for the person.
    pub fn response(&self, request: &Request) -> Response {
        let status = self.status();
        let message = self.public_message();
        let response = if request.wants_json() {
            Response::json(status, &json!({"error": message, "status": status, "code": self.code()}))
        } else {
            page::error(status, "Could not open the database", &message, self.advice())
        };
        match self {
            ConnectError::Limit(_) => response.header("retry-after", "60"),
            _ => response,
        }
    }
}

/// A connection opened for a resource, with the credential behind it.
pub struct Opened {
    /// The connection.
    pub conn: Connection,
    /// The credential used.
    pub credential: Credential,
    /// The settings it was opened with.
    pub config: Config,
}

/// Resolves a resource with this request's allow-listed headers into the
/// connection settings pgdoor will use (read-only forced where granted).
pub async fn resolve(door: &Door, resource: &str, request: &Request) -> Result<(Config, Credential), ConnectError> {
    let ask = ResolveRequest::with_headers(resource, &door.config.connect_headers, |name| {
        request.forwarded_header(name).map(str::to_owned)
    });
    let started = std::time::Instant::now();
    let resolved = door.config.resolver.resolve(&ask).await;
    door.metrics.resolved(started.elapsed());
    let credential = resolved?;
    let mut config = if door.config.single_database {
        credential.database_url.expose_secret().parse::<Config>()
    } else {
        Config::parse_with(credential.database_url.expose_secret(), &Isolated)
    }
    .map_err(ConnectError::BadUrl)?;
    if credential.readonly || door.config.readonly {
        // Defence in depth: read-only statements run in BEGIN READ ONLY anyway.
        let options = config.options.take().unwrap_or_default();
        config.options = Some(format!("{options} -c default_transaction_read_only=on").trim().to_owned());
    }
    config.application_name.get_or_insert_with(|| "pgdoor".into());
    Ok((config, credential))
}

/// Resolves a resource and connects.
pub async fn open(door: &Door, resource: &str, request: &Request) -> Result<Opened, ConnectError> {
    let (config, credential) = resolve(door, resource, request).await?;
    let conn = pg::connect(&config).await.map_err(ConnectError::Database)?;
    Ok(Opened { conn, credential, config })
}

/// Opens the session's catalog connection in the background with the
/// settings just used, so the UI's first catalog reads, which follow the
/// redirect at once, do not wait for a second resolve and connect. On
/// failure the first catalog read opens it and reports why.
fn open_catalog_connection(session: Arc<Session>, config: Config) {
    tokio::spawn(async move {
        let mut meta = session.meta.lock().await;
        if meta.is_none()
            && let Ok(conn) = pg::connect(&config).await
        {
            *meta = Some(conn);
        }
    });
}

/// Handles `GET /connect/<resource>`.
pub async fn handle(door: &Door, request: &Request, raw_resource: &str) -> Response {
    let prefix = door.config.prefix.as_str();
    let resource = percent_encoding::percent_decode_str(raw_resource).decode_utf8_lossy().into_owned();
    if resource.is_empty() || resource.len() > MAX_RESOURCE || resource.chars().any(char::is_control) {
        return page::error(400, "Invalid link", "This link does not name a database.", "Check the link you followed.");
    }
    if let Some(wait) = door.connect_rate_limited(request) {
        return page::error(
            429,
            "Too many attempts",
            "Too many connection attempts from your address.",
            "Wait a moment and try again.",
        )
        .header("retry-after", wait.as_secs().max(1).to_string());
    }
    let identity = door.identity(request);
    let result = async {
        door.sessions.check_limits(identity.as_deref())?;
        let opened = open(door, &resource, request).await?;
        let binding = door.config.session_binding.then(|| {
            request.cookie(BINDING_COOKIE).and_then(|v| BindingKey::parse(&v)).unwrap_or_else(BindingKey::random)
        });
        let session = Arc::new(Session::new(
            NewSession {
                resource: resource.clone(),
                database: opened.config.dbname.clone(),
                identity: identity.clone(),
                readonly: opened.credential.readonly || door.config.readonly,
                label: opened.credential.label.clone(),
                expires_at: opened.credential.expires_at,
                binding,
            },
            opened.conn,
        ));
        door.sessions.insert(session.clone())?;
        open_catalog_connection(session.clone(), opened.config);
        Ok::<_, ConnectError>(session)
    }
    .await;
    match result {
        Ok(session) => {
            door.metrics.connect("ok");
            tracing::info!(session = %session.id.short_hash(), resource = %short_hash(resource.as_bytes()), readonly = session.readonly, "session opened");
            let mut response = Response::redirect(&format!("{prefix}/?session={}", session.id));
            if let Some(key) = session.binding {
                response = response.header("set-cookie", door.binding_cookie(key));
            }
            response
        }
        Err(e) => {
            door.metrics.connect(e.code());
            tracing::warn!(resource = %short_hash(resource.as_bytes()), status = e.status(), "connect failed: {e}");
            e.response(request)
        }
    }
}
