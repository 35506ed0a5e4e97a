//! `GET /api/tables/:table/rows`: a page of rows with sort and filter.
//!
//! Two kinds of filter: pgdoor's structured one, conditions joined by AND
//! whose values are bound as parameters and whose columns are quoted (one as
//! `filter_column`, `filter_op`, `filter_value`, as pgweb; several as the JSON
//! array `filters`); and pgweb's raw `where` fragment, which is SQL the person
//! typed and runs as such (editor connection, one statement, read-only rules).

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use std::sync::Arc;

use super::access;
use super::catalog::table;
use super::error::ApiError;
use super::export::{self, Format};
use super::paging::{Cursor, key_text};
use super::query::result_json;
use super::sql::{TableRef, quote_ident};
use crate::app::App;
use crate::http::{Request, Response};
use crate::pg::ResultSet;
use crate::session::{Ran, Session};

/// Planner estimates at least this large are shown instead of counting (as pgweb).
const ESTIMATE_FROM: i64 = 100_000;

/// Conditions one `filters` parameter may hold.
const MAX_CONDITIONS: usize = 20;

/// The structured filter operators (pgweb's frontend offers the same list):
/// the SQL after the column, and whether a value follows it.
fn operator(name: &str) -> Option<(&'static str, bool)> {
    Some(match name {
        "equal" => ("=", true),
        "not_equal" => ("<>", true),
        "greater" => (">", true),
        "greater_eq" => (">=", true),
        "less" => ("<", true),
        "less_eq" => ("<=", true),
        "like" => ("::text LIKE", true),
        "ilike" => ("::text ILIKE", true),
        "null" => ("IS NULL", false),
        "not_null" => ("IS NOT NULL", false),
        _ => return None,
    })
}

/// One condition of the structured filter, as `filters` spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    column: String,
    op: String,
    #[serde(default)]
    value: Option<String>,
}

fn number(request: &Request, name: &str, default: i64) -> Result<i64, ApiError> {
    match request.param(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ApiError::BadParam(format!("{name} must be a number"))),
    }
}

