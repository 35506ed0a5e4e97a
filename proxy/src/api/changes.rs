//! Editing rows in place. `GET /api/tables/:table/editing` tells the UI
//! whether and how a table can be edited (its key, each column's type and
//! editor); `POST /api/tables/:table/changes` applies staged inserts,
//! updates and deletes in one transaction of their own, or with `dry_run`
//! only shows the statements.
//!
//! Every name is quoted by [`quote_ident`] and checked against the table's
//! columns; every value is a parameter whose type the server infers from
//! its column. An update or delete names its row by the table's key *and*
//! the values the person saw, so a row someone else changed meanwhile is a
//! conflict (nothing applied), never overwritten.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::access;
use super::catalog::table;
use super::error::ApiError;
use super::query::state_lost_json;
use super::sql::{TableRef, quote_ident};
use crate::app::App;
use crate::http::{Request, Response};
use crate::pg::{self, ResultSet};
use crate::session::{Applied, ChangeSet, Session, Step};

/// The most changes one request may carry.
pub const MAX_CHANGES: usize = 1000;

/// One row per column of a table (none when there is no such table): its
/// kind, the key pgdoor names rows by (the primary key, else the narrowest
/// unique index over NOT NULL columns without a predicate or expression),
/// and what the UI's editor needs.
const SHAPE: &str = "\
WITH rel AS (
  SELECT c.oid, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2),
key AS (
  SELECT i.indkey::int2[] AS columns FROM pg_catalog.pg_index i, rel
  WHERE i.indrelid = rel.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = rel.oid AND a.attnum = ANY(i.indkey) AND NOT a.attnotnull)
  ORDER BY i.indisprimary DESC, i.indnatts, i.indexrelid LIMIT 1)
SELECT rel.relkind::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
  a.attgenerated <> '' OR a.attidentity = 'a', pg_catalog.pg_get_expr(d.adbin, d.adrelid),
  a.attnum = ANY(coalesce((SELECT columns FROM key), '{}')),
  EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname = '=' AND o.oprleft = b.oid AND o.oprright = b.oid)
    OR b.typcategory IN ('A', 'E', 'R', 'C'),
  CASE WHEN b.typname = 'bytea' THEN 'binary' WHEN b.typname IN ('json', 'jsonb') THEN 'json'
       WHEN b.typtype = 'e' THEN 'enum' WHEN b.typcategory = 'B' THEN 'boolean' WHEN b.typcategory = 'N' THEN 'number'
       WHEN b.typcategory = 'D' THEN 'datetime' WHEN b.typcategory = 'A' THEN 'array' ELSE 'text' END,
  (SELECT pg_catalog.json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = b.oid),
  pg_catalog.has_table_privilege(rel.oid, 'INSERT'), pg_catalog.has_table_privilege(rel.oid, 'UPDATE'),
  pg_catalog.has_table_privilege(rel.oid, 'DELETE')
FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
ORDER BY a.attnum";

/// A column as the editor sees it.
#[derive(Debug, Clone, Serialize)]
struct Column {
    name: String,
    /// `format_type`'s spelling, for the person.
    #[serde(rename = "type")]
    type_name: String,
    /// Which editor fits: text, number, boolean, datetime, enum, json, array or binary.
    kind: String,
    nullable: bool,
    default: Option<String>,
    /// Generated or `GENERATED ALWAYS AS IDENTITY`: never written.
    generated: bool,
    in_key: bool,
    /// Its type has `=`; otherwise the seen value is compared as text.
    #[serde(skip)]
    comparable: bool,
    /// An enum's labels, in order.
    labels: Option<Vec<String>>,
}

/// What may be done to a table's rows.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Privileges {
    insert: bool,
    update: bool,
    delete: bool,
}

/// A table's columns and key, from [`SHAPE`].
#[derive(Debug)]
struct Shape {
    table: TableRef,
    relkind: String,
    columns: Vec<Column>,
    privileges: Privileges,
}

