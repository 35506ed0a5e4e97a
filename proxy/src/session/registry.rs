//! All live sessions, with the global and per-identity limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::{BindingKey, ConnectError, Session, SessionId, lock};

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
    /// `None` once closed at shutdown: no session may be added after that.
    sessions: Mutex<Option<HashMap<SessionId, Arc<Session>>>>,
    max_total: usize,
    max_per_user: usize,
}

impl Registry {
    /// An empty registry with these limits.
    pub fn new(max_total: usize, max_per_user: usize) -> Self {
        Registry { sessions: Mutex::new(Some(HashMap::new())), max_total, max_per_user }
    }

    /// Whether one more session for `identity` fits.
    pub fn check_limits(&self, identity: Option<&str>) -> Result<(), ConnectError> {
        let sessions = lock(&self.sessions);
        let sessions = sessions.as_ref().ok_or(ConnectError::ShuttingDown)?;
        Ok(Self::fits(sessions, identity, self.max_total, self.max_per_user)?)
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

    /// Adds a session if the limits allow (checked again: connects run
    /// concurrently) and the registry is not closed.
    pub fn insert(&self, session: Arc<Session>) -> Result<(), ConnectError> {
        let mut sessions = lock(&self.sessions);
        let sessions = sessions.as_mut().ok_or(ConnectError::ShuttingDown)?;
        Self::fits(sessions, session.identity.as_deref(), self.max_total, self.max_per_user)?;
        sessions.insert(session.id, session);
        Ok(())
    }

    /// A session by id.
    pub fn get(&self, id: &SessionId) -> Option<Arc<Session>> {
        lock(&self.sessions).as_ref()?.get(id).cloned()
    }

    /// True when a live session is bound by `key`.
    pub fn binds(&self, key: &BindingKey) -> bool {
        lock(&self.sessions)
            .as_ref()
            .is_some_and(|all| all.values().any(|s| s.binding.is_some_and(|mine| mine.matches(key))))
    }

    /// Removes a session; the caller closes it.
    pub fn remove(&self, id: &SessionId) -> Option<Arc<Session>> {
        lock(&self.sessions).as_mut()?.remove(id)
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        lock(&self.sessions).as_ref().map_or(0, HashMap::len)
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns the sessions idle or alive for too long.
    pub fn take_expired(&self) -> Vec<Arc<Session>> {
        let mut sessions = lock(&self.sessions);
        let Some(sessions) = sessions.as_mut() else { return Vec::new() };
        let expired: Vec<SessionId> = sessions
            .values()
            .filter(|s| {
                s.policy.idle_timeout.is_some_and(|d| s.idle_for() >= d)
                    || s.policy.lifetime.is_some_and(|d| s.age() >= d)
            })
            .map(|s| s.id)
            .collect();
        expired.iter().filter_map(|id| sessions.remove(id)).collect()
    }

    /// Closes the registry (no session can be added after this) and ends
    /// every session concurrently; returns once all are closed or `deadline`
    /// passed, with how many did not close in time.
    pub async fn close_all(&self, deadline: Duration) -> usize {
        let sessions = lock(&self.sessions).take().unwrap_or_default();
        let mut closing = JoinSet::new();
        for session in sessions.into_values() {
            closing.spawn(async move { session.close().await });
        }
        let all = async { while closing.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(deadline, all).await;
        closing.len()
    }
}
