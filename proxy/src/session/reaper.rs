//! The background task that ends sessions idle or alive too long. (At
//! shutdown the server closes every session itself: see `shutdown.rs`.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::Registry;

/// Runs as a pingora background service. Each session has its own idle
/// timeout and lifetime (its policy: the flags, or shorter).
pub struct Reaper {
    /// The sessions to watch.
    pub registry: Arc<Registry>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--session-lifetime`.
    pub lifetime: Option<Duration>,
}

impl Reaper {
    /// How often to look: a quarter of the shortest flag, between 250 ms and
    /// 5 s (a backend may give a session a shorter limit than the flags).
    fn tick(&self) -> Duration {
        let shortest =
            [self.idle_timeout, self.lifetime].into_iter().flatten().min().unwrap_or(Duration::from_secs(120));
        (shortest / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }

    fn sweep(&self) {
        for session in self.registry.take_expired() {
            tracing::info!(session = %session.id.short_hash(), "session expired and closed");
            // Each closes on its own task: a stuck one holds up nobody.
            tokio::spawn(async move { session.close().await });
        }
    }
}

#[async_trait]
impl BackgroundService for Reaper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticker = tokio::time::interval(self.tick());
        loop {
            tokio::select! {
                _ = ticker.tick() => self.sweep(),
                _ = shutdown.changed() => return,
            }
        }
    }
}
