//! The session policy a backend's answer may carry beside the credential:
//! how long statements may run, how big results may be, how long the
//! session lives, whether it may download, the settings its connections
//! start with, and the environment the UI shows. Every field is optional;
//! a backend that sends none of them gets pgdoor's own flags.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::credential::kind;

/// The most settings one answer may carry.
pub const MAX_SETTINGS: usize = 64;

/// The longest setting value accepted, in bytes.
pub const MAX_SETTING_VALUE: usize = 4096;

/// The longest environment name accepted, in characters.
const MAX_ENVIRONMENT: usize = 40;

/// What the backend says about a session. Limits here can only tighten
/// pgdoor's own (see the proxy's effective policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `statement_timeout`: the longest a statement may run.
    pub statement_timeout: Option<Duration>,
    /// `max_rows`: the most rows a result shows.
    pub max_rows: Option<usize>,
    /// `max_result_bytes`: the most bytes a result holds.
    pub max_result_bytes: Option<usize>,
    /// `idle_timeout`: the session ends after this long unused.
    pub idle_timeout: Option<Duration>,
    /// `lifetime`: the session ends this long after it was opened.
    pub lifetime: Option<Duration>,
    /// `downloads`: may the session export results, tables or dumps.
    pub downloads: bool,
    /// `edits`: may the session change rows from the table view (a
    /// read-only credential never can).
    pub edits: bool,
    /// `settings`: run-time parameters set on each connection when it opens.
    pub settings: BTreeMap<String, String>,
    /// `environment`: e.g. `production`, shown as a banner.
    pub environment: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            statement_timeout: None,
            max_rows: None,
            max_result_bytes: None,
            idle_timeout: None,
            lifetime: None,
            downloads: true,
            edits: true,
            settings: BTreeMap::new(),
            environment: None,
        }
    }
}

impl Policy {
    /// Reads the policy fields of an answer; an error names the field.
    pub fn from_answer(answer: &Map<String, Value>) -> Result<Self, String> {
        Ok(Policy {
            statement_timeout: duration(answer, "statement_timeout")?,
            max_rows: count(answer, "max_rows")?,
            max_result_bytes: count(answer, "max_result_bytes")?,
            idle_timeout: duration(answer, "idle_timeout")?,
            lifetime: duration(answer, "lifetime")?,
            downloads: allowed(answer, "downloads")?,
            edits: allowed(answer, "edits")?,
            settings: settings(answer.get("settings"))?,
            environment: environment(answer.get("environment"))?,
        })
    }
}

/// A permission: `true` unless the answer says `false`.
fn allowed(answer: &Map<String, Value>, field: &str) -> Result<bool, String> {
    match answer.get(field) {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{field} must be true or false, not {}", kind(other))),
    }
}

/// Seconds (a positive number) or a duration string such as `30s` or `1h 30m`.
fn duration(answer: &Map<String, Value>, field: &str) -> Result<Option<Duration>, String> {
    let parsed = match answer.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(seconds) if seconds > 0.0 && seconds.is_finite() && seconds < 1e9 => Duration::from_secs_f64(seconds),
            _ => return Err(format!("{field} must be a positive number of seconds, not {n}")),
        },
        Some(Value::String(s)) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("{field} \"{s}\" is not a duration such as \"30s\" or \"5m\" ({e})"))?,
        Some(other) => return Err(format!("{field} must be seconds or a duration string, not {}", kind(other))),
    };
    if parsed.is_zero() {
        return Err(format!("{field} must be longer than zero"));
    }
    Ok(Some(parsed))
}

/// A positive whole number.
fn count(answer: &Map<String, Value>, field: &str) -> Result<Option<usize>, String> {
    match answer.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("{field} must be a positive whole number, not {n}")),
        },
        Some(other) => Err(format!("{field} must be a positive whole number, not {}", kind(other))),
    }
}

