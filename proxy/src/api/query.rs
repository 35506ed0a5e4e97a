//! `GET`/`POST /api/query`: runs the person's SQL on the session's editor
//! connection and answers with pgweb's result object.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::access;
use super::error::ApiError;
use super::export::{self, Format};
use crate::app::App;
use crate::http::{Request, Response};
use crate::pg::{DbError, ResultSet};
use crate::session::{Mode, Output, Ran, Session, SessionError, StateKinds, Statement};

/// Runs `query`: several statements in one request, or one statement at a
/// time in `BEGIN READ ONLY` for read-only sessions. A download runs
/// read-only in every session, so it can never write a second time.
pub async fn run(app: &App, session: &Arc<Session>, request: &Request) -> Result<Response, ApiError> {
    let sql = request.param("query").filter(|q| !q.trim().is_empty()).ok_or(ApiError::MissingParam("Query"))?;
    if let Some(format) = Format::from_request(request)? {
        let sql = download_query(request, sql);
        return export::start(app, session, request, sql, Vec::new(), format, "export", None).await;
    }
    let renewal = access::renewal(app, session, request).await?;
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let statement = Statement {
        sql,
        params: Vec::new(),
        mode: Mode::Script,
        // A GET can be a link on another page: it never writes.
        read_only: request.method == http::Method::GET,
        output: Output::Collect { max_rows: session.policy.max_rows, max_bytes: session.policy.max_result_bytes },
        history: true,
    };
    let sql = statement.sql.clone();
    match session.run(statement, renewal).await {
        Ok(ran) => {
            let rows = ran
                .results
                .iter()
                .map(|r| {
                    if r.columns.is_empty() {
                        r.completion.as_ref().and_then(|c| c.rows_affected).unwrap_or(0)
                    } else {
                        r.rows_seen
                    }
                })
                .sum();
            app.recorder().record(&session.subject(), "query", &sql, ran.elapsed, Ok(Some(rows)));
            Ok(Response::json(200, &answer(ran, started_at)))
        }
        Err(SessionError::ScriptFailed { error, done }) => {
            let done: Vec<Value> = done.iter().filter(|r| r.completion.is_some()).map(statement_json).collect();
            let error = if done.is_empty() { ApiError::Sql(error) } else { ApiError::ScriptFailed { db: error, done } };
            app.recorder().record(&session.subject(), "query", &sql, started.elapsed(), Err(error.to_string()));
            Err(error)
        }
        Err(e) => {
            let error = ApiError::from_session(e, session.readonly || request.method == http::Method::GET);
            app.recorder().record(&session.subject(), "query", &sql, started.elapsed(), Err(error.to_string()));
            Err(error)
        }
    }
}

/// The result object, the transaction state, and what a reconnect lost.
pub(super) fn answer(ran: Ran, started_at: OffsetDateTime) -> Value {
    let (transaction, reconnected, state_lost) = (ran.transaction, ran.reconnected, ran.state_lost);
    let mut body = result_object(ran.results, ran.notices, started_at, ran.elapsed);
    body["notices_dropped"] = json!(ran.notices_dropped);
    body["transaction"] = json!(transaction);
    if reconnected {
        body["reconnected"] = Value::Bool(true);
    }
    if let Some(lost) = state_lost_json(state_lost) {
        body["state_lost"] = lost;
    }
    body
}

/// What a reconnect before the request lost, for the answer; `None` when nothing.
pub(super) fn state_lost_json(state_lost: StateKinds) -> Option<Value> {
    (!state_lost.is_empty()).then(|| {
        json!({
            "kinds": state_lost,
            "message": format!(
                "The database connection had been lost and pgdoor opened a new one; what the old one held is gone: {state_lost}. Set it up again if you need it."
            ),
        })
    })
}

/// The query of a download link. pgweb's frontend opens editor downloads as
/// `GET ?format=…&query=<base64>` with `+/=` written as `-_.`; only that
/// form is decoded (a query string, nothing but that alphabet, UTF-8 after
/// decoding), so typed SQL is never guessed at.
pub(super) fn download_query(request: &Request, sql: String) -> String {
    let from_link = request.query_param("query").is_some_and(|q| q == sql);
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !from_link || !sql.bytes().all(alphabet) {
        return sql;
    }
    let standard: String = sql.chars().map(|c| if c == '.' { '=' } else { c }).collect();
    base64::engine::general_purpose::URL_SAFE
        .decode(standard)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|decoded| !decoded.trim().is_empty())
        .unwrap_or(sql)
}