impl Shape {
    async fn load(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Shape, ApiError> {
        let table = table(raw)?;
        let set = access::catalog(app, session, request, SHAPE, &[Some(&table.schema), Some(&table.name)]).await?;
        if set.rows.is_empty() {
            return Err(ApiError::NoSuchTable(table.quoted()));
        }
        Ok(Shape::read(table, &set))
    }

    fn read(table: TableRef, set: &ResultSet) -> Shape {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let flag = |v: &Value| v.as_bool().unwrap_or(false);
        let columns = set
            .rows
            .iter()
            .map(|row| Column {
                name: text(&row[1]).unwrap_or_default(),
                type_name: text(&row[2]).unwrap_or_default(),
                nullable: flag(&row[3]),
                generated: flag(&row[4]),
                default: text(&row[5]),
                in_key: flag(&row[6]),
                comparable: flag(&row[7]),
                kind: text(&row[8]).unwrap_or_default(),
                labels: row[9].as_str().and_then(|json| serde_json::from_str(json).ok()),
            })
            .collect();
        let first = &set.rows[0];
        Shape {
            table,
            relkind: text(&first[0]).unwrap_or_default(),
            columns,
            privileges: Privileges { insert: flag(&first[10]), update: flag(&first[11]), delete: flag(&first[12]) },
        }
    }

    fn key(&self) -> Vec<&Column> {
        self.columns.iter().filter(|c| c.in_key).collect()
    }

    /// Why rows of this relation cannot be edited, if they cannot.
    fn refusal(&self) -> Option<String> {
        let name = self.table.quoted();
        if !matches!(self.relkind.as_str(), "r" | "p") {
            return Some(format!("{name} is not a table (views and other relations are not edited here)"));
        }
        if self.key().is_empty() {
            return Some(format!(
                "{name} has no primary key (nor a unique key over NOT NULL columns), so pgdoor cannot name one row of it: add a primary key to edit it here"
            ));
        }
        None
    }

    fn column(&self, name: &str) -> Result<&Column, ApiError> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ApiError::BadParam(format!("{} has no column {}", self.table.quoted(), quote_ident(name))))
    }
}

/// Why this session may not edit at all, if it may not.
fn session_refusal(session: &Session) -> Option<ApiError> {
    if session.readonly {
        Some(ApiError::ReadOnlySession)
    } else if !session.policy.edits {
        Some(ApiError::EditsOff)
    } else {
        None
    }
}

/// `GET /api/tables/:table/editing`.
pub async fn editing(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let shape = Shape::load(app, session, request, raw).await?;
    let reason = session_refusal(session).map(|e| e.to_string()).or_else(|| shape.refusal());
    let key: Vec<&str> = shape.key().iter().map(|c| c.name.as_str()).collect();
    Ok(Response::json(
        200,
        &json!({
            "editable": reason.is_none(),
            "reason": reason,
            "key": key,
            "privileges": shape.privileges,
            "columns": shape.columns,
        }),
    ))
}

/// The request body of the changes route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    changes: Vec<Change>,
    /// Build the statements and show them; run nothing.
    #[serde(default)]
    dry_run: bool,
}

/// One staged change: values by column name, as JSON (strings as
/// PostgreSQL writes them, numbers, booleans, null; an object or array is
/// sent as its JSON text, for json columns).
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Change {
    Insert {
        values: Map<String, Value>,
    },
    Update {
        key: Map<String, Value>,
        #[serde(default)]
        old: Map<String, Value>,
        values: Map<String, Value>,
    },
    Delete {
        key: Map<String, Value>,
        #[serde(default)]
        old: Map<String, Value>,
    },
}

/// A statement being built: its text and its parameters so far.
#[derive(Default)]
struct Built {
    sql: String,
    params: Vec<Option<String>>,
}

impl Built {
    /// `$n` for a new parameter.
    fn bind(&mut self, value: &Value) -> String {
        self.params.push(as_param(value));
        format!("${}", self.params.len())
    }
}

