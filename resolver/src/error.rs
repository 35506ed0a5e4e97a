//! Resolver errors: [`ResolveError`] for one request, [`BuildError`] for a
//! configuration that cannot work.

use std::path::PathBuf;
use std::time::Duration;

/// Why a resource could not be resolved. Each variant maps to one clear page
/// for the person and one log line for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The backend could not be reached (refused, DNS, TLS, program missing).
    #[error("the credential backend could not be reached: {0}")]
    Unreachable(String),
    /// The backend did not answer in time.
    #[error("the credential backend did not answer within {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    /// The backend answered, and said no.
    #[error("the credential backend refused: {reason}")]
    Refused {
        /// The HTTP status it answered with, for HTTP backends.
        status: Option<u16>,
        /// What it said, for the operator's log.
        reason: String,
    },
    /// The resource is not known to the backend. The message leaves the name
    /// out: a resource can be a customer's token, and messages reach the log.
    #[error("the resource is not known to the credential service")]
    UnknownResource(String),
    /// The answer cannot be used (bad JSON, no `database_url`, a malformed field, too large).
    #[error("the credential backend's answer is invalid: {0}")]
    Invalid(String),
}

impl ResolveError {
    /// True when the backend knows nothing of the resource (unknown, or HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ResolveError::UnknownResource(_) | ResolveError::Refused { status: Some(404), .. })
    }
}

/// Why a resolver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The resource map is broken; the message points at the line.
    #[error("{path}: {message}")]
    ResourceMap {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A certificate or key for the HTTPS client is unusable.
    #[error("{0}")]
    Tls(String),
    /// The exec program is unusable.
    #[error("{0}")]
    Program(String),
}