/// pgweb's result object for the statement that matters (the last with rows,
/// else the last), plus a summary of every statement and the notices.
fn result_object(
    results: Vec<ResultSet>,
    notices: Vec<DbError>,
    started_at: OffsetDateTime,
    elapsed: Duration,
) -> Value {
    let picked = picked(&results);
    let statements: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if Some(i) == picked && results.len() > 1 {
                let mut summary = summary_json(r);
                summary["picked"] = json!(true);
                summary
            } else if results.len() > 1 {
                statement_json(r)
            } else {
                summary_json(r)
            }
        })
        .collect();
    let mut results = results;
    let main = match picked {
        Some(i) => results.swap_remove(i),
        None => results.pop().unwrap_or_default(),
    };
    let mut body = result_json(main, started_at, elapsed);
    body["statements"] = json!(statements);
    body["notices"] = json!(notices);
    body
}

/// pgweb's result object for one result set: columns, rows, stats, plus
/// pgdoor's `column_types`, `command`, `truncated` and `rows_total`.
pub(super) fn result_json(main: ResultSet, started_at: OffsetDateTime, elapsed: Duration) -> Value {
    let completion = main.completion.clone();
    let rows_affected = completion.as_ref().and_then(|c| c.rows_affected).unwrap_or(0);
    let (columns, rows): (Vec<String>, Vec<Vec<Value>>) = if main.columns.is_empty() && counted(&completion) {
        (vec!["Rows Affected".into()], vec![vec![json!(rows_affected)]])
    } else {
        (main.columns.iter().map(|c| c.name.clone()).collect(), main.rows)
    };
    let time = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    json!({
        "columns": columns,
        "column_types": main.columns.iter().map(|c| c.type_oid).collect::<Vec<_>>(),
        "rows": rows,
        "stats": {
            "columns_count": columns.len(),
            "rows_count": rows.len(),
            "rows_affected": rows_affected,
            "query_start_time": time(started_at),
            "query_finish_time": time(started_at + elapsed),
            "query_duration_ms": elapsed.as_millis() as u64,
        },
        "command": completion.map(|c| c.tag),
        "truncated": main.truncated,
        "truncated_by": main.truncated.then_some(if main.truncated_at_bytes { "bytes" } else { "rows" }),
        "rows_total": main.rows_seen,
    })
}

/// INSERT, UPDATE, DELETE and MERGE report rows affected without a row description.
fn counted(completion: &Option<crate::pg::Completion>) -> bool {
    completion.as_ref().is_some_and(|c| {
        ["INSERT", "UPDATE", "DELETE", "MERGE"].iter().any(|word| c.tag.starts_with(word)) && c.rows_affected.is_some()
    })
}

/// The result pgweb's object shows: the last with rows, else the last.
fn picked(results: &[ResultSet]) -> Option<usize> {
    results.iter().rposition(|r| !r.columns.is_empty()).or(results.len().checked_sub(1))
}

/// A statement's command, rows affected and duration.
fn summary_json(result: &ResultSet) -> Value {
    let done = result.completion.as_ref();
    json!({
        "command": done.map(|c| c.tag.clone()),
        "rows_affected": done.and_then(|c| c.rows_affected),
        "duration_ms": done.map(|c| c.duration.as_secs_f64() * 1000.0),
    })
}

/// One statement of a script: its summary and, when it returned rows, the
/// rows (capped as every result is).
fn statement_json(result: &ResultSet) -> Value {
    let mut out = summary_json(result);
    if !result.columns.is_empty() {
        out["columns"] = json!(result.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
        out["column_types"] = json!(result.columns.iter().map(|c| c.type_oid).collect::<Vec<_>>());
        out["rows"] = json!(result.rows);
        out["truncated"] = json!(result.truncated);
        out["rows_total"] = json!(result.rows_seen);
    }
    out
}
