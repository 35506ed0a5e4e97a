//! The cookie that binds sessions to the browser that opened them. It holds
//! the keys of this browser's live sessions, newest first. `/connect`
//! always mints a fresh key for its session on the server: a key the
//! browser already sends (perhaps planted by someone else) is kept for the
//! sessions it binds, never adopted for a new one.

use crate::app::App;
use crate::http::Request;
use crate::session::BindingKey;

/// The cookie's name over plain HTTP.
const PLAIN: &str = "pgdoor_bind";

/// The cookie's name when the browser sees HTTPS: `__Host-` makes the
/// browser refuse it unless it is `Secure`, host-only and for `/`, so no
/// sibling domain and no plain-HTTP page can set it.
const SECURE: &str = "__Host-pgdoor_bind";

/// Keys kept per browser (33 bytes each, so the cookie stays near 2 KB, well
/// under browsers' 4 KB): the oldest live session past this many loses its binding.
const MAX_KEYS: usize = 64;

/// Every key the browser sent, from either cookie.
pub fn keys(request: &Request) -> Vec<BindingKey> {
    [SECURE, PLAIN]
        .iter()
        .filter_map(|name| request.cookie(name))
        .flat_map(|value| value.split('.').filter_map(BindingKey::parse).collect::<Vec<_>>())
        .collect()
}

/// A `Cookie` header without the binding cookies, for requests that leave
/// pgdoor (`--upstream`); `None` when nothing else is left.
pub fn strip(header: &str) -> Option<String> {
    let kept: Vec<String> = cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .filter(|c| c.name() != PLAIN && c.name() != SECURE)
        .map(|c| c.stripped().to_string())
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// True when the browser reached pgdoor over HTTPS: pgdoor's own TLS, or a
/// trusted proxy that says so.
pub fn secure(app: &App, request: &Request) -> bool {
    app.config.tls.is_some()
        || request.forwarded_header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that adds `key` to this browser's keys, dropping
/// those of sessions that have ended.
pub fn set_cookie(app: &App, request: &Request, key: BindingKey) -> String {
    let mut all = vec![key];
    all.extend(keys(request).into_iter().filter(|k| !k.matches(&key) && app.sessions.binds(k)));
    all.truncate(MAX_KEYS);
    let value = all.iter().map(|k| k.to_cookie_value()).collect::<Vec<_>>().join(".");
    // Framed by another origin, the cookie must be sent cross-site; framed
    // by nobody or only by pgdoor's own origin, it never needs to be.
    let framed = !matches!(app.config.frame_ancestors.trim(), "'self'" | "'none'");
    let secure = secure(app, request) || framed;
    let (name, path) = if secure { (SECURE, "/".to_owned()) } else { (PLAIN, format!("{}/", app.config.prefix)) };
    let mut cookie = cookie::Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(if framed { cookie::SameSite::None } else { cookie::SameSite::Lax })
        .build();
    if framed {
        cookie.set_partitioned(true);
    }
    cookie.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_drops_only_the_binding_cookies() {
        assert_eq!(strip("a=1; pgdoor_bind=ab; __Host-pgdoor_bind=cd; b=2").as_deref(), Some("a=1; b=2"));
        assert_eq!(strip("pgdoor_bind=ab"), None);
    }
}
