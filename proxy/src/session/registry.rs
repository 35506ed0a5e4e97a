//! All live sessions, with the global and per-identity limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Session, SessionId, lock};

/// A limit that stops a new session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// `--max-sessions` reached.
    #[error("pgdoor has {0} open sessions, its limit: try again when others have closed")]
    Total(usize),
    /// `--max-sessions-per-user` reached.
    #[error(
        "you have {0} open sessions, the limit per person: close another tab (or wait for it to expire) and try again"
    )]
    PerUser(usize),
}

/// The live sessions.
pub struct Registry {
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
    max_total: usize,
    max_per_user: usize,
}

impl Registry {
    /// An empty registry with these limits.
    pub fn new(max_total: usize, max_per_user: usize) -> Self {
        Registry { sessions: Mutex::new(HashMap::new()), max_total, max_per_user }
    }

    /// Whether one more session for `identity` fits.
    pub fn check_limits(&self, identity: Option<&str>) -> Result<(), LimitError> {
        let sessions = lock(&self.sessions);
        Self::fits(&sessions, identity, self.max_total, self.max_per_user)
    }

    fn fits(
        sessions: &HashMap<SessionId, Arc<Session>>,
        identity: Option<&str>,
        max_total: usize,
        max_per_user: usize,
    ) -> Result<(), LimitError> {
        if sessions.len() >= max_total {
            return Err(LimitError::Total(max_total));
        }
        if let Some(who) = identity {
            let theirs = sessions.values().filter(|s| s.identity.as_deref() == Some(who)).count();
            if theirs >= max_per_user {
                return Err(LimitError::PerUser(max_per_user));
            }
        }
        Ok(())
    }

    /// Adds a session if the limits allow (checked again: connects run concurrently).
    pub fn insert(&self, session: Arc<Session>) -> Result<(), LimitError> {
        let mut sessions = lock(&self.sessions);
        Self::fits(&sessions, session.identity.as_deref(), self.max_total, self.max_per_user)?;
        sessions.insert(session.id, session);
        Ok(())
    }

    /// A session by id.
    pub fn get(&self, id: &SessionId) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Removes a session; the caller closes it.
    pub fn remove(&self, id: &SessionId) -> Option<Arc<Session>> {
        lock(&self.sessions).remove(id)
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        lock(&self.sessions).is_empty()
    }

    /// Removes and returns the sessions idle or alive for too long.
    pub fn take_expired(&self, idle: Option<Duration>, lifetime: Option<Duration>) -> Vec<Arc<Session>> {
        let mut sessions = lock(&self.sessions);
        let expired: Vec<SessionId> = sessions
            .values()
            .filter(|s| idle.is_some_and(|d| s.idle_for() >= d) || lifetime.is_some_and(|d| s.age() >= d))
            .map(|s| s.id)
            .collect();
        expired.iter().filter_map(|id| sessions.remove(id)).collect()
    }

    /// True while any session runs a statement.
    pub fn any_running(&self) -> bool {
        lock(&self.sessions).values().any(|s| s.is_running())
    }

    /// Removes and returns every session (at shutdown).
    pub fn drain(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).drain().map(|(_, s)| s).collect()
    }
}
