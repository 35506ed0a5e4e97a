//! The credential a resolver answers with, and the checks on each field.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::policy::Policy;

/// The longest label accepted, in characters.
const MAX_LABEL: usize = 200;

/// A database credential. `Debug` never shows the URL.
#[derive(Clone)]
pub struct Credential {
    /// The connection string (URL or key=value), password included.
    pub database_url: SecretString,
    /// The session must be read-only.
    pub readonly: bool,
    /// When the credential stops working (an IAM token, a lease).
    pub expires_at: Option<OffsetDateTime>,
    /// A name for the UI, instead of the database name.
    pub label: Option<String>,
    /// What the backend says about the session (limits, settings, banner).
    pub policy: Policy,
}

impl Credential {
    /// A credential with only a URL.
    pub fn new(database_url: impl Into<String>) -> Self {
        Credential {
            database_url: SecretString::from(database_url.into()),
            readonly: false,
            expires_at: None,
            label: None,
            policy: Policy::default(),
        }
    }

    /// Reads and checks an answer object. Unknown fields are ignored.
    pub fn from_answer(answer: &Map<String, Value>) -> Result<Self, String> {
        let database_url = match answer.get("database_url") {
            Some(Value::String(url)) if !url.trim().is_empty() => url.clone(),
            Some(Value::String(_)) => return Err("database_url is empty".into()),
            Some(Value::Null) | None => return Err("database_url is missing".into()),
            Some(other) => return Err(format!("database_url must be a string, not {}", kind(other))),
        };
        let readonly = match answer.get("readonly") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("readonly must be true or false, not {}", kind(other))),
        };
        let expires_at = match answer.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let at = OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|e| format!("expires_at \"{s}\" is not an RFC 3339 time ({e})"))?;
                if at <= OffsetDateTime::now_utc() {
                    return Err(format!("expires_at \"{s}\" is already past"));
                }
                Some(at)
            }
            Some(other) => return Err(format!("expires_at must be an RFC 3339 string, not {}", kind(other))),
        };
        let label = match answer.get("label") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() > MAX_LABEL => {
                return Err(format!("label is longer than {MAX_LABEL} characters"));
            }
            Some(Value::String(s)) if s.chars().any(char::is_control) => {
                return Err("label contains control characters".into());
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(format!("label must be a string, not {}", kind(other))),
        };
        let policy = Policy::from_answer(answer)?;
        Ok(Credential { database_url: SecretString::from(database_url), readonly, expires_at, label, policy })
    }

    /// The URL with its password replaced by `REDACTED`, for logs and diagnostics.
    pub fn redacted_url(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("database_url", &self.redacted_url())
            .field("readonly", &self.readonly)
            .field("expires_at", &self.expires_at)
            .field("label", &self.label)
            .field("policy", &self.policy)
            .finish()
    }
}

/// Hides the password of a connection string in either form. Anything that
/// cannot be parsed is hidden whole.
pub fn redact_url(url: &str) -> String {
    if url.contains("://") {
        return match url::Url::parse(url) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    let _ = parsed.set_password(Some("REDACTED"));
                }
                let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
                if pairs.iter().any(|(k, _)| k == "password") {
                    let mut query = parsed.query_pairs_mut();
                    query.clear();
                    for (k, v) in &pairs {
                        query.append_pair(k, if k == "password" { "REDACTED" } else { v });
                    }
                }
                parsed.to_string()
            }
            Err(_) => "<unparsable URL, hidden>".into(),
        };
    }
    // key=value form: blank out the value after `password`.
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find("password") {
        let (before, after) = rest.split_at(at + "password".len());
        out.push_str(before);
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            rest = after;
            continue;
        };
        let value = value.trim_start();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            quoted
                .char_indices()
                .scan(false, |escaped, (i, c)| {
                    let stop = c == '\'' && !*escaped;
                    *escaped = c == '\\' && !*escaped;
                    Some((i, stop))
                })
                .find(|(_, stop)| *stop)
                .map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str("=REDACTED");
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// How a JSON value's type reads in an error message.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: Value) -> Result<Credential, String> {
        Credential::from_answer(v.as_object().unwrap())
    }

    #[test]
    fn reads_every_field_and_ignores_unknown_ones() {
        let c = answer(json!({
            "database_url": "postgres://u:p@h/db", "readonly": true, "label": "Acme prod",
            "expires_at": "2999-01-02T03:04:05Z", "something_else": [1]
        }))
        .unwrap();
        assert!(c.readonly);
        assert_eq!(c.label.as_deref(), Some("Acme prod"));
        assert_eq!(c.expires_at.unwrap().year(), 2999);
        assert_eq!(c.database_url.expose_secret(), "postgres://u:p@h/db");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (json!({}), "database_url is missing"),
            (json!({"database_url": null}), "database_url is missing"),
            (json!({"database_url": "  "}), "database_url is empty"),
            (json!({"database_url": 5}), "database_url must be a string, not a number"),
            (json!({"database_url": "x", "readonly": "yes"}), "readonly must be true or false, not a string"),
            (json!({"database_url": "x", "expires_at": "tomorrow"}), "expires_at \"tomorrow\" is not an RFC 3339 time"),
            (json!({"database_url": "x", "expires_at": "2001-01-01T00:00:00Z"}), "is already past"),
            (json!({"database_url": "x", "label": "a\u{7}b"}), "label contains control characters"),
            (json!({"database_url": "x", "label": "x".repeat(201)}), "label is longer than 200 characters"),
        ];
        for (input, want) in cases {
            let err = answer(input.clone()).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn passwords_are_redacted_in_both_forms() {
        assert_eq!(
            redact_url("postgres://u:s3cret@h:5432/db?sslmode=require"),
            "postgres://u:REDACTED@h:5432/db?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=s3cret&sslmode=disable"),
            "postgres://u@h/db?password=REDACTED&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("host=h password=s3cret user=u"), "host=h password=REDACTED user=u");
        assert_eq!(redact_url("host=h password = 'it\\'s s3cret' user=u"), "host=h password=REDACTED user=u");
        assert!(!format!("{:?}", Credential::new("postgres://u:s3cret@h/db")).contains("s3cret"));
    }
}
