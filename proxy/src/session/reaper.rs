//! The background task that ends sessions idle or alive too long, and every
//! session at shutdown. Sessions close concurrently, each within its own
//! deadline, so one stuck statement delays only its own session.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::task::JoinSet;

use super::{Registry, Session};

/// Runs as a pingora background service.
pub struct Reaper {
    /// The sessions to watch.
    pub registry: Arc<Registry>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--session-lifetime`.
    pub lifetime: Option<Duration>,
    /// At shutdown, how long running statements may take before they are cancelled.
    pub grace_period: Duration,
}

impl Reaper {
    /// How often to look: a quarter of the shortest limit, between 250 ms and 30 s.
    fn tick(&self) -> Duration {
        let shortest =
            [self.idle_timeout, self.lifetime].into_iter().flatten().min().unwrap_or(Duration::from_secs(120));
        (shortest / 4).clamp(Duration::from_millis(250), Duration::from_secs(30))
    }

    fn sweep(&self) {
        for session in self.registry.take_expired(self.idle_timeout, self.lifetime) {
            tracing::info!(session = %session.id.short_hash(), "session expired and closed");
            // Each closes on its own task: a stuck one holds up nobody.
            tokio::spawn(async move { session.close().await });
        }
    }
}

/// Closes sessions concurrently; returns once all are closed or `deadline` passed.
async fn close_all(sessions: Vec<Arc<Session>>, deadline: Duration) {
    let mut closing = JoinSet::new();
    for session in sessions {
        closing.spawn(async move { session.close().await });
    }
    let all = async { while closing.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, all).await.is_err() {
        tracing::warn!("some sessions did not close in time");
    }
}

#[async_trait]
impl BackgroundService for Reaper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticker = tokio::time::interval(self.tick());
        loop {
            tokio::select! {
                _ = ticker.tick() => self.sweep(),
                _ = shutdown.changed() => break,
            }
        }
        if self.registry.is_empty() {
            return;
        }
        // Statements in flight get the grace period to finish; then what
        // still runs is cancelled, and ended if it ignores the cancel.
        let patience = tokio::time::Instant::now() + self.grace_period.saturating_sub(Duration::from_millis(500));
        while self.registry.any_running() && tokio::time::Instant::now() < patience {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let sessions = self.registry.drain();
        tracing::info!(sessions = sessions.len(), "shutting down: closing sessions");
        close_all(sessions, Duration::from_millis(1500)).await;
        tracing::info!("all sessions closed");
    }
}