/// What a rows request asks for, as SQL: every name quoted, the structured
/// filter's value a parameter; only pgweb's raw `where` is text as typed.
pub struct Page {
    /// The table.
    pub table: TableRef,
    /// ` WHERE …`, or empty.
    pub condition: String,
    /// The sort asked for: the column and `ASC` or `DESC`.
    pub sort: Option<(String, &'static str)>,
    /// The structured filter's values, bound as `$1`, `$2`, ….
    pub values: Vec<String>,
    /// The condition is pgweb's raw `where` fragment.
    pub raw_where: bool,
    /// Rows per page, at most the row cap.
    pub limit: i64,
    /// Rows skipped; with a key, the rows before the page, for its number.
    pub offset: i64,
    /// Where the page starts.
    pub cursor: Cursor,
}

/// The SELECT one page runs.
pub struct Select {
    /// The statement, asking one row past the page to learn whether there
    /// is more (an estimate may say there is not).
    pub sql: String,
    /// Its parameters: the filter's values, then the key's.
    pub params: Vec<String>,
    /// The key columns, when the page is found by key.
    pub key: Option<Vec<String>>,
    /// Rows the page holds at most.
    pub size: i64,
}

impl Page {
    /// Reads the request's parameters for the table named `raw`.
    pub fn plan(request: &Request, raw: &str, max_rows: usize) -> Result<Page, ApiError> {
        let table = table(raw)?;
        let limit = number(request, "limit", 100)?;
        if limit < 1 {
            return Err(ApiError::BadParam("limit must be greater than 0".into()));
        }
        let limit = limit.min(max_rows as i64);
        let offset = number(request, "offset", 0)?.max(0);
        let sort = match request.param("sort_column").filter(|c| !c.is_empty()) {
            None => None,
            Some(column) => {
                let direction = match request.param("sort_order").unwrap_or_default().to_ascii_uppercase().as_str() {
                    "" | "ASC" => "ASC",
                    "DESC" => "DESC",
                    other => {
                        return Err(ApiError::BadParam(format!("sort_order must be ASC or DESC, not \"{other}\"")));
                    }
                };
                Some((column, direction))
            }
        };
        let (filter, values) = structured_filter(request)?;
        let raw_where = request.param("where").filter(|w| !w.trim().is_empty());
        let condition = match (&filter, &raw_where) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadParam("give either where or a structured filter, not both".into()));
            }
            (Some(f), None) => format!(" WHERE {f}"),
            (None, Some(w)) => format!(" WHERE {w}"),
            (None, None) => String::new(),
        };
        let cursor = Cursor::from_request(request)?;
        Ok(Page { table, condition, sort, values, raw_where: raw_where.is_some(), limit, offset, cursor })
    }

    /// ` ORDER BY …` for the sort asked for, or empty: what an export of the
    /// rows on screen keeps.
    pub fn order(&self) -> String {
        self.sort
            .as_ref()
            .map(|(column, direction)| format!(" ORDER BY {} {direction}", quote_ident(column)))
            .unwrap_or_default()
    }

    /// The SELECT for a page of at most `size` rows on a table whose primary
    /// key is `primary_key` (empty for none). Unsorted or sorted by a one-column key, the page is
    /// in key order and may be found by key; otherwise by offset, and a key
    /// or `page=last` is refused.
    pub fn select(&self, primary_key: &[String], size: i64) -> Result<Select, ApiError> {
        let Page { table, condition, offset, cursor, .. } = self;
        let from = table.quoted();
        let fetch = size.saturating_add(1);
        let keyed = !self.raw_where
            && !primary_key.is_empty()
            && match &self.sort {
                None => true,
                Some((column, _)) => primary_key.len() == 1 && primary_key[0] == *column,
            };
        if !keyed {
            if !cursor.is_offset() {
                return Err(ApiError::BadParam(
                    "after, before and page=last page on the primary key: this table has none, or the rows are sorted by another column or filtered by a raw where (use offset)".into(),
                ));
            }
            let order = self.order();
            return Ok(Select {
                sql: format!("SELECT * FROM {from}{condition}{order} LIMIT {fetch} OFFSET {offset}"),
                params: self.values.clone(),
                key: None,
                size,
            });
        }
        let ascending = self.sort.as_ref().is_none_or(|(_, direction)| *direction == "ASC");
        // Read backwards, the page's far edge comes first.
        let forwards = ascending != cursor.is_backwards();
        let direction = if forwards { "ASC" } else { "DESC" };
        let order =
            primary_key.iter().map(|k| format!("{} {direction}", quote_ident(k))).collect::<Vec<_>>().join(", ");
        let mut params = self.values.clone();
        let mut condition = condition.clone();
        if let Cursor::After(values) | Cursor::Before(values) = cursor {
            if values.len() != primary_key.len() {
                return Err(ApiError::BadParam(format!(
                    "a key holds {} value(s), one for each primary-key column ({})",
                    primary_key.len(),
                    primary_key.join(", ")
                )));
            }
            let columns = primary_key.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", ");
            let slots = (0..values.len()).map(|i| format!("${}", params.len() + i + 1)).collect::<Vec<_>>().join(", ");
            params.extend(values.iter().cloned());
            let beyond = if forwards { ">" } else { "<" };
            let joiner = if condition.is_empty() { " WHERE" } else { " AND" };
            condition.push_str(&format!("{joiner} ({columns}) {beyond} ({slots})"));
        }
        let skip = if cursor.is_offset() { format!(" OFFSET {offset}") } else { String::new() };
        Ok(Select {
            sql: format!("SELECT * FROM {from}{condition} ORDER BY {order} LIMIT {fetch}{skip}"),
            params,
            key: Some(primary_key.to_vec()),
            size,
        })
    }
}

/// What the rows route learns of a table before reading a page.
#[derive(Debug, Default)]
struct Facts {
    /// The primary key's columns, in key order; empty for none, or for a
    /// bytea key (its values are not shown in a form that reads back).
    primary_key: Vec<String>,
    /// Columns some valid, non-partial index leads with: a sort on them is quick.
    indexed: Vec<String>,
    /// The planner's row count as of the last ANALYZE; negative when never analyzed.
    reltuples: i64,
}

/// Reads a table's [`Facts`] in one catalog query.
async fn facts(app: &App, session: &Session, request: &Request, table: &TableRef) -> Result<Facts, ApiError> {
    const SQL: &str = "SELECT c.reltuples::bigint, \
         (SELECT CASE WHEN NOT bool_or(a.atttypid = 'bytea'::regtype) THEN json_agg(a.attname ORDER BY k.n) END \
          FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n), pg_attribute a \
          WHERE i.indrelid = c.oid AND i.indisprimary AND k.n <= i.indnkeyatts \
            AND a.attrelid = c.oid AND a.attnum = k.attnum), \
         (SELECT json_agg(DISTINCT a.attname) FROM pg_index i, pg_attribute a \
          WHERE i.indrelid = c.oid AND i.indisvalid AND i.indpred IS NULL \
            AND a.attrelid = c.oid AND a.attnum = i.indkey[0]) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2";
    let found = access::catalog(app, session, request, SQL, &[Some(&table.schema), Some(&table.name)]).await?;
    let Some(row) = found.rows.first() else { return Ok(Facts { reltuples: -1, ..Facts::default() }) };
    let names = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_str).and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
    };
    Ok(Facts { reltuples: first_number(&found.rows), primary_key: names(row.get(1)), indexed: names(row.get(2)) })
}

