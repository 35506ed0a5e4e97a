//! Shutting down in order, within drain + grace + about 2 seconds whatever
//! the number of sessions:
//!
//! 1. **Draining** (`--drain-delay`): everything is still served, but
//!    `/readyz` fails, so load balancers stop sending new requests.
//! 2. **Stopping**: `/connect` opens no session and every answer closes its
//!    connection; requests in flight get up to `--grace-period` to finish.
//! 3. Every session closes concurrently within [`CLOSE_DEADLINE`]: running
//!    statements are cancelled and both connections get Terminate.
//!
//! A second SIGTERM or SIGINT skips what is left of the waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::session::Registry;

/// How long all sessions together get to close at the end.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

const SERVING: u8 = 0;
const DRAINING: u8 = 1;
const STOPPING: u8 = 2;

/// Where the process is in its life, and how many requests are in flight.
#[derive(Default)]
pub struct Lifecycle {
    phase: AtomicU8,
    in_flight: AtomicUsize,
    settled: Notify,
}

impl Lifecycle {
    /// True until shutdown starts (what `/readyz` reports).
    pub fn ready(&self) -> bool {
        self.phase.load(Ordering::Acquire) == SERVING
    }

    /// True once requests in flight are being finished: no new sessions, no keep-alive.
    pub fn stopping(&self) -> bool {
        self.phase.load(Ordering::Acquire) == STOPPING
    }

    /// Counts a request as in flight until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Resolves once no request is in flight.
    async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A request in flight; see [`Lifecycle::request`].
pub struct InFlight(Arc<Lifecycle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

/// The shutdown sequence's parts and timings.
pub struct Shutdown {
    /// Shared with the front door.
    pub lifecycle: Arc<Lifecycle>,
    /// The sessions to close at the end.
    pub sessions: Arc<Registry>,
    /// `--drain-delay`.
    pub drain_delay: Duration,
    /// `--grace-period`.
    pub grace_period: Duration,
}

impl Shutdown {
    /// Steps 1 and 2: drain, then wait for requests in flight (at most the grace period).
    pub async fn settle(&self) {
        if !self.drain_delay.is_zero() {
            self.lifecycle.phase.store(DRAINING, Ordering::Release);
            tracing::info!(
                seconds = self.drain_delay.as_secs_f64(),
                "draining: /readyz fails, requests are still served"
            );
            tokio::time::sleep(self.drain_delay).await;
        }
        self.lifecycle.phase.store(STOPPING, Ordering::Release);
        let in_flight = self.lifecycle.in_flight.load(Ordering::Acquire);
        tracing::info!(in_flight, "stopping: finishing requests in flight, opening no new session");
        if tokio::time::timeout(self.grace_period, self.lifecycle.settled()).await.is_err() {
            let left = self.lifecycle.in_flight.load(Ordering::Acquire);
            tracing::warn!(left, "the grace period ended with requests in flight: their sessions close now");
        }
    }

    /// Step 3: close every session (the registry then takes no more).
    pub async fn close_sessions(&self) {
        self.lifecycle.phase.store(STOPPING, Ordering::Release);
        let sessions = self.sessions.len();
        tracing::info!(sessions, "shutting down: closing sessions");
        match self.sessions.close_all(CLOSE_DEADLINE).await {
            0 => tracing::info!("all sessions closed"),
            late => tracing::warn!(late, "some sessions did not close in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settles_when_the_last_request_ends() {
        let lifecycle = Arc::new(Lifecycle::default());
        let first = lifecycle.request();
        let second = lifecycle.request();
        let waiting = tokio::spawn({
            let lifecycle = lifecycle.clone();
            async move { lifecycle.settled().await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one request is still in flight");
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("settled").unwrap();
    }

    #[tokio::test]
    async fn phases_move_from_ready_to_stopping() {
        let lifecycle = Arc::new(Lifecycle::default());
        let shutdown = Shutdown {
            lifecycle: lifecycle.clone(),
            sessions: Arc::new(Registry::new(10, 10)),
            drain_delay: Duration::from_millis(200),
            grace_period: Duration::from_secs(1),
        };
        assert!(lifecycle.ready() && !lifecycle.stopping());
        let settling = tokio::spawn(async move { shutdown.settle().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!lifecycle.ready() && !lifecycle.stopping(), "draining");
        settling.await.unwrap();
        assert!(lifecycle.stopping());
    }
}
