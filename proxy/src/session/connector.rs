//! The Connector: the resolver, and the one policy that turns a credential
//! into the settings a connection is opened with. `/connect`, reconnects,
//! pg_dump and `pgdoor check-backend` all go through it, so each of them
//! succeeds or fails exactly as the others would.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgdoor_resolver::{Credential, ResolveError, ResolveRequest, Resolver};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use super::policy::{Caps, Policy};
use super::registry::LimitError;
use crate::pg::{self, Config, Connection, Environment, OsEnvironment};

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
    /// The gateway's identity token is missing or does not verify.
    #[error(transparent)]
    Identity(crate::jwt::JwtError),
    /// The person is not the one who opened the session.
    #[error("this session belongs to someone else: open your own /connect link")]
    OtherIdentity,
    /// A read-only credential for a role that can write whatever a
    /// transaction says (a superuser, or one that may run programs or write
    /// files on the server): refused, as read-only could not hold.
    #[error(
        "this link is read-only, but the database role it uses {0}, so read-only could not hold; the session was not opened"
    )]
    WritableReadOnlyRole(&'static str),
    /// pgdoor is shutting down and opens no new session.
    #[error("pgdoor is shutting down and opens no new session right now")]
    ShuttingDown,
    /// A setting from the backend's `settings` was refused by the server.
    #[error("the database refused the setting {name} the credential backend asked for: {message}")]
    Setting {
        /// The parameter.
        name: String,
        /// The server's words.
        message: String,
    },
    /// The backend now grants other access (read-only or the policy
    /// changed): the session must be opened again.
    #[error("your access to this database changed: open the /connect link again")]
    AccessChanged,
}

/// What a resolved credential allows: the connection settings and the
/// session's policy.
#[derive(Clone)]
pub struct Grant {
    /// The settings connections are opened with.
    pub config: Config,
    /// No SQL may write.
    pub readonly: bool,
    /// A name for the UI.
    pub label: Option<String>,
    /// When the credential stops being valid.
    pub expires_at: Option<OffsetDateTime>,
    /// The URL as the resolver gave it, password redacted (for reports).
    pub shown_url: String,
    /// What the session may do: pgdoor's flags tightened by the backend.
    pub policy: Policy,
}

impl Grant {
    /// True once the credential's `expires_at` has passed.
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= OffsetDateTime::now_utc())
    }
}

/// Libpq's defaults for what a backend's URL leaves out, and nothing of
/// pgdoor's own account: the OS user pgdoor runs as names the role (and so
/// the database) when the URL names none, as libpq and lib/pq do, but no
/// `PG*` variable, passfile or `~/.postgresql` file is read.
pub struct BackendDefaults;

impl Environment for BackendDefaults {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn os_user(&self) -> Option<String> {
        OsEnvironment.os_user()
    }
    fn file_exists(&self, _: &Path) -> bool {
        false
    }
}

/// Resolves resources and opens connections for them.
pub struct Connector {
    resolver: Arc<dyn Resolver>,
    connect_headers: Vec<String>,
    readonly: bool,
    operator_url: bool,
    caps: Caps,
}

impl Connector {
    /// A connector for `resolver`, passing `connect_headers` to it. With
    /// `readonly` every session is read-only. `operator_url` says the URL
    /// comes from pgdoor's operator (`--url`), so libpq's environment
    /// (PGPASSWORD, the passfile) may fill it in; a backend's never does.
    /// A backend's policy can only tighten `caps`.
    pub fn new(
        resolver: Arc<dyn Resolver>,
        connect_headers: Vec<String>,
        readonly: bool,
        operator_url: bool,
        caps: Caps,
    ) -> Self {
        Connector { resolver, connect_headers, readonly, operator_url, caps }
    }

    /// The names of the request headers the resolver is given.
    pub fn connect_headers(&self) -> &[String] {
        &self.connect_headers
    }

    /// The resolver's request for `resource`, with the allow-listed headers
    /// `header` finds (names lower-cased, values untouched).
    pub fn request(&self, resource: &str, header: impl Fn(&str) -> Option<String>) -> ResolveRequest {
        ResolveRequest::with_headers(resource, &self.connect_headers, header)
    }

    /// The request as the resolver would send it, secrets redacted.
    pub fn describe(&self, request: &ResolveRequest) -> String {
        self.resolver.describe_request(request)
    }

    /// Asks the resolver and applies the policy; also returns how long the
    /// resolver took, whatever it answered.
    pub async fn resolve(&self, request: &ResolveRequest) -> (Result<Grant, ConnectError>, Duration) {
        let started = Instant::now();
        let credential = self.resolver.resolve(request).await;
        let took = started.elapsed();
        (credential.map_err(ConnectError::from).and_then(|c| self.grant(c)), took)
    }