/// The planner's row estimate for a table never analyzed, whose
/// `reltuples` says nothing: it reckons from the table's size on disk.
async fn planner_rows(app: &App, session: &Session, request: &Request, from: &str) -> Result<i64, ApiError> {
    let plan =
        access::catalog(app, session, request, &format!("EXPLAIN (FORMAT JSON) SELECT * FROM {from}"), &[]).await?;
    let text = plan.rows.first().and_then(|r| r.first()).and_then(Value::as_str).unwrap_or("[]");
    let plan: Value = serde_json::from_str(text).unwrap_or_default();
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().map_or(0, |rows| rows as i64))
}

/// Handles the rows route.
pub async fn rows(app: &App, session: &Arc<Session>, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let page = Page::plan(request, raw, session.policy.max_rows)?;
    let from = page.table.quoted();
    if let Some(format) = Format::from_request(request)? {
        // The whole table as on screen: the same filter and order, no page.
        let all = format!("SELECT * FROM {from}{}{}", page.condition, page.order());
        let params = page.values.into_iter().map(Some).collect();
        return export::start(app, session, request, all, params, format, "rows", Some(from.clone())).await;
    }
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    // A table that is not there is a 404, as on the other table routes.
    let missing = |e: ApiError| e.in_table(&from);
    let limit = page.limit;
    let (result, select, count, facts) = if page.raw_where {
        let select = page.select(&[], limit)?;
        let result = last(
            access::statement(app, session, request, &select.sql, (limit as usize).saturating_add(1), "rows")
                .await
                .map_err(missing)?,
        );
        let count_sql = format!("SELECT count(*) FROM {from}{}", page.condition);
        let count = last(access::statement(app, session, request, &count_sql, 1, "rows").await?);
        (result, select, (first_number(&count.rows), false), None)
    } else {
        let facts = facts(app, session, request, &page.table).await?;
        // Refused before anything is counted.
        let select = page.select(&facts.primary_key, limit)?;
        let estimate = match facts.reltuples {
            known if known >= 0 => known,
            _ => planner_rows(app, session, request, &from).await.map_err(missing)?,
        };
        let exact = request.param("count").as_deref() == Some("exact");
        let count = if page.condition.is_empty() && !exact && estimate >= ESTIMATE_FROM {
            (estimate, true)
        } else {
            let sql = format!("SELECT count(*) FROM {from}{}", page.condition);
            let params: Vec<Option<&str>> = page.values.iter().map(|v| Some(v.as_str())).collect();
            (first_number(&access::catalog(app, session, request, &sql, &params).await.map_err(missing)?.rows), false)
        };
        // Counted, the last page holds what the pages before it leave, as
        // paging by offset would show it; estimated, a whole page.
        let select = match (&page.cursor, count) {
            (Cursor::Last, (rows, false)) if rows > 0 => page.select(&facts.primary_key, (rows - 1) % limit + 1)?,
            _ => select,
        };
        let started = Instant::now();
        let params: Vec<Option<&str>> = select.params.iter().map(|v| Some(v.as_str())).collect();
        let result = access::catalog(app, session, request, &select.sql, &params).await;
        let seen = result.as_ref().map(|p| Some(p.rows_seen)).map_err(ToString::to_string);
        app.recorder().record(&session.subject(), "rows", &select.sql, started.elapsed(), seen);
        let result = result.map_err(missing)?;
        (result, select, count, Some((facts, estimate)))
    };
    let elapsed = started.elapsed();
    let (mut result, beyond) = past_the_page(result, select.size as usize);
    if page.cursor.is_backwards() {
        result.rows.reverse();
    }
    let keyset = select.key.as_ref().and_then(|key| edges(&result, key));
    let (count, estimated) = count;
    let pages = if count == 0 { 0 } else { (count + limit - 1) / limit };
    // Read backwards, the row past the page is the one before it.
    let (has_previous, has_more) = match page.cursor {
        Cursor::Offset => (page.offset > 0, beyond),
        Cursor::After(_) => (true, beyond),
        Cursor::Before(_) => (beyond, true),
        Cursor::Last => (beyond, false),
    };
    let number = match page.cursor {
        _ if !has_previous => 1,
        Cursor::Last => pages.max(1),
        _ => page.offset / limit + 1,
    };
    // An estimate can be short of the table: a page that has a next one
    // is never the last, whatever the count says.
    let pages = if has_more {
        pages.max(number + 1)
    } else if estimated {
        pages.max(number)
    } else {
        pages
    };
    let mut body = result_json(result, started_at, elapsed);
    body["pagination"] = json!({
        "rows_count": count,
        "estimated": estimated,
        "page": number,
        "pages_count": pages,
        "per_page": limit,
        "has_more": has_more,
        "has_previous": has_previous,
        "keyset": keyset,
    });
    if let Some((facts, estimate)) = facts {
        body["pagination"]["indexed_columns"] = json!(facts.indexed);
        body["pagination"]["table_estimate"] = json!(estimate);
    }
    Ok(Response::json(200, &body))
}

