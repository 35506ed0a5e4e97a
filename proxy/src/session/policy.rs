//! A session's effective policy: pgdoor's own limits (its flags), tightened
//! by what the connect backend's answer asks for. A backend can shorten a
//! timeout or lower a cap, never lift one.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

/// pgdoor's own limits, from its flags.
#[derive(Debug, Clone)]
pub struct Caps {
    /// `--query-timeout`.
    pub statement_timeout: Option<Duration>,
    /// `--max-rows`.
    pub max_rows: usize,
    /// `--max-result-bytes`.
    pub max_result_bytes: usize,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--session-lifetime`.
    pub lifetime: Option<Duration>,
}

impl Caps {
    /// No limit at all (for diagnostics that only show what a backend asks).
    pub fn none() -> Caps {
        Caps {
            statement_timeout: None,
            max_rows: usize::MAX,
            max_result_bytes: usize::MAX,
            idle_timeout: None,
            lifetime: None,
        }
    }
}

/// What one session may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// pgdoor cancels a statement that runs longer.
    pub statement_timeout: Option<Duration>,
    /// The most rows a result shows.
    pub max_rows: usize,
    /// The most bytes a result holds.
    pub max_result_bytes: usize,
    /// The session ends after this long unused.
    pub idle_timeout: Option<Duration>,
    /// The session ends this long after `/connect`.
    pub lifetime: Option<Duration>,
    /// Results, tables and dumps may be downloaded.
    pub downloads: bool,
    /// Rows may be changed from the table view (writable sessions only).
    pub edits: bool,
    /// Set on every connection when it opens (`set_config`).
    pub settings: BTreeMap<String, String>,
    /// Shown as a banner (`production`, `staging`, ...).
    pub environment: Option<String>,
    /// The backend set a statement timeout of its own, so connections
    /// carry it too (pgdoor's flag is enforced by pgdoor alone).
    pub timeout_on_connection: bool,
}

impl Policy {
    /// pgdoor's `caps`, tightened by the backend's `asked`.
    pub fn new(caps: &Caps, asked: &pgdoor_resolver::Policy) -> Policy {
        Policy {
            statement_timeout: shortest(caps.statement_timeout, asked.statement_timeout),
            max_rows: asked.max_rows.map_or(caps.max_rows, |n| n.min(caps.max_rows)),
            max_result_bytes: asked.max_result_bytes.map_or(caps.max_result_bytes, |n| n.min(caps.max_result_bytes)),
            idle_timeout: shortest(caps.idle_timeout, asked.idle_timeout),
            lifetime: shortest(caps.lifetime, asked.lifetime),
            downloads: asked.downloads,
            edits: asked.edits,
            settings: asked.settings.clone(),
            environment: asked.environment.clone(),
            timeout_on_connection: asked.statement_timeout.is_some(),
        }
    }

    /// The policy as `/api/connection` reports it (seconds; `null` for none).
    pub fn report(&self) -> Value {
        let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        json!({
            "statement_timeout": seconds(self.statement_timeout),
            "max_rows": self.max_rows,
            "max_result_bytes": self.max_result_bytes,
            "idle_timeout": seconds(self.idle_timeout),
            "lifetime": seconds(self.lifetime),
            "downloads": self.downloads,
            "edits": self.edits,
            "settings": self.settings,
            "environment": self.environment,
        })
    }
}

/// The shorter of two optional limits (`None` is no limit).
fn shortest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Caps {
        Caps {
            statement_timeout: Some(Duration::from_secs(60)),
            max_rows: 10_000,
            max_result_bytes: 8 << 20,
            idle_timeout: None,
            lifetime: Some(Duration::from_secs(3600)),
        }
    }

    #[test]
    fn a_backend_that_asks_nothing_gets_pgdoors_flags() {
        let policy = Policy::new(&caps(), &pgdoor_resolver::Policy::default());
        assert_eq!(policy.statement_timeout, Some(Duration::from_secs(60)));
        assert_eq!((policy.max_rows, policy.max_result_bytes), (10_000, 8 << 20));
        assert_eq!((policy.idle_timeout, policy.lifetime), (None, Some(Duration::from_secs(3600))));
        assert!(policy.downloads && !policy.timeout_on_connection);
    }

    #[test]
    fn a_backend_tightens_limits_and_never_lifts_them() {
        let asked = pgdoor_resolver::Policy {
            statement_timeout: Some(Duration::from_secs(5)),
            max_rows: Some(1_000_000),
            max_result_bytes: Some(1000),
            idle_timeout: Some(Duration::from_secs(600)),
            lifetime: Some(Duration::from_secs(86_400)),
            downloads: false,
            ..Default::default()
        };
        let policy = Policy::new(&caps(), &asked);
        assert_eq!(policy.statement_timeout, Some(Duration::from_secs(5)));
        assert_eq!(policy.max_rows, 10_000, "never above --max-rows");
        assert_eq!(policy.max_result_bytes, 1000);
        assert_eq!(policy.idle_timeout, Some(Duration::from_secs(600)), "tighter than no idle timeout");
        assert_eq!(policy.lifetime, Some(Duration::from_secs(3600)), "never longer than --session-lifetime");
        assert!(!policy.downloads && policy.timeout_on_connection);
    }
}
