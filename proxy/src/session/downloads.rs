//! What a session's downloads did. The UI starts a download as a navigation
//! (so the browser streams it to disk) and cannot read that response: it
//! asks here instead, by an id pgdoor minted, for the bytes sent so far and
//! the outcome. The last [`MAX_TRACKED`] downloads are kept.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::lock;

/// Downloads remembered per session; older ones are forgotten.
pub const MAX_TRACKED: usize = 16;

/// A session's recent downloads.
#[derive(Default)]
pub struct Downloads {
    recent: Mutex<VecDeque<(String, Arc<Progress>)>>,
}

impl Downloads {
    /// A new download id, waiting for its request.
    pub fn mint(&self) -> String {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        let id = hex::encode(bytes);
        let mut recent = lock(&self.recent);
        if recent.len() >= MAX_TRACKED {
            recent.pop_front();
        }
        recent.push_back((id.clone(), Arc::default()));
        id
    }

    /// The download with this id, if it is one of the recent ones.
    pub fn get(&self, id: &str) -> Option<Arc<Progress>> {
        lock(&self.recent).iter().find(|(known, _)| known == id).map(|(_, progress)| progress.clone())
    }
}

/// Where one download stands.
#[derive(Default)]
pub struct Progress {
    bytes: AtomicU64,
    state: Mutex<State>,
}

/// A download's state, as `GET /api/downloads/{id}` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    /// Minted; its request has not arrived yet.
    #[default]
    Waiting,
    /// Its request arrived and the file is being sent.
    Running,
    /// Every byte was sent.
    Done {
        /// Rows in the file, when it holds rows.
        rows: Option<u64>,
    },
    /// It failed or was cut; the file is incomplete.
    Failed {
        /// What happened, for the person.
        error: String,
        /// Its machine-readable kind (the API's error codes).
        code: &'static str,
    },
}

/// What a report says.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The state and its details.
    #[serde(flatten)]
    pub state: State,
    /// Bytes sent so far.
    pub bytes: u64,
}

impl Progress {
    /// Claims the download for the request that produces it; false when
    /// another request already did (an id works once).
    pub fn start(&self) -> bool {
        let mut state = lock(&self.state);
        let waiting = *state == State::Waiting;
        if waiting {
            *state = State::Running;
        }
        waiting
    }

    /// `n` more bytes went out.
    pub fn sent(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// It ended well (unless it had already ended).
    pub fn done(&self, rows: Option<u64>) {
        self.finish(State::Done { rows });
    }

    /// It failed (unless it had already ended); `code` is the API's error code.
    pub fn failed(&self, error: impl Into<String>, code: &'static str) {
        self.finish(State::Failed { error: error.into(), code });
    }

    fn finish(&self, outcome: State) {
        let mut state = lock(&self.state);
        if matches!(*state, State::Waiting | State::Running) {
            *state = outcome;
        }
    }

    /// True until it was claimed.
    pub fn is_waiting(&self) -> bool {
        *lock(&self.state) == State::Waiting
    }

    /// The current report.
    pub fn report(&self) -> Report {
        Report { state: lock(&self.state).clone(), bytes: self.bytes.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_works_once_and_the_first_outcome_stays() {
        let downloads = Downloads::default();
        let id = downloads.mint();
        assert_eq!(id.len(), 32);
        let progress = downloads.get(&id).unwrap();
        assert!(progress.is_waiting());
        assert!(progress.start());
        assert!(!downloads.get(&id).unwrap().start(), "a second request cannot reuse the id");
        progress.sent(10);
        progress.failed("cut", "abandoned");
        progress.done(Some(3));
        let report = serde_json::to_value(progress.report()).unwrap();
        assert_eq!(report, serde_json::json!({"state": "failed", "error": "cut", "code": "abandoned", "bytes": 10}));
        assert!(downloads.get("0123").is_none());
    }

    #[test]
    fn only_the_recent_ones_are_kept() {
        let downloads = Downloads::default();
        let first = downloads.mint();
        for _ in 0..MAX_TRACKED {
            downloads.mint();
        }
        assert!(downloads.get(&first).is_none());
        assert_eq!(lock(&downloads.recent).len(), MAX_TRACKED);
    }
}
