//! The background task that closes expired sessions cleanly, drops
//! connections whose credential expired, and closes everything at shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::Registry;

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

    async fn sweep(&self) {
        for session in self.registry.take_expired(self.idle_timeout, self.lifetime) {
            tracing::info!(session = %session.id.short_hash(), "session expired and closed");
            session.close().await;
        }
        for session in self.registry.with_expired_credentials() {
            let open = session.editor.try_lock().is_ok_and(|editor| editor.is_some());
            if open {
                tracing::info!(session = %session.id.short_hash(), "credential expired: connections closed until the next request");
                session.drop_connections().await;
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Reaper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticker = tokio::time::interval(self.tick());
        loop {
            tokio::select! {
                _ = ticker.tick() => self.sweep().await,
                _ = shutdown.changed() => break,
            }
        }
        // Requests in flight finish first: each session closes when its statement is done.
        let sessions = self.registry.drain();
        tracing::info!(sessions = sessions.len(), "shutting down: closing sessions as their statements finish");
        let deadline = tokio::time::Instant::now() + self.grace_period.saturating_sub(Duration::from_millis(500));
        for session in sessions {
            let patience = deadline.saturating_duration_since(tokio::time::Instant::now());
            session.close_after(patience).await;
        }
        tracing::info!("all sessions closed");
    }
}
