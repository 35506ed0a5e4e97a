//! A script's every outcome: each statement's command, count and rows in
//! order; on a failure, the statements before it, which one failed, and
//! that the rest did not run (and what the implicit transaction undid).

use serde_json::json;

use crate::support::door::{Browser, Door, on_database};
use crate::support::pg::{roles, tls_cluster};

async fn tab() -> (Door, Browser) {
    on_database(&tls_cluster().create_database(roles::TRUST), &[]).await
}

#[tokio::test]
async fn each_statement_of_a_script_reports_its_outcome() {
    let (_door, tab) = tab().await;
    let script = "CREATE TABLE s(id int); INSERT INTO s VALUES (1), (2); SELECT 'between' AS note; \
                  UPDATE s SET id = id + 10 WHERE id = 1; SELECT * FROM s ORDER BY id; DELETE FROM s WHERE id = 2";
    let ran = tab.query(script).await;
    assert_eq!(ran.status, 200, "{}", ran.body);
    let statements = ran.body["statements"].as_array().unwrap();
    let commands: Vec<_> = statements.iter().map(|s| s["command"].as_str().unwrap()).collect();
    assert_eq!(commands, ["CREATE TABLE", "INSERT 0 2", "SELECT 1", "UPDATE 1", "SELECT 2", "DELETE 1"]);
    assert_eq!(statements[2]["rows"], json!([["between"]]), "a result in the middle is kept");
    assert_eq!(statements[2]["columns"], json!(["note"]));
    assert_eq!(statements[4]["picked"], true, "the last with rows is the main result");
    assert!(statements[4].get("rows").is_none(), "and is not sent twice");
    assert_eq!(ran.body["rows"], json!([[2], [11]]));
    assert_eq!(statements[5]["rows_affected"], 1);
}

#[tokio::test]
async fn a_failing_statement_says_which_and_what_ran_before_it() {
    let (_door, tab) = tab().await;
    tab.query("CREATE TABLE s(id int)").await;
    let failed =
        tab.query("INSERT INTO s VALUES (5); SELECT 'seen' AS x; SELECT 1 / 0; INSERT INTO s VALUES (6)").await;
    assert_eq!(failed.status, 400, "{}", failed.body);
    assert_eq!(failed.body["code"], "sql_error");
    assert_eq!(failed.body["failed_statement"], 3);
    assert_eq!(failed.body["db_error"]["code"], "22012");
    let done: Vec<_> = failed.body["statements"].as_array().unwrap().iter().map(|s| s["command"].clone()).collect();
    assert_eq!(done, [json!("INSERT 0 1"), json!("SELECT 1")]);
    assert_eq!(failed.body["statements"][1]["rows"], json!([["seen"]]));
    assert_eq!(failed.body["transaction"], "idle");
    // One implicit transaction: the INSERT before the failure was undone, the one after never ran.
    assert_eq!(tab.query("SELECT count(*) FROM s").await.scalar(), &json!(0));
    // A lone failing statement is an error as before, with no outcomes.
    let alone = tab.query("SELECT 1 / 0").await;
    assert_eq!((alone.status, alone.body.get("statements").is_none()), (400, true), "{}", alone.body);
}
