//! Small HTML pages for people: errors on `/connect` and elsewhere. Every
//! piece of text is escaped; the one stylesheet is inline and allowed by its
//! hash in the page's Content-Security-Policy, so nothing else inline runs.

use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::http::Response;

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;\
background:#f6f7f9;color:#1d2330}main{max-width:34rem;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 1px 3px #0002}h1{font-size:1.3rem;margin:0 0 .5rem}.code{color:#6b7280;font-size:.85rem}\
@media (prefers-color-scheme:dark){body{background:#111418;color:#e6e8eb}main{background:#1b1f24}}";

/// The CSP for these pages: nothing but the inline style above.
pub fn content_security_policy(frame_ancestors: &str) -> String {
    static STYLE_HASH: OnceLock<String> = OnceLock::new();
    let hash = STYLE_HASH.get_or_init(|| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE)));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'none'"
    )
}

/// An error page: what happened, and what to do.
pub fn error(status: u16, title: &str, message: &str, advice: &str) -> Response {
    let esc = |s: &str| html_escape::encode_text(s).into_owned();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · pgdoor</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1><p>{message}</p><p>{advice}</p><p class=\"code\">HTTP {status}</p></main></body></html>",
        title = esc(title),
        message = esc(message),
        advice = esc(advice),
    );
    Response::new(status, "text/html; charset=utf-8", body).header("cache-control", "no-store")
}