/// A JSON value as a text parameter.
fn as_param(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

impl Shape {
    /// The values of a change in the table's column order, each checked.
    fn values<'a>(&'a self, values: &'a Map<String, Value>) -> Result<Vec<(&'a Column, &'a Value)>, ApiError> {
        for name in values.keys() {
            let column = self.column(name)?;
            if column.generated {
                return Err(ApiError::BadParam(format!(
                    "column {} is generated by the database and cannot be written",
                    quote_ident(name)
                )));
            }
        }
        Ok(self.columns.iter().filter_map(|c| values.get(&c.name).map(|v| (c, v))).collect())
    }

    /// ` WHERE` naming one row: its key, then the values the person saw.
    fn row_condition(
        &self,
        built: &mut Built,
        key: &Map<String, Value>,
        old: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let key_columns = self.key();
        let named: BTreeSet<&str> = key.keys().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = key_columns.iter().map(|c| c.name.as_str()).collect();
        if named != wanted {
            let list: Vec<String> = key_columns.iter().map(|c| quote_ident(&c.name)).collect();
            return Err(ApiError::BadParam(format!(
                "key must give exactly the columns of the table's key: {}",
                list.join(", ")
            )));
        }
        let mut terms = Vec::new();
        for column in key_columns {
            let value = &key[&column.name];
            if value.is_null() {
                return Err(ApiError::BadParam(format!("key column {} cannot be null", quote_ident(&column.name))));
            }
            terms.push(format!("{} = {}", quote_ident(&column.name), built.bind(value)));
        }
        for name in old.keys() {
            self.column(name)?;
        }
        for column in self.columns.iter().filter(|c| !c.in_key) {
            let Some(value) = old.get(&column.name) else { continue };
            let name = quote_ident(&column.name);
            terms.push(match (value.is_null(), column.comparable) {
                (true, _) => format!("{name} IS NULL"),
                (false, true) => format!("{name} IS NOT DISTINCT FROM {}", built.bind(value)),
                // json, xml, point ...: no `=`, so the text the person saw.
                (false, false) => format!("{name}::text IS NOT DISTINCT FROM {}::text", built.bind(value)),
            });
        }
        built.sql.push_str(" WHERE ");
        built.sql.push_str(&terms.join(" AND "));
        Ok(())
    }

    /// The statement for one change.
    fn statement(&self, change: &Change) -> Result<Step, ApiError> {
        let table = self.table.quoted();
        let mut built = Built::default();
        let needs_row = match change {
            Change::Insert { values } => {
                let values = self.values(values)?;
                if values.is_empty() {
                    built.sql = format!("INSERT INTO {table} DEFAULT VALUES RETURNING *");
                } else {
                    let names: Vec<String> = values.iter().map(|(c, _)| quote_ident(&c.name)).collect();
                    let binds: Vec<String> = values.iter().map(|(_, v)| built.bind(v)).collect();
                    built.sql =
                        format!("INSERT INTO {table} ({}) VALUES ({}) RETURNING *", names.join(", "), binds.join(", "));
                }
                false
            }
            Change::Update { key, old, values } => {
                let values = self.values(values)?;
                if values.is_empty() {
                    return Err(ApiError::BadParam("an update must set at least one column".into()));
                }
                let sets: Vec<String> =
                    values.iter().map(|(c, v)| format!("{} = {}", quote_ident(&c.name), built.bind(v))).collect();
                built.sql = format!("UPDATE {table} SET {}", sets.join(", "));
                self.row_condition(&mut built, key, old)?;
                built.sql.push_str(" RETURNING *");
                true
            }
            Change::Delete { key, old } => {
                built.sql = format!("DELETE FROM {table}");
                self.row_condition(&mut built, key, old)?;
                true
            }
        };
        Ok(Step { sql: built.sql, params: built.params, needs_row })
    }
}

/// The statement with its values written in as literals, for reading (what
/// runs binds them as parameters).
fn readable(step: &Step) -> String {
    let mut text = String::with_capacity(step.sql.len());
    let mut quoted = false;
    let mut chars = step.sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            // A doubled quote inside a name toggles twice.
            quoted = !quoted;
        }
        if c != '$' || quoted {
            text.push(c);
            continue;
        }
        let mut number = 0usize;
        while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
            number = number * 10 + digit as usize;
            chars.next();
        }
        match step.params.get(number.wrapping_sub(1)) {
            Some(None) => text.push_str("NULL"),
            Some(Some(value)) => text.push_str(&format!("'{}'", value.replace('\'', "''"))),
            None => text.push('$'),
        }
    }
    text
}

