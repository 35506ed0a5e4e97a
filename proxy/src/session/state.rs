//! What a connection holds beyond its transaction: session state that a
//! reconnect cannot bring back. The text of a statement says when state may
//! have changed ([`may_change_state`]); the server then says exactly what
//! exists ([`PROBE`]), so what pgdoor reports is what the server had.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The kinds of session state a connection can hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateKinds(u8);

/// Each kind: its bit, its name in the API, and how a person reads it.
const KINDS: [(u8, &str, &str); 6] = [
    (1, "settings", "settings changed with SET"),
    (2, "temporary_tables", "temporary tables"),
    (4, "prepared_statements", "prepared statements"),
    (8, "cursors", "cursors WITH HOLD"),
    (16, "listen", "LISTEN registrations"),
    (32, "advisory_locks", "advisory locks"),
];

/// One query that answers, in one row of booleans in [`KINDS`] order, what
/// session state the connection holds now.
pub const PROBE: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE source = 'session'), \
     EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema()), \
     EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements), \
     EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE is_holdable), \
     EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels()), \
     EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid())";

/// Words after which a statement may have created or dropped session state.
/// A false alarm costs one probe; a miss would hide a loss, so the list is wide.
const HINTS: [&str; 15] = [
    "set",
    "reset",
    "temp",
    "temporary",
    "pg_temp",
    "prepare",
    "deallocate",
    "listen",
    "unlisten",
    "declare",
    "close",
    "discard",
    "set_config",
    "pg_advisory_lock",
    "pg_try_advisory_lock",
];

impl StateKinds {
    /// No session state.
    pub const NONE: StateKinds = StateKinds(0);

    /// True when there is none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Reads the probe's one row.
    pub fn from_probe(row: &[Value]) -> StateKinds {
        let bits =
            KINDS.iter().zip(row).filter(|(_, v)| v.as_bool() == Some(true)).fold(0, |bits, ((bit, ..), _)| bits | bit);
        StateKinds(bits)
    }

    /// The API names of the kinds held.
    pub fn names(self) -> Vec<&'static str> {
        KINDS.iter().filter(|(bit, ..)| self.0 & bit != 0).map(|(_, name, _)| *name).collect()
    }
}

impl fmt::Display for StateKinds {
    /// "settings changed with SET and temporary tables".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = KINDS.iter().filter(|(bit, ..)| self.0 & bit != 0).map(|(.., text)| *text).collect();
        match words.split_last() {
            None => f.write_str("nothing"),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} and {last}", rest.join(", ")),
        }
    }
}

impl Serialize for StateKinds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

/// True when `sql` holds a word after which session state may differ
/// (`pg_advisory_lock_shared` and the other variants match by prefix).
pub fn may_change_state(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| {
        HINTS.iter().any(|hint| {
            word.len() >= hint.len()
                && word[..hint.len()].eq_ignore_ascii_case(hint)
                && (word.len() == hint.len() || hint.starts_with("pg_"))
        })
    })
}

/// True when `sql` may end a transaction by committing it (or preparing it
/// for a two-phase commit): a COMMIT anywhere, or a statement that starts
/// with END or PREPARE TRANSACTION. A `;` inside a string only errs on the
/// side of "may".
pub fn may_end_transaction(sql: &str) -> bool {
    let words = |text: &str| {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    };
    words(sql).iter().any(|w| w == "commit")
        || sql.split(';').any(|statement| match words(statement).as_slice() {
            [first, ..] if first == "end" => true,
            [first, second, ..] => first == "prepare" && second == "transaction",
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hints_find_state_changing_words_only() {
        for sql in [
            "SET search_path = x",
            "create TEMP table t(x int)",
            "CREATE TABLE pg_temp.t(x int)",
            "select pg_advisory_lock_shared(1)",
            "SELECT set_config('a.b', '1', false)",
            "PREPARE p AS SELECT 1",
            "declare c cursor with hold for select 1",
            "LISTEN ch",
        ] {
            assert!(may_change_state(sql), "{sql}");
        }
        for sql in ["SELECT 1", "select settings from t", "INSERT INTO temperature VALUES (1)", "SELECT offset_x"] {
            assert!(!may_change_state(sql), "{sql}");
        }
    }

    #[test]
    fn statements_that_may_commit_are_told_apart() {
        for sql in [
            "COMMIT",
            "commit and chain",
            "END",
            "end transaction;",
            "UPDATE t SET x = 1; COMMIT",
            "insert into t values (1);\n  end",
            "PREPARE TRANSACTION 'x'",
            "COMMIT PREPARED 'x'",
        ] {
            assert!(may_end_transaction(sql), "{sql}");
        }
        for sql in [
            "SELECT CASE WHEN x THEN 1 END FROM t",
            "UPDATE t SET x = 1",
            "ROLLBACK",
            "PREPARE p AS SELECT 1",
            "SELECT committed FROM t",
        ] {
            assert!(!may_end_transaction(sql), "{sql}");
        }
    }

    #[test]
    fn kinds_read_the_probe_and_say_what_they_hold() {
        let kinds =
            StateKinds::from_probe(&[json!(true), json!(true), json!(false), json!(false), json!(false), json!(true)]);
        assert_eq!(kinds.names(), ["settings", "temporary_tables", "advisory_locks"]);
        assert_eq!(kinds.to_string(), "settings changed with SET, temporary tables and advisory locks");
        assert!(StateKinds::from_probe(&vec![json!(false); 6]).is_empty());
    }
}
