//! What every handler shares: the settings, the session service, and the
//! metrics and audit log. `door.rs` owns an [`App`] and hands it to the
//! handlers; the handlers never see the door.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pgdoor_resolver::{ResolveRequest, VerifiedIdentity};

use crate::config::DoorConfig;
use crate::http::Request;
use crate::jwt::JwtError;
use crate::observe::{AuditLog, Metrics, Recorder};
use crate::peer;
use crate::session::{Caps, Connector, Limits, Registry};
use crate::shutdown::Lifecycle;

/// Most client addresses the `/connect` limiter tracks (about 100 bytes
/// each); when full, all clients share one budget until a prune frees room.
const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// How often the limiter forgets addresses whose budget is full again.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// The key all clients share while the limiter is full.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

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
    /// Serving, draining or stopping; requests in flight.
    pub lifecycle: Arc<Lifecycle>,
    connect_limiter: DefaultKeyedRateLimiter<IpAddr>,
    pruned_at: Mutex<Instant>,
}

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name limits, the audit log and session ownership use.
    pub name: String,
    /// What the gateway's token said, when it was verified.
    pub verified: Option<VerifiedIdentity>,
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
                Caps {
                    statement_timeout: config.query_timeout,
                    max_rows: config.max_rows,
                    max_result_bytes: config.max_result_bytes,
                    idle_timeout: config.idle_timeout,
                    lifetime: config.session_lifetime,
                },
            )),
            metrics: Arc::new(Metrics::default()),
            audit: audit.map(Arc::new),
            lifecycle: Arc::default(),
            connect_limiter: RateLimiter::keyed(Quota::per_minute(rate)),
            pruned_at: Mutex::new(Instant::now()),
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
            idle_in_transaction: self.config.idle_in_transaction_timeout,
            catalog_idle: self.config.catalog_idle,
            codec: self.config.binary_codec,
        }
    }

    /// Who the request is from: the claim of the gateway's token when
    /// `--identity-jwt` verifies one (an invalid or missing token is an
    /// error), else the identity header's value from a trusted peer.
    pub async fn identity(&self, request: &Request) -> Result<Option<Identity>, JwtError> {
        if let Some(verifier) = &self.config.identity_jwt {
            let verified = verifier.verify(request.header(verifier.header())).await?;
            return Ok(Some(Identity { name: verified.identity, verified: Some(verified.claims) }));
        }
        let Some(name) = self.config.identity_header.as_deref() else { return Ok(None) };
        let value = request.forwarded_header(name).filter(|v| !v.is_empty());
        Ok(value.map(|v| Identity { name: v.to_owned(), verified: None }))
    }

    /// The resolver's request for `resource`: this request's allow-listed
    /// headers (from trusted peers) and the identity, when it was verified.
    pub fn resolve_request(&self, resource: &str, request: &Request, who: Option<&Identity>) -> ResolveRequest {
        self.connector
            .request(resource, |name| request.forwarded_header(name).map(str::to_owned))
            .with_identity(who.and_then(|who| who.verified.clone()))
    }

    /// `Some(wait)` when this client has used up its `/connect` attempts.
    /// Clients are counted by [`peer::rate_key`]; the map of them is pruned
    /// every [`PRUNE_EVERY`] and never holds more than [`MAX_TRACKED_ADDRESSES`].
    pub fn connect_rate_limited(&self, request: &Request) -> Option<Duration> {
        let limiter = &self.connect_limiter;
        {
            let mut pruned_at = self.pruned_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if pruned_at.elapsed() >= PRUNE_EVERY {
                limiter.retain_recent();
                limiter.shrink_to_fit();
                *pruned_at = Instant::now();
            }
        }
        // Full until the next prune: every client shares one budget, so a flood
        // of addresses costs a bounded map rather than memory without end.
        let key = if limiter.len() >= MAX_TRACKED_ADDRESSES { OVERFLOW } else { peer::rate_key(request.client?) };
        limiter.check_key(&key).err().map(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()))
        })
    }
}