fn op(change: &Change) -> &'static str {
    match change {
        Change::Insert { .. } => "insert",
        Change::Update { .. } => "update",
        Change::Delete { .. } => "delete",
    }
}

/// `POST /api/tables/:table/changes`.
pub async fn apply(app: &App, session: &Arc<Session>, request: &Request, raw: &str) -> Result<Response, ApiError> {
    if let Some(refusal) = session_refusal(session) {
        return Err(refusal);
    }
    if !request.header("content-type").is_some_and(|ct| ct.starts_with("application/json")) {
        return Err(ApiError::BadParam("send the changes as JSON (Content-Type: application/json)".into()));
    }
    let body: Body = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::BadParam(format!("the changes are not in the expected form: {e}")))?;
    if body.changes.is_empty() {
        return Err(ApiError::BadParam("changes is empty: there is nothing to apply".into()));
    }
    if body.changes.len() > MAX_CHANGES {
        return Err(ApiError::BadParam(format!(
            "{} changes in one request; at most {MAX_CHANGES} are applied at once",
            body.changes.len()
        )));
    }
    let shape = Shape::load(app, session, request, raw).await?;
    if let Some(reason) = shape.refusal() {
        return Err(ApiError::NotEditable(reason));
    }
    let steps = body.changes.iter().map(|c| shape.statement(c)).collect::<Result<Vec<_>, _>>()?;
    let mut statements: Vec<Value> = steps
        .iter()
        .zip(&body.changes)
        .map(|(step, change)| json!({"op": op(change), "sql": step.sql, "params": step.params, "text": readable(step)}))
        .collect();
    if body.dry_run {
        return Ok(Response::json(200, &json!({"applied": false, "dry_run": true, "statements": statements})));
    }
    let renewal = access::renewal(app, session, request).await?;
    let started = Instant::now();
    let outcome = session.apply(ChangeSet { steps: steps.clone() }, renewal).await;
    let took = started.elapsed();
    let record = |step: &Step, rows: Result<Option<u64>, String>| {
        app.recorder().record(&session.subject(), "changes", &readable(step), took, rows);
    };
    let (applied, state_lost) = match outcome {
        Ok(done) => done,
        Err(e) => {
            let error = ApiError::from_changes(e);
            record(&steps[0], Err(error.to_string()));
            return Err(error);
        }
    };
    match applied {
        Applied::Committed(results) => {
            for ((step, result), statement) in steps.iter().zip(&results).zip(&mut statements) {
                let affected = result.completion.as_ref().and_then(|c| c.rows_affected);
                record(step, Ok(affected));
                statement["affected"] = json!(affected);
                statement["row"] = returned_row(result);
            }
            let mut body = json!({"applied": true, "statements": statements, "transaction": session.transaction()});
            if let Some(lost) = state_lost_json(state_lost) {
                body["state_lost"] = lost;
            }
            Ok(Response::json(200, &body))
        }
        Applied::Conflict(at) => {
            for index in &at {
                record(&steps[*index], Err("conflict: the row changed meanwhile; nothing applied".into()));
            }
            Err(ApiError::Conflict { at, total: steps.len() })
        }
        Applied::Failed { at, error } => {
            let shown = steps.get(at).unwrap_or(&steps[steps.len() - 1]);
            let error = match error {
                pg::Error::Db(db) => ApiError::ChangeFailed { at, total: steps.len(), error: db },
                other => ApiError::from_query(other, true),
            };
            record(shown, Err(error.to_string()));
            Err(error)
        }
    }
}