    /// The one policy from a credential to a [`Grant`]: the URL parsed with
    /// [`BackendDefaults`] (or libpq's environment for `--url`), read-only
    /// forced on the connection itself where granted, the backend's
    /// statement timeout too, and pgdoor named as the application unless
    /// the URL names one.
    pub fn grant(&self, credential: Credential) -> Result<Grant, ConnectError> {
        let shown_url = credential.redacted_url();
        let url = credential.database_url.expose_secret();
        let mut config = if self.operator_url {
            Config::parse_with(url, &OsEnvironment)
        } else {
            Config::parse_with(url, &BackendDefaults)
        }
        .map_err(ConnectError::BadUrl)?;
        let readonly = credential.readonly || self.readonly;
        let policy = Policy::new(&self.caps, &credential.policy);
        let mut extra = Vec::new();
        if readonly {
            // Defence in depth: read-only statements run in BEGIN READ ONLY anyway.
            extra.push("-c default_transaction_read_only=on".to_owned());
        }
        if let Some(limit) = policy.statement_timeout.filter(|_| policy.timeout_on_connection) {
            // pgdoor's own cancel enforces it whatever the person SETs; this
            // is the server's copy of the same limit.
            extra.push(format!("-c statement_timeout={}", limit.as_millis().max(1)));
        }
        if !extra.is_empty() {
            let options = config.options.take().unwrap_or_default();
            config.options = Some(format!("{options} {}", extra.join(" ")).trim().to_owned());
        }
        config.application_name.get_or_insert_with(|| "pgdoor".into());
        Ok(Grant { config, readonly, label: credential.label, expires_at: credential.expires_at, shown_url, policy })
    }

    /// Opens a connection with a grant's settings: a read-only grant's role
    /// is checked first (see [`ConnectError::WritableReadOnlyRole`]), then
    /// the backend's `settings` are applied.
    pub async fn connect(&self, grant: &Grant) -> Result<Connection, ConnectError> {
        let mut conn = pg::connect(&grant.config).await.map_err(ConnectError::Database)?;
        if grant.readonly {
            refuse_writable_role(&mut conn).await?;
        }
        apply_settings(&mut conn, &grant.policy).await?;
        Ok(conn)
    }
}

/// Sets each of the backend's `settings` for the connection's session,
/// bound as parameters.
async fn apply_settings(conn: &mut Connection, policy: &Policy) -> Result<(), ConnectError> {
    for (name, value) in &policy.settings {
        let mut out = pg::Collector::unbounded();
        match conn.query("SELECT pg_catalog.set_config($1, $2, false)", &[Some(name), Some(value)], &mut out).await {
            Ok(()) => {}
            Err(pg::Error::Db(db)) => return Err(ConnectError::Setting { name: name.clone(), message: db.message }),
            Err(e) => return Err(ConnectError::Database(e)),
        }
    }
    Ok(())
}

/// What a role holds that a read-only transaction cannot stop, in order.
const WRITABLE_ROLE: &str = "SELECT rolsuper, \
     pg_catalog.pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'), \
     pg_catalog.pg_has_role(current_user, 'pg_write_server_files', 'MEMBER') \
     FROM pg_catalog.pg_roles WHERE rolname = current_user";

async fn refuse_writable_role(conn: &mut Connection) -> Result<(), ConnectError> {
    let mut rows = pg::Collector::unbounded();
    conn.query(WRITABLE_ROLE, &[], &mut rows).await.map_err(ConnectError::Database)?;
    let row = rows.results.into_iter().next().and_then(|r| r.rows.into_iter().next()).unwrap_or_default();
    let holds = |i: usize| row.get(i).and_then(serde_json::Value::as_bool) == Some(true);
    let why = if holds(0) {
        "is a superuser"
    } else if holds(1) {
        "may run programs on the server (pg_execute_server_program)"
    } else if holds(2) {
        "may write files on the server (pg_write_server_files)"
    } else {
        return Ok(());
    };
    Err(ConnectError::WritableReadOnlyRole(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgdoor_resolver::{BackendConfig, build};

    fn connector() -> Connector {
        let resolver = build(BackendConfig::Static { url: "postgres://unused/".into() }).unwrap();
        Connector::new(resolver, Vec::new(), false, false, Caps::none())
    }

    fn credential(url: &str) -> Credential {
        Credential::new(url)
    }

    #[test]
    fn a_user_less_url_connects_as_the_os_user_and_reads_nothing_else() {
        let grant = connector().grant(credential("postgres://localhost:5432/db1?sslmode=disable")).unwrap();
        let me = OsEnvironment.os_user().unwrap();
        assert_eq!(grant.config.user, me);
        assert_eq!(grant.config.dbname, "db1");
        assert!(grant.config.password.is_none(), "no passfile or PGPASSWORD");
        assert_eq!(grant.config.application_name.as_deref(), Some("pgdoor"));
        let bare = connector().grant(credential("postgres://localhost")).unwrap();
        assert_eq!(bare.config.dbname, me, "the database defaults to the user, as in libpq");
    }

    #[test]
    fn read_only_is_forced_on_the_connection() {
        let grant = connector().grant(credential("host=db options='-c work_mem=4MB'")).unwrap();
        assert!(!grant.readonly);
        let mut readonly = credential("host=db options='-c work_mem=4MB'");
        readonly.readonly = true;
        let grant = connector().grant(readonly).unwrap();
        assert!(grant.readonly);
        assert_eq!(grant.config.options.as_deref(), Some("-c work_mem=4MB -c default_transaction_read_only=on"));
    }

    #[test]
    fn the_backends_statement_timeout_rides_on_the_connection() {
        let mut timed = credential("host=db");
        timed.policy.statement_timeout = Some(Duration::from_millis(1500));
        let grant = connector().grant(timed).unwrap();
        assert_eq!(grant.config.options.as_deref(), Some("-c statement_timeout=1500"));
        assert_eq!(grant.policy.statement_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(connector().grant(credential("host=db")).unwrap().config.options, None);
    }
}