/// The keys of a page's first and last rows, which `before` and `after`
/// take back: `None` for an empty page.
fn edges(page: &ResultSet, key: &[String]) -> Option<Value> {
    let at: Vec<usize> = key.iter().map(|k| page.columns.iter().position(|c| c.name == *k)).collect::<Option<_>>()?;
    let key_of = |row: &Vec<Value>| at.iter().map(|i| row.get(*i).and_then(key_text)).collect::<Option<Vec<_>>>();
    let first = key_of(page.rows.first()?)?;
    let last = key_of(page.rows.last()?)?;
    Some(json!({ "columns": key, "first": first, "last": last }))
}

/// The structured filter as SQL (`None` without one) and its values in
/// parameter order: `filter_column` for pgweb's single condition, or
/// `filters`, a JSON array of `{column, op, value}` joined by AND.
fn structured_filter(request: &Request) -> Result<(Option<String>, Vec<String>), ApiError> {
    let single = request.param("filter_column").filter(|c| !c.is_empty());
    let many = request.param("filters").filter(|f| !f.trim().is_empty());
    let conditions = match (single, many) {
        (None, None) => return Ok((None, Vec::new())),
        (Some(_), Some(_)) => {
            return Err(ApiError::BadParam("give either filters or filter_column, not both".into()));
        }
        (Some(column), None) => vec![Condition {
            column,
            op: request.param("filter_op").unwrap_or_default(),
            value: request.param("filter_value"),
        }],
        (None, Some(json)) => {
            let conditions: Vec<Condition> = serde_json::from_str(&json).map_err(|e| {
                ApiError::BadParam(format!("filters must be a JSON array of {{column, op, value}}: {e}"))
            })?;
            if conditions.is_empty() || conditions.len() > MAX_CONDITIONS {
                return Err(ApiError::BadParam(format!("filters holds 1 to {MAX_CONDITIONS} conditions")));
            }
            conditions
        }
    };
    let mut parts = Vec::with_capacity(conditions.len());
    let mut values = Vec::new();
    for Condition { column, op, value } in conditions {
        let (sql, takes_value) = operator(&op).ok_or_else(|| {
            ApiError::BadParam(format!(
                "filter operator \"{op}\" is unknown (equal, not_equal, greater, greater_eq, less, less_eq, like, ilike, null, not_null)"
            ))
        })?;
        if column.is_empty() {
            return Err(ApiError::BadParam("a filter condition needs a column".into()));
        }
        if takes_value {
            values.push(value.unwrap_or_default());
            parts.push(format!("{} {sql} ${}", quote_ident(&column), values.len()));
        } else {
            parts.push(format!("{} {sql}", quote_ident(&column)));
        }
    }
    Ok((Some(parts.join(" AND ")), values))
}

/// Drops the row past the page, saying whether there was one.
fn past_the_page(mut page: ResultSet, limit: usize) -> (ResultSet, bool) {
    let more = page.rows.len() > limit;
    if more {
        page.rows.truncate(limit);
        page.rows_seen = limit as u64;
        page.truncated = false;
        page.truncated_at_bytes = false;
        if let Some(completion) = page.completion.as_mut() {
            completion.rows_affected = Some(limit as u64);
            completion.tag = format!("SELECT {limit}");
        }
    }
    (page, more)
}

/// The result set that matters of a single statement.
pub(super) fn last(ran: Ran) -> ResultSet {
    ran.results.into_iter().next_back().unwrap_or_default()
}

fn first_number(rows: &[Vec<Value>]) -> i64 {
    rows.first().and_then(|r| r.first()).and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok())).unwrap_or(0)
}
