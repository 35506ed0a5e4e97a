//! Plans as JSON for the UI's tree, and EXPLAIN ANALYZE of a statement that
//! writes run inside a transaction (or a savepoint of the open one) that is
//! rolled back: the plan's actual rows are real, the table is untouched.

use serde_json::{Value, json};

use crate::support::door::{Browser, on_database};
use crate::support::pg::{roles, tls_cluster};

fn seeded() -> String {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user; CREATE TABLE t(id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)",
    );
    db
}

/// The plan of a JSON plan answer.
fn plan_of(body: &Value) -> Value {
    let text = body["rows"][0][0].as_str().unwrap_or_else(|| panic!("no plan: {body}"));
    serde_json::from_str::<Value>(text).unwrap()[0]["Plan"].clone()
}

async fn count(tab: &Browser) -> Value {
    tab.query("SELECT count(*) FROM t").await.scalar().clone()
}

#[tokio::test]
async fn plans_come_as_json_and_an_analyzed_write_is_rolled_back() {
    let db = seeded();
    let (_door, tab) = on_database(&db, &[]).await;
    let plan = tab.post("explain", &[("query", "SELECT * FROM t WHERE id = 3"), ("plan", "json")]).await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert_eq!(plan_of(&plan.body)["Relation Name"], "t");
    assert!(plan_of(&plan.body).get("Actual Rows").is_none(), "EXPLAIN alone runs nothing");

    let analyzed =
        tab.post("analyze", &[("query", "DELETE FROM t WHERE id <= 4"), ("plan", "json"), ("rollback", "true")]).await;
    assert_eq!(analyzed.status, 200, "{}", analyzed.body);
    let node = plan_of(&analyzed.body);
    assert_eq!(node["Node Type"], "ModifyTable");
    assert_eq!(node["Plans"][0]["Actual Rows"], 4, "it really ran: {node}");
    assert!(node.get("Shared Hit Blocks").is_some(), "with buffers");
    assert_eq!((&analyzed.body["rolled_back"], &analyzed.body["transaction"]), (&json!(true), &json!("idle")));
    assert_eq!(count(&tab).await, 10, "and left nothing behind");

    // Inside the person's own transaction: a savepoint, so their work stays.
    tab.query("BEGIN").await;
    tab.query("INSERT INTO t VALUES (11)").await;
    let inside = tab.post("analyze", &[("query", "DELETE FROM t"), ("plan", "json"), ("rollback", "true")]).await;
    assert_eq!(inside.status, 200, "{}", inside.body);
    assert_eq!(plan_of(&inside.body)["Plans"][0]["Actual Rows"], 11);
    assert_eq!(inside.body["transaction"], "in_transaction");
    assert_eq!(count(&tab).await, 11, "the delete undone, the insert kept");
    tab.query("ROLLBACK").await;
    assert_eq!(count(&tab).await, 10);

    // A failing statement: rolled back too, its error placed on the typed text.
    let failed = tab.post("analyze", &[("query", "DELETE FROM t WHERE nope = 1"), ("rollback", "true")]).await;
    assert_eq!(failed.status, 400, "{}", failed.body);
    assert_eq!(failed.body["db_error"]["position"], 21, "{}", failed.body);
    assert_eq!(failed.body["transaction"], "idle", "nothing left open");
    // A second statement smuggled in cannot run outside the rolled-back transaction.
    let smuggled =
        tab.post("analyze", &[("query", "DELETE FROM t; COMMIT; DELETE FROM t"), ("rollback", "true")]).await;
    assert_eq!(smuggled.status, 400, "{}", smuggled.body);
    assert_eq!(count(&tab).await, 10);
    assert_eq!(tab.get("connection").await.body["transaction"], "idle");
}

#[tokio::test]
async fn a_read_only_link_never_writes_under_analyze() {
    let db = seeded();
    let (_door, tab) = on_database(&db, &["--readonly"]).await;
    let refused = tab.post("analyze", &[("query", "DELETE FROM t"), ("rollback", "true")]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["db_error"]["code"], "25006", "{}", refused.body);
    assert_eq!(count(&tab).await, 10);
}
