//! Where a page of rows starts. On a primary-key order a page is found by
//! its neighbour's key (keyset paging): the rows after or before a key, or
//! the last page, each read from the index however deep it lies. Any other
//! order, and pgweb's raw `where`, page by offset.

use serde_json::Value;

use super::error::ApiError;
use crate::http::Request;

/// Values one key may hold: PostgreSQL's own limit on index columns.
const MAX_KEY_COLUMNS: usize = 32;

/// Bytes one key value may hold.
const MAX_KEY_VALUE_BYTES: usize = 8 * 1024;

/// Where the page starts, as the request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// `offset` rows in (pgweb's paging, and page jumps).
    Offset,
    /// Right after the row with this key (`after`).
    After(Vec<String>),
    /// Right before the row with this key (`before`).
    Before(Vec<String>),
    /// The last page (`page=last`).
    Last,
}

impl Cursor {
    /// Reads `after`, `before` and `page`; at most one of them.
    pub fn from_request(request: &Request) -> Result<Cursor, ApiError> {
        let given = |name: &str| request.param(name).filter(|v| !v.is_empty());
        let after = given("after");
        let before = given("before");
        let page = given("page");
        if [&after, &before, &page].iter().filter(|p| p.is_some()).count() > 1 {
            return Err(ApiError::BadParam("give one of after, before and page, not several".into()));
        }
        if let Some(page) = page {
            return match page.as_str() {
                "last" => Ok(Cursor::Last),
                _ => Err(ApiError::BadParam(format!("page can only be \"last\", not \"{page}\" (use offset)"))),
            };
        }
        match (after, before) {
            (Some(key), _) => Ok(Cursor::After(key_values("after", &key)?)),
            (_, Some(key)) => Ok(Cursor::Before(key_values("before", &key)?)),
            _ => Ok(Cursor::Offset),
        }
    }

    /// The page is reached by offset.
    pub fn is_offset(&self) -> bool {
        *self == Cursor::Offset
    }

    /// The page is read backwards from its far edge, then turned round.
    pub fn is_backwards(&self) -> bool {
        matches!(self, Cursor::Before(_) | Cursor::Last)
    }
}

/// A key as `after` or `before` spell it: a JSON array holding one value per
/// primary-key column, in key order, each a string, number or boolean.
fn key_values(name: &str, json: &str) -> Result<Vec<String>, ApiError> {
    let bad =
        || ApiError::BadParam(format!("{name} must be a JSON array of the primary key's values, as pgdoor gave them"));
    let values: Vec<Value> = serde_json::from_str(json).map_err(|_| bad())?;
    if values.is_empty() || values.len() > MAX_KEY_COLUMNS {
        return Err(bad());
    }
    values
        .iter()
        .map(|value| {
            let text = key_text(value).ok_or_else(bad)?;
            if text.len() > MAX_KEY_VALUE_BYTES || text.contains('\0') {
                return Err(ApiError::BadParam(format!(
                    "a value of {name} is longer than {MAX_KEY_VALUE_BYTES} bytes or holds a NUL byte"
                )));
            }
            Ok(text)
        })
        .collect()
}

/// A key value in the text form PostgreSQL reads back; `None` for null,
/// arrays and objects, which no key value shown by pgdoor is.
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(query: &str) -> Result<Cursor, ApiError> {
        let request = Request {
            method: http::Method::GET,
            path: "/api/tables/t/rows".into(),
            query: query.into(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
            trusted: false,
            client: None,
        };
        Cursor::from_request(&request)
    }

    #[test]
    fn keys_are_arrays_of_plain_values() {
        assert_eq!(cursor("").unwrap(), Cursor::Offset);
        assert_eq!(cursor("page=last").unwrap(), Cursor::Last);
        assert_eq!(
            cursor("after=%5B7%2C%22x%22%2Ctrue%5D").unwrap(),
            Cursor::After(vec!["7".into(), "x".into(), "true".into()])
        );
        assert_eq!(cursor("before=%5B1.5%5D").unwrap(), Cursor::Before(vec!["1.5".into()]));
        for refused in
            ["after=7", "after=%5B%5D", "after=%5Bnull%5D", "before=%5B%5B1%5D%5D", "page=3", "after=%5B1%5D&page=last"]
        {
            assert!(matches!(cursor(refused), Err(ApiError::BadParam(_))), "{refused}");
        }
        assert!(cursor("after=%5B%22a%5Cu0000%22%5D").is_err(), "a NUL byte names no row");
    }
}
