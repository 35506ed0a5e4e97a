//! Entry points for the fuzz targets in `tests/fuzz/` (feature `fuzzing`):
//! each takes arbitrary bytes and checks what must hold for any input.

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::api::fuzzing as api;
use crate::http::Request;

/// A GET with `query` as its query string.
fn get(path: &str, query: &[u8]) -> Request {
    Request {
        method: Method::GET,
        path: path.to_owned(),
        query: String::from_utf8_lossy(query).into_owned(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        trusted: false,
        client: None,
    }
}

/// The rows API's parameters: whatever they say, the SQL built from the
/// structured ones (not pgweb's raw `where`) quotes every name and binds the
/// value, so outside double-quoted identifiers it has no quote, semicolon or comment.
pub fn rows_parameters(input: &[u8]) {
    let (table, query) = match input.iter().position(|b| *b == b'\n') {
        Some(at) => (String::from_utf8_lossy(&input[..at]).into_owned(), &input[at + 1..]),
        None => ("public.t".to_owned(), input),
    };
    let request = get("/api/tables/t/rows", query);
    let Some((sql, raw_where)) = api::rows_sql(&request, &table) else { return };
    if raw_where {
        return;
    }
    let outside = outside_identifiers(&sql);
    assert!(
        !outside.contains(['\'', ';']) && !outside.contains("--") && !outside.contains("/*"),
        "user text escaped its quoting: {sql}"
    );
}

/// `sql` with every double-quoted identifier removed; panics when a quote is left open.
fn outside_identifiers(sql: &str) -> String {
    let mut outside = String::new();
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, c) => outside.push(c),
            (true, _) => {}
        }
    }
    assert!(!quoted, "an identifier left open: {sql}");
    outside
}

/// pgweb's base64 download links: decoding never fails loudly, and text
/// that is not such a link comes back as it was.
pub fn download_link(input: &[u8]) {
    let sql = String::from_utf8_lossy(input).into_owned();
    let mut query = b"format=csv&query=".to_vec();
    query.extend(
        percent_encoding::percent_encode(sql.as_bytes(), percent_encoding::NON_ALPHANUMERIC).to_string().bytes(),
    );
    let request = get("/api/query", &query);
    let decoded = api::download_query(&request, sql.clone());
    let alphabet = sql.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    assert!(alphabet || decoded == sql, "text outside the link alphabet was changed: {sql:?} -> {decoded:?}");
}
