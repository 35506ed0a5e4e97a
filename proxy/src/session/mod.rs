//! Sessions: one per browser tab, created only by `/connect`, each holding a
//! stateful connection for the person's SQL and, once needed, a second one
//! for catalog reads so the sidebar stays live while a long query runs.

mod id;
mod reaper;
mod registry;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use crate::pg::{CancelToken, Connection};

pub use id::{BindingKey, SessionId, short_hash};
pub use reaper::Reaper;
pub use registry::{LimitError, Registry};

/// One statement from this session's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// The SQL as run.
    pub query: String,
    /// When it ran, RFC 3339.
    pub timestamp: String,
}

/// A live session.
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The browser it belongs to, when binding is on.
    pub binding: Option<BindingKey>,
    /// The resource it was opened for.
    pub resource: String,
    /// The database name (for the audit log).
    pub database: String,
    /// Who opened it (the identity header's value).
    pub identity: Option<String>,
    /// No SQL may write.
    pub readonly: bool,
    /// A name for the UI.
    pub label: Option<String>,
    /// The connection for the person's SQL; `None` after it was closed
    /// (credential expired), until the next request reconnects.
    pub editor: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// The connection for catalog reads, opened on first use.
    pub meta: tokio::sync::Mutex<Option<Connection>>,
    editor_cancel: Mutex<Option<CancelToken>>,
    expires_at: Mutex<Option<OffsetDateTime>>,
    created: Instant,
    last_used: Mutex<Instant>,
    history: Mutex<Vec<HistoryEntry>>,
}

/// What a new session starts with.
pub struct NewSession {
    /// Resource name.
    pub resource: String,
    /// Database name.
    pub database: String,
    /// Identity header value.
    pub identity: Option<String>,
    /// Read-only.
    pub readonly: bool,
    /// Label.
    pub label: Option<String>,
    /// Credential expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Browser binding.
    pub binding: Option<BindingKey>,
}

impl Session {
    /// A session around an open editor connection.
    pub fn new(fields: NewSession, editor: Connection) -> Self {
        let now = Instant::now();
        Session {
            id: SessionId::random(),
            binding: fields.binding,
            resource: fields.resource,
            database: fields.database,
            identity: fields.identity,
            readonly: fields.readonly,
            label: fields.label,
            editor_cancel: Mutex::new(Some(editor.cancel_token().clone())),
            editor: Arc::new(tokio::sync::Mutex::new(Some(editor))),
            meta: tokio::sync::Mutex::new(None),
            expires_at: Mutex::new(fields.expires_at),
            created: now,
            last_used: Mutex::new(now),
            history: Mutex::new(Vec::new()),
        }
    }

    /// True when the request's binding cookie is this session's (or binding is off).
    pub fn accepts(&self, cookie: Option<BindingKey>) -> bool {
        match (&self.binding, cookie) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine.matches(&theirs),
            (Some(_), None) => false,
        }
    }

    /// Marks the session as used now.
    pub fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    /// Time since the last request.
    pub fn idle_for(&self) -> Duration {
        lock(&self.last_used).elapsed()
    }

    /// Time since `/connect`.
    pub fn age(&self) -> Duration {
        self.created.elapsed()
    }

    /// True once the credential's `expires_at` has passed.
    pub fn credential_expired(&self) -> bool {
        lock(&self.expires_at).is_some_and(|at| at <= OffsetDateTime::now_utc())
    }

    /// Records a new credential's expiry after a reconnect.
    pub fn renewed(&self, expires_at: Option<OffsetDateTime>) {
        *lock(&self.expires_at) = expires_at;
    }

    /// Records the cancel key of a newly opened editor connection.
    pub fn editor_opened(&self, editor: &Connection) {
        *lock(&self.editor_cancel) = Some(editor.cancel_token().clone());
    }

    /// The server process id of the editor connection, when it is open.
    pub fn editor_pid(&self) -> Option<i32> {
        lock(&self.editor_cancel).as_ref().map(CancelToken::process_id)
    }

    /// Cancels the statement running on the editor connection, if any.
    pub async fn cancel(&self) -> bool {
        let token = lock(&self.editor_cancel).clone();
        match token {
            Some(token) => token.cancel().await.is_ok(),
            None => false,
        }
    }

    /// Appends to the history.
    pub fn remember(&self, query: &str) {
        let timestamp =
            OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        lock(&self.history).push(HistoryEntry { query: query.to_owned(), timestamp });
    }

    /// The history, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        lock(&self.history).clone()
    }

    /// Closes both connections: cancels what runs, waits for it, sends Terminate.
    pub async fn close(&self) {
        self.close_after(Duration::ZERO).await;
    }

    /// Closes both connections once the running statement has finished,
    /// cancelling it if that takes longer than `patience`.
    pub async fn close_after(&self, patience: Duration) {
        let mut editor = match tokio::time::timeout(patience, self.editor.lock()).await {
            Ok(editor) => editor,
            Err(_) => {
                self.cancel().await;
                self.editor.lock().await
            }
        };
        if let Some(conn) = editor.take() {
            conn.close().await;
        }
        if let Some(conn) = self.meta.lock().await.take() {
            conn.close().await;
        }
    }

    /// Closes the connections but keeps the session: the next request reconnects.
    pub async fn drop_connections(&self) {
        self.close().await;
        *lock(&self.editor_cancel) = None;
    }
}

/// Locks a std mutex, ignoring poisoning: the data stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
