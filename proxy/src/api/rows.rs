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
    /// ` ORDER BY …`, or empty.
    pub order: String,
    /// The structured filter's values, bound as `$1`, `$2`, ….
    pub values: Vec<String>,
    /// The condition is pgweb's raw `where` fragment.
    pub raw_where: bool,
    /// Rows per page, at most the row cap.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
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
        let order = match request.param("sort_column").filter(|c| !c.is_empty()) {
            None => String::new(),
            Some(column) => {
                let direction = match request.param("sort_order").unwrap_or_default().to_ascii_uppercase().as_str() {
                    "" | "ASC" => "ASC",
                    "DESC" => "DESC",
                    other => {
                        return Err(ApiError::BadParam(format!("sort_order must be ASC or DESC, not \"{other}\"")));
                    }
                };
                format!(" ORDER BY {} {direction}", quote_ident(&column))
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
        Ok(Page { table, condition, order, values, raw_where: raw_where.is_some(), limit, offset })
    }

    /// The page's SELECT, asking one row past the page to learn whether
    /// there is more (an estimate may say there is not).
    pub fn select(&self) -> String {
        let Page { table, condition, order, limit, offset, .. } = self;
        format!("SELECT * FROM {}{condition}{order} LIMIT {} OFFSET {offset}", table.quoted(), limit.saturating_add(1))
    }
}

/// Handles the rows route.
pub async fn rows(app: &App, session: &Arc<Session>, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let page = Page::plan(request, raw, session.policy.max_rows)?;
    let select = page.select();
    let Page { table, condition, order, values, raw_where, limit, offset } = page;
    let from = table.quoted();
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let params: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    if let Some(format) = Format::from_request(request)? {
        // The whole table as on screen: the same filter and order, no page.
        let all = format!("SELECT * FROM {from}{condition}{order}");
        let params = values.into_iter().map(Some).collect();
        return export::start(app, session, request, all, params, format, "rows", Some(from.clone())).await;
    }
    // A table that is not there is a 404, as on the other table routes.
    let missing = |e: ApiError| e.in_table(&from);
    let (page, count) = if raw_where {
        let page = last(
            access::statement(app, session, request, &select, (limit as usize).saturating_add(1), "rows")
                .await
                .map_err(missing)?,
        );
        let count_sql = format!("SELECT count(*) FROM {from}{condition}");
        let count = last(access::statement(app, session, request, &count_sql, 1, "rows").await?);
        (page, (first_number(&count.rows), false))
    } else {
        let started = Instant::now();
        let page = access::catalog(app, session, request, &select, &params).await;
        let rows = page.as_ref().map(|p| Some(p.rows_seen)).map_err(ToString::to_string);
        app.recorder().record(&session.subject(), "rows", &select, started.elapsed(), rows);
        let page = page.map_err(missing)?;
        let exact = request.param("count").as_deref() == Some("exact");
        let count = row_count(app, session, request, &table, &condition, &params, exact).await?;
        (page, count)
    };
    let elapsed = started.elapsed();
    let (page, more) = past_the_page(page, limit as usize);
    let mut body = result_json(page, started_at, elapsed);
    let (count, estimated) = count;
    let number = offset / limit + 1;
    // An estimate can be short of the table: a page that has a next one
    // is never the last, whatever the count says.
    let pages = if count == 0 { 0 } else { (count + limit - 1) / limit };
    let pages = if more {
        pages.max(number + 1)
    } else if estimated {
        pages.max(number)
    } else {
        pages
    };
    body["pagination"] = json!({
        "rows_count": count,
        "estimated": estimated,
        "page": number,
        "pages_count": pages,
        "per_page": limit,
        "has_more": more,
    });
    Ok(Response::json(200, &body))
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

/// The planner's estimate for a big unfiltered table (flagged `true`), else
/// an exact count; `exact` always counts.
async fn row_count(
    app: &App,
    session: &Session,
    request: &Request,
    table: &TableRef,
    condition: &str,
    params: &[Option<&str>],
    exact: bool,
) -> Result<(i64, bool), ApiError> {
    if condition.is_empty() && !exact {
        let estimate = access::catalog(
            app,
            session,
            request,
            "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            &[Some(&table.schema), Some(&table.name)],
        )
        .await?;
        let estimate = first_number(&estimate.rows);
        if estimate >= ESTIMATE_FROM {
            return Ok((estimate, true));
        }
    }
    let sql = format!("SELECT count(*) FROM {}{condition}", table.quoted());
    Ok((first_number(&access::catalog(app, session, request, &sql, params).await?.rows), false))
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