/// The first row a statement returned, by column name (`null` for none).
fn returned_row(result: &ResultSet) -> Value {
    let Some(row) = result.rows.first() else { return Value::Null };
    let object: Map<String, Value> =
        result.columns.iter().zip(row).map(|(column, value)| (column.name.clone(), value.clone())).collect();
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, in_key: bool, comparable: bool, generated: bool) -> Column {
        Column {
            name: name.into(),
            type_name: "text".into(),
            kind: "text".into(),
            nullable: !in_key,
            default: None,
            generated,
            in_key,
            comparable,
            labels: None,
        }
    }

    fn shape() -> Shape {
        Shape {
            table: TableRef { schema: "my schema".into(), name: "t\"x".into() },
            relkind: "r".into(),
            columns: vec![
                column("id", true, true, false),
                column("name", false, true, false),
                column("doc", false, false, false),
                column("total", false, true, true),
            ],
            privileges: Privileges::default(),
        }
    }

    fn change(v: Value) -> Change {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn an_update_names_its_row_by_key_and_the_values_seen() {
        let step = shape()
            .statement(&change(json!({
                "op": "update", "key": {"id": 7}, "old": {"name": "Ann", "doc": "{\"a\": 1}"}, "values": {"name": "Bo'b"}
            })))
            .unwrap();
        assert_eq!(
            step.sql,
            "UPDATE \"my schema\".\"t\"\"x\" SET \"name\" = $1 WHERE \"id\" = $2 AND \"name\" IS NOT DISTINCT FROM $3 AND \"doc\"::text IS NOT DISTINCT FROM $4::text RETURNING *"
        );
        assert_eq!(step.params, [Some("Bo'b".into()), Some("7".into()), Some("Ann".into()), Some("{\"a\": 1}".into())]);
        assert!(step.needs_row);
        assert!(readable(&step).contains("SET \"name\" = 'Bo''b' WHERE \"id\" = '7'"), "{}", readable(&step));
        let odd = Step { sql: "UPDATE \"a$1\" SET \"x\" = $1".into(), params: vec![Some("v".into())], needs_row: true };
        assert_eq!(readable(&odd), "UPDATE \"a$1\" SET \"x\" = 'v'", "names keep their text");
    }

    #[test]
    fn names_and_keys_are_checked() {
        let s = shape();
        let refused = |v: Value| s.statement(&change(v)).unwrap_err().to_string();
        assert!(
            refused(json!({"op": "update", "key": {"id": 1}, "values": {"x\"; DROP TABLE t; --": 1}}))
                .contains("has no column")
        );
        assert!(
            refused(json!({"op": "update", "key": {"name": "a"}, "values": {"name": "b"}}))
                .contains("exactly the columns")
        );
        assert!(refused(json!({"op": "delete", "key": {"id": null}})).contains("cannot be null"));
        assert!(refused(json!({"op": "insert", "values": {"total": 3}})).contains("generated"));
        assert!(refused(json!({"op": "update", "key": {"id": 1}, "values": {}})).contains("at least one column"));
        assert!(serde_json::from_value::<Change>(json!({"op": "upsert", "values": {}})).is_err());
        assert!(serde_json::from_value::<Change>(json!({"op": "insert", "values": {}, "where": "1=1"})).is_err());
    }

    #[test]
    fn an_insert_lists_its_columns_in_table_order_and_nulls_stay_null() {
        let step = shape().statement(&change(json!({"op": "insert", "values": {"name": null, "id": 3}}))).unwrap();
        assert_eq!(step.sql, "INSERT INTO \"my schema\".\"t\"\"x\" (\"id\", \"name\") VALUES ($1, $2) RETURNING *");
        assert_eq!(step.params, [Some("3".into()), None]);
        assert!(!step.needs_row);
        let empty = shape().statement(&change(json!({"op": "insert", "values": {}}))).unwrap();
        assert_eq!(empty.sql, "INSERT INTO \"my schema\".\"t\"\"x\" DEFAULT VALUES RETURNING *");
    }

    #[test]
    fn a_seen_null_is_matched_with_is_null() {
        let step =
            shape().statement(&change(json!({"op": "delete", "key": {"id": "1"}, "old": {"name": null}}))).unwrap();
        assert_eq!(step.sql, "DELETE FROM \"my schema\".\"t\"\"x\" WHERE \"id\" = $1 AND \"name\" IS NULL");
    }
}
