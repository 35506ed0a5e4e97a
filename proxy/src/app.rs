//! What every handler shares: the settings, the session service, and the
//! metrics and audit log. `door.rs` owns an [`App`] and hands it to the
//! handlers; the handlers never see the door.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::DoorConfig;
use crate::http::Request;
use crate::observe::{AuditLog, Metrics, Recorder};
use crate::session::{BindingKey, Connector, Limits, Registry};

/// The binding cookie's name.
pub const BINDING_COOKIE: &str = "pgdoor_bind";

/// Settings, sessions, and the `/connect` rate limiter.
pub struct App {
    /// Settings.
    pub config: Arc<DoorConfig>,
    /// Live sessions.
    pub sessions: Arc<Registry>,
    /// Resolves resources and opens their connections.
    pub connector: Arc<Connector>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The audit log, when `--audit-log` is set.
    pub audit: Option<Arc<AuditLog>>,
    connect_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl App {
    /// An app with an empty session registry.
    pub fn new(config: Arc<DoorConfig>, audit: Option<AuditLog>) -> Self {
        let rate = NonZeroU32::new(config.connect_rate_per_minute.max(1)).expect("at least 1");
        App {
            sessions: Arc::new(Registry::new(config.max_sessions, config.max_sessions_per_user)),
            connector: Arc::new(Connector::new(
                config.resolver.clone(),
                config.connect_headers.clone(),
                config.readonly,
                config.single_database,
            )),
            metrics: Arc::new(Metrics::default()),
            audit: audit.map(Arc::new),
            connect_limiter: RateLimiter::keyed(Quota::per_minute(rate)),
            config,
        }
    }

    /// Records statements people run (metrics and audit).
    pub fn recorder(&self) -> Recorder {
        Recorder { metrics: self.metrics.clone(), audit: self.audit.clone() }
    }

    /// Each session's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            query_timeout: self.config.query_timeout,
            idle_in_transaction: self.config.idle_in_transaction_timeout,
            catalog_idle: self.config.catalog_idle,
            codec: self.config.binary_codec,
        }
    }

    /// The identity header's value, from a trusted peer only.
    pub fn identity(&self, request: &Request) -> Option<String> {
        let name = self.config.identity_header.as_deref()?;
        request.forwarded_header(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// `Some(wait)` when this client has used up its `/connect` attempts.
    pub fn connect_rate_limited(&self, request: &Request) -> Option<Duration> {
        let ip = request.client_ip()?;
        self.connect_limiter.check_key(&ip).err().map(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()))
        })
    }

    /// The `Set-Cookie` value binding sessions to this browser.
    pub fn binding_cookie(&self, key: BindingKey) -> String {
        let same_site_none = self.config.frame_ancestors != "'self'";
        let mut cookie = cookie::Cookie::build((BINDING_COOKIE, key.to_cookie_value()))
            .path(format!("{}/", self.config.prefix))
            .http_only(true)
            .secure(self.config.tls.is_some() || same_site_none)
            .same_site(if same_site_none { cookie::SameSite::None } else { cookie::SameSite::Lax })
            .build();
        if same_site_none {
            cookie.set_partitioned(true);
        }
        cookie.to_string()
    }
}
