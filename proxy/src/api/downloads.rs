//! Downloads the UI starts as a form POST into a hidden frame, so the
//! browser streams the file to disk: `POST /api/downloads` mints an id, the
//! download's request carries it as `download=<id>`, and
//! `GET /api/downloads/{id}` tells the page how it went.

use std::sync::Arc;

use serde_json::json;

use super::error::ApiError;
use super::export::Format;
use super::routes::OnSession;
use crate::http::{Body, Request, Response};
use crate::rescue;
use crate::session::{Progress, Session};

/// True when the request asks for a file, or an id for one: a dump, or any
/// route with a download `format` (results, table rows, plans).
pub fn wanted(request: &Request, route: OnSession) -> bool {
    matches!(route, OnSession::Export | OnSession::NewDownload) || !matches!(Format::from_request(request), Ok(None))
}

/// `POST /api/downloads`: a new id for one download.
pub fn mint(session: &Session) -> Response {
    Response::json(201, &json!({"id": session.downloads.mint()}))
}

/// `GET /api/downloads/{id}`: its state, bytes sent so far, and rows or error.
pub fn status(session: &Session, id: &str) -> Result<Response, ApiError> {
    let progress = session.downloads.get(id).ok_or(ApiError::NotFound)?;
    Ok(Response::json(200, &progress.report()))
}

/// The download this request produces, when it names one (`download=<id>`).
pub fn named(session: &Session, request: &Request) -> Result<Option<Arc<Progress>>, ApiError> {
    let Some(id) = request.param("download").filter(|id| !id.is_empty()) else { return Ok(None) };
    session.downloads.get(&id).map(Some).ok_or(ApiError::UnknownDownload)
}

/// Claims the request's download for the stream that sends it.
pub fn claim(session: &Session, request: &Request) -> Result<Tracker, ApiError> {
    let Some(progress) = named(session, request)? else { return Ok(Tracker(None)) };
    if !progress.start() {
        return Err(ApiError::DownloadUsed);
    }
    Ok(Tracker(Some(progress)))
}

/// What a streamed answer tells its download, when the request named one
/// (otherwise each call does nothing).
pub struct Tracker(Option<Arc<Progress>>);

impl Tracker {
    /// `n` more bytes went out.
    pub fn sent(&self, n: usize) {
        self.0.iter().for_each(|p| p.sent(n));
    }

    /// Every byte went out.
    pub fn done(&self, rows: Option<u64>) {
        self.0.iter().for_each(|p| p.done(rows));
    }

    /// It failed or was cut, and why (`code`: the API's error code).
    pub fn failed(&self, error: &str, code: &'static str) {
        self.0.iter().for_each(|p| p.failed(error, code));
    }
}

/// After the route answered: a download nobody streamed ends here, with the
/// error, or as done when the answer was a whole file.
pub fn settle(progress: &Progress, answer: &Result<Response, ApiError>) {
    match answer {
        Err(error) => progress.failed(error.to_string(), rescue::api_code(error)),
        Ok(response) if progress.is_waiting() => match &response.body {
            Body::Full(bytes) if response.status < 400 => {
                progress.sent(bytes.len());
                progress.done(None);
            }
            Body::Full(_) => progress.failed(format!("pgdoor answered HTTP {}", response.status), "http_error"),
            Body::Stream(_) => {}
        },
        Ok(_) => {}
    }
}
