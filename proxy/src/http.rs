//! The request and response types the handlers see: plain data, so every
//! handler can be read (and tested) without pingora in the way. `door.rs`
//! converts to and from pingora's session.

use std::net::IpAddr;

use bytes::Bytes;
use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use tokio::sync::mpsc;

/// One request, its body already read (and capped).
pub struct Request {
    /// The HTTP method.
    pub method: Method,
    /// The path with the `--prefix` removed, always starting with `/`.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body (empty for GET).
    pub body: Bytes,
    /// Whether the peer's forwarded headers (X-Forwarded-*, identity) are trusted.
    pub trusted: bool,
    /// The client's address behind any trusted proxies (see `peer::client_address`).
    pub client: Option<IpAddr>,
}

impl Request {
    /// A request parameter as pgweb reads it: the urlencoded body wins over the
    /// query string. Unknown parameters are simply never asked for.
    pub fn param(&self, name: &str) -> Option<String> {
        let from_body = self.is_form().then(|| lookup(&self.body, name)).flatten();
        from_body.or_else(|| lookup(self.query.as_bytes(), name))
    }

    /// True when the body is an urlencoded form.
    pub fn is_form(&self) -> bool {
        self.header("content-type").is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    }

    /// A parameter from the query string only.
    pub fn query_param(&self, name: &str) -> Option<String> {
        lookup(self.query.as_bytes(), name)
    }

    /// A header as a string, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A forwarded header (identity, X-Forwarded-For): `None` unless the peer is trusted.
    pub fn forwarded_header(&self, name: &str) -> Option<&str> {
        if self.trusted { self.header(name) } else { None }
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }

    /// True when the client asked for JSON rather than a page.
    pub fn wants_json(&self) -> bool {
        let accept = self.header("accept").unwrap_or_default();
        accept.contains("application/json") && !accept.contains("text/html")
    }
}

fn lookup(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// What a streaming producer sends: data, or the failure that ends it.
pub enum Chunk {
    /// The next piece of the body.
    Data(Bytes),
    /// The producer failed: before any data this becomes the whole answer;
    /// after some, the download is cut off so it cannot look complete.
    Failed(Box<Response>),
}

/// A response body: whole, or streamed from a producer task.
pub enum Body {
    /// All at once.
    Full(Bytes),
    /// Chunks as they are produced; the channel's bound gives backpressure.
    Stream(mpsc::Receiver<Chunk>),
}

/// One response.
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers (security headers are added by the door).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response with a body and content type.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            headers: vec![(HeaderName::from_static("content-type"), HeaderValue::from_static(content_type))],
            body: Body::Full(body.into()),
        }
    }

    /// JSON, never cached.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response::new(status, "application/json; charset=utf-8", body).header("cache-control", "no-store")
    }

    /// Plain text.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    /// A 302 to `location`, never cached.
    pub fn redirect(location: &str) -> Self {
        Response { status: 302, headers: Vec::new(), body: Body::Full(Bytes::new()) }
            .header("location", location)
            .header("cache-control", "no-store")
    }

    /// A streamed response: headers now, body from `chunks`.
    pub fn stream(content_type: &'static str, chunks: mpsc::Receiver<Chunk>) -> Self {
        let mut response = Response::new(200, content_type, Bytes::new());
        response.body = Body::Stream(chunks);
        response
    }

    /// Adds a header; values that are not valid header text are dropped.
    pub fn header(mut self, name: &'static str, value: impl AsRef<str>) -> Self {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, body: &str, form: bool) -> Request {
        let mut headers = HeaderMap::new();
        if form {
            headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
        }
        headers.insert("cookie", HeaderValue::from_static("a=1; pgdoor_bind=xyz"));
        Request {
            method: Method::POST,
            path: "/api/query".into(),
            query: query.into(),
            headers,
            body: Bytes::from(body.to_owned()),
            trusted: false,
            client: None,
        }
    }

    #[test]
    fn body_wins_over_query_string_as_in_pgweb() {
        let r = request("query=SELECT+1&_=123&format=csv", "query=SELECT%202", true);
        assert_eq!(r.param("query").as_deref(), Some("SELECT 2"));
        assert_eq!(r.param("format").as_deref(), Some("csv"));
        assert_eq!(r.query_param("query").as_deref(), Some("SELECT 1"));
        let not_form = request("query=a", "query=b", false);
        assert_eq!(not_form.param("query").as_deref(), Some("a"));
    }

    #[test]
    fn cookies_and_untrusted_forwarded_headers() {
        let mut r = request("", "", false);
        assert_eq!(r.cookie("pgdoor_bind").as_deref(), Some("xyz"));
        r.headers.insert("x-forwarded-email", HeaderValue::from_static("a@example.com"));
        assert_eq!(r.forwarded_header("x-forwarded-email"), None);
        r.trusted = true;
        assert_eq!(r.forwarded_header("x-forwarded-email"), Some("a@example.com"));
    }
}
