//! `explain` and `analyze`: the person's statement under EXPLAIN, as typed
//! SQL (one statement, extended protocol). `plan=json` asks for the plan as
//! verbose JSON (schema-qualified; with buffers under ANALYZE) for the UI's tree; `rollback=true`
//! runs an ANALYZE inside a transaction (or a savepoint of the open one)
//! that is rolled back whatever happens, so a statement that writes leaves
//! nothing behind.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use time::OffsetDateTime;

use super::access;
use super::error::ApiError;
use super::export::{self, Format};
use super::query::result_json;
use super::rows;
use crate::app::App;
use crate::http::{Request, Response};
use crate::pg::TransactionStatus;
use crate::session::{Ran, Session};

/// The statements around a rolled-back ANALYZE: before, and after (always run).
fn wrapping(status: TransactionStatus) -> Result<(&'static str, &'static [&'static str]), ApiError> {
    match status {
        TransactionStatus::Idle => Ok(("BEGIN", &["ROLLBACK"])),
        TransactionStatus::InTransaction => Ok((
            "SAVEPOINT pgdoor_analyze",
            &["ROLLBACK TO SAVEPOINT pgdoor_analyze", "RELEASE SAVEPOINT pgdoor_analyze"],
        )),
        TransactionStatus::Failed => {
            Err(ApiError::BadParam("your transaction has failed, so nothing can run in it: roll it back first".into()))
        }
    }
}

/// Moves a server error's position from the EXPLAIN statement back onto the person's text.
fn onto_typed(error: ApiError, prefix: &str) -> ApiError {
    match error {
        ApiError::Sql(mut db) => {
            let by = prefix.chars().count() as u32;
            db.position = db.position.map(|p| p.saturating_sub(by)).filter(|p| *p > 0);
            ApiError::Sql(db)
        }
        other => other,
    }
}

/// `GET|POST /api/explain` and `/api/analyze`.
pub async fn explain(
    app: &App,
    session: &Arc<Session>,
    request: &Request,
    analyze: bool,
) -> Result<Response, ApiError> {
    let sql = request.param("query").filter(|q| !q.trim().is_empty()).ok_or(ApiError::MissingParam("Query"))?;
    let as_json = request.param("plan").as_deref() == Some("json");
    let prefix = match (analyze, as_json) {
        (false, false) => "EXPLAIN ",
        (false, true) => "EXPLAIN (VERBOSE, FORMAT JSON) ",
        (true, false) => "EXPLAIN ANALYZE ",
        (true, true) => "EXPLAIN (ANALYZE, VERBOSE, BUFFERS, FORMAT JSON) ",
    };
    let statement = format!("{prefix}{sql}");
    if let Some(format) = Format::from_request(request)? {
        return export::start(app, session, request, statement, Vec::new(), format, "export", None).await;
    }
    // A read-only link never writes, so there is nothing to roll back.
    let rollback = analyze && request.param("rollback").as_deref() == Some("true") && !session.readonly;
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let kind = if analyze { "analyze" } else { "explain" };
    let max_rows = session.policy.max_rows;
    let ran = if rollback {
        let (before, after) = wrapping(session.transaction())?;
        access::statement(app, session, request, before, 1, kind).await?;
        let ran = access::statement(app, session, request, &statement, max_rows, kind).await;
        let mut undone = Ok(());
        for step in after {
            undone = undone.and(access::statement(app, session, request, step, 1, kind).await.map(drop));
        }
        let mut ran = ran.map_err(|e| onto_typed(e, prefix))?;
        undone?;
        ran.transaction = session.transaction();
        ran
    } else {
        access::statement(app, session, request, &statement, max_rows, kind).await.map_err(|e| onto_typed(e, prefix))?
    };
    Ok(Response::json(200, &answer(ran, rollback, started_at, started)))
}

fn answer(ran: Ran, rolled_back: bool, started_at: OffsetDateTime, started: Instant) -> serde_json::Value {
    let transaction = ran.transaction;
    let plan = rows::last(ran);
    let mut body = result_json(plan, started_at, started.elapsed());
    body["transaction"] = json!(transaction);
    if rolled_back {
        body["rolled_back"] = json!(true);
    }
    body
}
