//! Metrics (Prometheus text format) and the audit log (one JSON line per
//! statement a person ran). Neither ever holds a password, a database URL,
//! a token or a session id.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

// Label values are static names (route templates, error codes, kinds), so
// counting a request allocates nothing.

/// Labels of a connect attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

/// Labels of a statement.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

/// pgdoor's metrics.
pub struct Metrics {
    registry: Registry,
    sessions: Gauge,
    connects: Family<Outcome, Counter>,
    resolver_seconds: Histogram,
    query_seconds: Family<Kind, Histogram>,
    requests: Family<RouteStatus, Counter>,
    exported_bytes: Counter,
}

fn latency_buckets() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pgdoor");
        let sessions = Gauge::default();
        let connects = Family::<Outcome, Counter>::default();
        let resolver_seconds = latency_buckets();
        let query_seconds = Family::<Kind, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        let requests = Family::<RouteStatus, Counter>::default();
        let exported_bytes = Counter::default();
        registry.register("sessions", "Live sessions", sessions.clone());
        registry.register("connects", "/connect attempts by outcome (ok, or the error code)", connects.clone());
        registry.register("resolver_duration_seconds", "Credential resolver calls", resolver_seconds.clone());
        registry.register(
            "query_duration_seconds",
            "Statements run for people, by kind (query, explain, analyze, export, rows)",
            query_seconds.clone(),
        );
        registry.register("http_requests", "HTTP requests answered, by route and status", requests.clone());
        registry.register("exported_bytes", "Bytes of exports and SQL dumps sent", exported_bytes.clone());
        Metrics { registry, sessions, connects, resolver_seconds, query_seconds, requests, exported_bytes }
    }
}

impl Metrics {
    /// A /connect attempt ended: `ok` or an error code.
    pub fn connect(&self, outcome: &'static str) {
        self.connects.get_or_create(&Outcome { outcome }).inc();
    }

    /// A resolver call took this long.
    pub fn resolved(&self, took: Duration) {
        self.resolver_seconds.observe(took.as_secs_f64());
    }

    /// A statement of this kind took this long.
    pub fn statement(&self, kind: &'static str, took: Duration) {
        self.query_seconds.get_or_create(&Kind { kind }).observe(took.as_secs_f64());
    }

    /// An HTTP request was answered.
    pub fn request(&self, route: &'static str, status: u16) {
        self.requests.get_or_create(&RouteStatus { route, status }).inc();
    }

    /// Bytes of a download were sent.
    pub fn exported(&self, bytes: usize) {
        self.exported_bytes.inc_by(bytes as u64);
    }

    /// The Prometheus text exposition, with the live session count.
    pub fn render(&self, live_sessions: usize) -> String {
        self.sessions.set(live_sessions as i64);
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One audit line.
#[derive(Debug, Serialize)]
pub struct AuditEntry<'a> {
    /// When it ended, RFC 3339.
    pub time: String,
    /// The identity header's value, when configured and sent.
    pub identity: Option<&'a str>,
    /// The resource the session was opened for.
    pub resource: &'a str,
    /// The database name.
    pub database: &'a str,
    /// What ran: query, explain, analyze, export, dump or rows.
    pub kind: &'a str,
    /// The SQL as run.
    pub statement: &'a str,
    /// How long it took.
    pub duration_ms: f64,
    /// Rows returned or affected, when it succeeded.
    pub rows: Option<u64>,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl AuditLog {
    /// Opens `-` (stdout) or a file (created 0600, appended to).
    pub fn open(target: &Path) -> std::io::Result<AuditLog> {
        let out: Box<dyn Write + Send> = if target == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).mode(0o600).open(target)?)
        };
        Ok(AuditLog { out: Mutex::new(out) })
    }

    /// Writes one line; a failing write is reported in the log, never to the person.
    pub fn write(&self, entry: &AuditEntry<'_>) {
        let Ok(mut text) = serde_json::to_vec(entry) else { return };
        text.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = out.write_all(&text).and_then(|()| out.flush()) {
            tracing::error!("cannot write the audit log: {e}");
        }
    }
}

/// Whose statement an audit line is about.
pub struct Subject<'a> {
    /// The identity that opened the session.
    pub identity: Option<&'a str>,
    /// The resource it was opened for.
    pub resource: &'a str,
    /// The database name.
    pub database: &'a str,
}

/// What records the statements people run: latency in the metrics, a line
/// in the audit log. Cheap to clone into a streaming task.
#[derive(Clone)]
pub struct Recorder {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The audit log, when configured.
    pub audit: Option<Arc<AuditLog>>,
}

impl Recorder {
    /// Records one statement of `kind`; `rows` is what it returned or
    /// affected (`None` when that has no meaning, as for a dump), or the error's text.
    pub fn record(
        &self,
        subject: &Subject<'_>,
        kind: &'static str,
        sql: &str,
        took: Duration,
        rows: Result<Option<u64>, String>,
    ) {
        self.metrics.statement(kind, took);
        if let Some(audit) = &self.audit {
            audit.write(&AuditEntry {
                time: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
                identity: subject.identity,
                resource: subject.resource,
                database: subject.database,
                kind,
                statement: sql,
                duration_ms: took.as_secs_f64() * 1000.0,
                rows: rows.as_ref().ok().copied().flatten(),
                error: rows.err(),
            });
        }
    }
}