/// `{"name": "value", ...}`: names as PostgreSQL spells parameters
/// (`search_path`, `app.tenant`), values strings.
fn settings(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let object = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(object)) => object,
        Some(other) => return Err(format!("settings must be an object of names to strings, not {}", kind(other))),
    };
    if object.len() > MAX_SETTINGS {
        return Err(format!("settings has {} entries; at most {MAX_SETTINGS} are accepted", object.len()));
    }
    let mut out = BTreeMap::new();
    for (name, value) in object {
        if !is_parameter_name(name) {
            return Err(format!(
                "settings: \"{}\" is not a parameter name (letters, digits, `_`, and `.` for custom ones)",
                name.escape_debug()
            ));
        }
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
            other => return Err(format!("settings.{name} must be a string, not {}", kind(other))),
        };
        if value.len() > MAX_SETTING_VALUE || value.contains('\0') {
            return Err(format!("settings.{name} must be at most {MAX_SETTING_VALUE} bytes without NUL"));
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn is_parameter_name(name: &str) -> bool {
    let mut parts = name.split('.');
    name.len() <= 63
        && parts.all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A short word: letters, digits, `-` and `_`, lower-cased.
fn environment(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty()
                && s.chars().count() <= MAX_ENVIRONMENT
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Ok(Some(s.to_ascii_lowercase()))
        }
        Some(Value::String(s)) => Err(format!(
            "environment \"{}\" must be a word of at most {MAX_ENVIRONMENT} letters, digits, `-` or `_`",
            s.escape_debug()
        )),
        Some(other) => Err(format!("environment must be a string, not {}", kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: Value) -> Result<Policy, String> {
        Policy::from_answer(v.as_object().unwrap())
    }

    #[test]
    fn no_fields_is_no_policy() {
        assert_eq!(policy(json!({"database_url": "x"})).unwrap(), Policy::default());
        assert!(Policy::default().downloads, "downloads are allowed unless the backend says otherwise");
        assert!(Policy::default().edits, "so are edits (in writable sessions)");
    }

    #[test]
    fn reads_every_field() {
        let p = policy(json!({
            "statement_timeout": 30, "max_rows": 1000, "max_result_bytes": 65536,
            "idle_timeout": "15m", "lifetime": "1h 30m", "downloads": false, "edits": false,
            "settings": {"search_path": "shop, public", "app.tenant": "acme", "statement_timeout": 5000, "jit": false},
            "environment": "Production"
        }))
        .unwrap();
        assert_eq!(p.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(p.max_rows, Some(1000));
        assert_eq!(p.max_result_bytes, Some(65536));
        assert_eq!(p.idle_timeout, Some(Duration::from_secs(900)));
        assert_eq!(p.lifetime, Some(Duration::from_secs(5400)));
        assert!(!p.downloads);
        assert!(!p.edits);
        assert_eq!(p.settings["search_path"], "shop, public");
        assert_eq!(p.settings["statement_timeout"], "5000");
        assert_eq!(p.settings["jit"], "off");
        assert_eq!(p.environment.as_deref(), Some("production"));
        assert_eq!(
            policy(json!({"statement_timeout": 0.5})).unwrap().statement_timeout,
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (json!({"statement_timeout": -1}), "statement_timeout must be a positive number of seconds"),
            (json!({"statement_timeout": "soon"}), "statement_timeout \"soon\" is not a duration"),
            (json!({"statement_timeout": "0s"}), "statement_timeout must be longer than zero"),
            (json!({"idle_timeout": [1]}), "idle_timeout must be seconds or a duration string, not an array"),
            (json!({"lifetime": 0}), "lifetime must be a positive number of seconds"),
            (json!({"max_rows": 0}), "max_rows must be a positive whole number, not 0"),
            (json!({"max_rows": 1.5}), "max_rows must be a positive whole number, not 1.5"),
            (json!({"max_result_bytes": "1MB"}), "max_result_bytes must be a positive whole number, not a string"),
            (json!({"downloads": "no"}), "downloads must be true or false, not a string"),
            (json!({"edits": 0}), "edits must be true or false, not a number"),
            (json!({"settings": ["a"]}), "settings must be an object"),
            (json!({"settings": {"search_path; DROP": "x"}}), "is not a parameter name"),
            (json!({"settings": {"app.": "x"}}), "is not a parameter name"),
            (json!({"settings": {"work_mem": {"a": 1}}}), "settings.work_mem must be a string, not an object"),
            (json!({"settings": {"app.x": "a\u{0}b"}}), "without NUL"),
            (json!({"environment": "prod <b>"}), "must be a word"),
            (json!({"environment": 3}), "environment must be a string, not a number"),
        ];
        for (input, want) in cases {
            let err = policy(input.clone()).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
        let many: Map<String, Value> = (0..=MAX_SETTINGS).map(|i| (format!("app.s{i}"), json!("x"))).collect();
        assert!(policy(json!({"settings": many})).unwrap_err().contains("at most 64"));
    }
}
