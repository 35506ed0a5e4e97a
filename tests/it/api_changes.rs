//! Editing rows through `POST /api/tables/:table/changes` on a real
//! PostgreSQL: typed values bound as parameters (composite keys, enums,
//! jsonb, arrays, NULLs, quoted and unicode names), the database checked
//! from a separate connection; a row changed meanwhile is a conflict and
//! nothing is applied; a failing change applies nothing; hostile names and
//! values stay data; read-only links and `edits: false` are refused.

use serde_json::{Value, json};

use crate::support::backend::Backend;
use crate::support::door::{Answer, Browser, Door};
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "changes-token";

const SCHEMA: &str = r#"
SET ROLE trust_user;
CREATE SCHEMA "Ünï schema";
CREATE TYPE "Ünï schema".mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "Ünï schema"."Odd ""table""" (
  region text NOT NULL, num int NOT NULL,
  "näme" text, mood "Ünï schema".mood, doc jsonb, tags text[], price numeric(8,2) DEFAULT 1.50,
  total numeric GENERATED ALWAYS AS (price * 2) STORED,
  PRIMARY KEY (region, num));
INSERT INTO "Ünï schema"."Odd ""table""" VALUES ('eu', 1, 'Ann', 'ok', '{"a": 1}', '{x,y}', 2.50), ('us', 1, NULL, NULL, NULL, NULL, 3);
CREATE TABLE public.nokey (x int);
CREATE VIEW public.v AS SELECT 1 AS x;
"#;

const TABLE: &str = "%22%C3%9Cn%C3%AF%20schema%22.%22Odd%20%22%22table%22%22%22";

fn start(fields: &str) -> (Door, Backend, String) {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(&db, SCHEMA);
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let backend = Backend::builder(TOKEN)
        .resources_toml(&format!(
            "[db]\ndatabase_url = \"{url}\"\n{fields}\n[ro]\ndatabase_url = \"{url}\"\nreadonly = true\n"
        ))
        .start();
    let door = Door::start_with_env(
        &["--sessions", "--connect-backend", backend.url.as_str()],
        &[("PGDOOR_CONNECT_TOKEN", TOKEN)],
    );
    (door, backend, db)
}

async fn open(door: &Door, resource: &str) -> Browser {
    let mut tab = Browser::new(&door.base);
    let response = tab.connect(resource, &[]).await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    tab
}

async fn changes(tab: &Browser, table: &str, body: Value) -> Answer {
    tab.post_json(&format!("tables/{table}/changes"), &body).await
}

fn row(db: &str, region: &str) -> String {
    tls_cluster().admin_sql_in(
        db,
        &format!(
            r#"SELECT concat_ws('|', "näme", mood, doc, tags, price, total) FROM "Ünï schema"."Odd ""table""" WHERE region = '{region}' AND num = 1"#
        ),
    )
}

#[tokio::test]
async fn typed_edits_apply_in_one_transaction_and_the_database_holds_them() {
    let (door, _backend, db) = start("");
    let tab = open(&door, "db").await;

    let editing = tab.get(&format!("tables/{TABLE}/editing")).await;
    assert_eq!(editing.status, 200, "{}", editing.body);
    assert_eq!(editing.body["editable"], true, "{}", editing.body);
    assert_eq!(editing.body["key"], json!(["region", "num"]));
    let kinds: Vec<(&str, &str)> = editing.body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("region", "text"),
            ("num", "number"),
            ("näme", "text"),
            ("mood", "enum"),
            ("doc", "json"),
            ("tags", "array"),
            ("price", "number"),
            ("total", "number")
        ]
    );
    assert_eq!(editing.body["columns"][3]["labels"], json!(["sad", "ok", "happy"]));
    assert_eq!(editing.body["columns"][7]["generated"], true);
    assert_eq!(editing.body["columns"][6]["default"], "1.50");

    // The rows as the table view shows them, then edits of each type.
    let seen = tab.get(&format!("tables/{TABLE}/rows?sort_column=region")).await;
    let eu = &seen.body["rows"][0];
    let edits = json!({"changes": [
        {"op": "update", "key": {"region": "eu", "num": 1},
         "old": {"näme": eu[2], "mood": eu[3], "doc": eu[4], "tags": eu[5], "price": eu[6]},
         "values": {"näme": "Ann's \"new\"", "mood": "happy", "doc": {"b": [1, 2]}, "tags": "{a,\"b c\"}", "price": 9.99}},
        {"op": "update", "key": {"region": "us", "num": 1}, "old": {"näme": null}, "values": {"näme": "Bob", "mood": null}},
        {"op": "insert", "values": {"region": "asia", "num": 2}},
    ]});
    let preview = changes(&tab, TABLE, json!({"changes": edits["changes"], "dry_run": true})).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.body["applied"], false);
    let text = preview.body["statements"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("UPDATE \"Ünï schema\".\"Odd \"\"table\"\"\" SET \"näme\" = 'Ann''s \"new\"'"), "{text}");
    assert_eq!(row(&db, "eu"), "Ann|ok|{\"a\": 1}|{x,y}|2.50|5.00", "a dry run runs nothing");

    let applied = changes(&tab, TABLE, edits).await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert_eq!(applied.body["applied"], true);
    assert_eq!(applied.body["statements"][0]["affected"], 1);
    assert_eq!(applied.body["statements"][2]["row"]["price"], "1.50", "the inserted row as stored, defaults in");
    assert_eq!(row(&db, "eu"), "Ann's \"new\"|happy|{\"b\": [1, 2]}|{a,\"b c\"}|9.99|19.98");
    assert_eq!(row(&db, "us"), "Bob|3.00|6.00");
    assert_eq!(tls_cluster().admin_sql_in(&db, r#"SELECT count(*) FROM "Ünï schema"."Odd ""table""""#), "3");

    // Delete by key and the values seen.
    let gone = changes(
        &tab,
        TABLE,
        json!({"changes": [{"op": "delete", "key": {"region": "asia", "num": 2}, "old": {"näme": null}}]}),
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(tls_cluster().admin_sql_in(&db, r#"SELECT count(*) FROM "Ünï schema"."Odd ""table""""#), "2");
}

#[tokio::test]
async fn a_row_changed_meanwhile_is_a_conflict_and_nothing_is_applied() {
    let (door, _backend, db) = start("");
    let tab = open(&door, "db").await;
    // Someone else edits the row after the person loaded it.
    tls_cluster()
        .admin_sql_in(&db, r#"UPDATE "Ünï schema"."Odd ""table""" SET "näme" = 'Changed' WHERE region = 'eu'"#);
    let answer = changes(
        &tab,
        TABLE,
        json!({"changes": [
            {"op": "update", "key": {"region": "us", "num": 1}, "values": {"näme": "Bob"}},
            {"op": "update", "key": {"region": "eu", "num": 1}, "old": {"näme": "Ann"}, "values": {"näme": "Mine"}},
        ]}),
    )
    .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.body["code"], "conflict");
    assert_eq!(answer.body["conflicts"], json!([1]));
    assert!(answer.body["error"].as_str().unwrap().contains("nothing was applied"), "{}", answer.body);
    assert_eq!(row(&db, "eu"), "Changed|ok|{\"a\": 1}|{x,y}|2.50|5.00", "never overwritten");
    assert_eq!(row(&db, "us"), "3.00|6.00", "the other change was rolled back with it");

    // A failing change applies nothing either, and says which.
    let failed = changes(
        &tab,
        TABLE,
        json!({"changes": [
            {"op": "update", "key": {"region": "us", "num": 1}, "values": {"näme": "Bob"}},
            {"op": "update", "key": {"region": "eu", "num": 1}, "values": {"mood": "furious"}},
        ]}),
    )
    .await;
    assert_eq!(failed.status, 400, "{}", failed.body);
    assert_eq!(failed.body["at"], 1);
    assert!(
        failed.body["error"].as_str().unwrap().starts_with("Change 2 of 2 failed: invalid input value for enum"),
        "{}",
        failed.body
    );
    assert_eq!(row(&db, "us"), "3.00|6.00");
    assert_eq!(tab.query("SELECT 1").await.body["transaction"], "idle", "the session is usable");

    // Not inside the person's own transaction.
    assert_eq!(tab.query("BEGIN").await.status, 200);
    let open_tx = changes(&tab, TABLE, json!({"changes": [{"op": "delete", "key": {"region": "us", "num": 1}}]})).await;
    assert_eq!((open_tx.status, open_tx.body["code"].as_str()), (409, Some("transaction_open")), "{}", open_tx.body);
}

#[tokio::test]
async fn hostile_names_and_values_stay_data_and_refusals_say_why() {
    let (door, _backend, db) = start("");
    let tab = open(&door, "db").await;
    let hostile = "x'); DROP TABLE public.nokey; --";
    let answer = changes(
        &tab,
        TABLE,
        json!({"changes": [
        {"op": "update", "key": {"region": "eu", "num": 1}, "values": {"näme": hostile}}]}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(row(&db, "eu").starts_with(hostile));
    for (body, status, needle) in [
        (
            json!({"changes": [{"op": "update", "key": {"region": "eu", "num": 1}, "values": {"näme\" = 'x', \"num": 5}}]}),
            400,
            "has no column",
        ),
        (
            json!({"changes": [{"op": "update", "key": {"region": "eu"}, "values": {"näme": "x"}}]}),
            400,
            "exactly the columns",
        ),
        (json!({"changes": [{"op": "insert", "values": {"total": 1}}]}), 400, "generated"),
        (json!({"changes": [{"op": "insert", "values": {}}], "where": "true"}), 400, "expected form"),
        (json!({"changes": []}), 400, "nothing to apply"),
    ] {
        let refused = changes(&tab, TABLE, body.clone()).await;
        assert_eq!(refused.status, status, "{body}: {}", refused.body);
        assert!(refused.body["error"].as_str().unwrap().contains(needle), "{body}: {}", refused.body);
    }
    let nokey = changes(&tab, "public.nokey", json!({"changes": [{"op": "insert", "values": {"x": 1}}]})).await;
    assert_eq!((nokey.status, nokey.body["code"].as_str()), (400, Some("not_editable")), "{}", nokey.body);
    let view = tab.get("tables/public.v/editing").await;
    assert_eq!(view.body["editable"], false);
    assert!(view.body["reason"].as_str().unwrap().contains("not a table"), "{}", view.body);
    let missing = changes(&tab, "public.nosuch", json!({"changes": [{"op": "insert", "values": {}}]})).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(tls_cluster().admin_sql_in(&db, "SELECT count(*) FROM public.nokey"), "0");
}

#[tokio::test]
async fn read_only_links_and_a_policy_without_edits_are_refused() {
    let (door, _backend, db) = start("edits = false");
    let ro = open(&door, "ro").await;
    let body = json!({"changes": [{"op": "delete", "key": {"region": "eu", "num": 1}}]});
    let refused = changes(&ro, TABLE, body.clone()).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (403, Some("read_only")), "{}", refused.body);
    assert_eq!(ro.get(&format!("tables/{TABLE}/editing")).await.body["editable"], false);

    let no_edits = open(&door, "db").await;
    let refused = changes(&no_edits, TABLE, body).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (403, Some("edits_disabled")), "{}", refused.body);
    assert_eq!(no_edits.get("connection").await.body["policy"]["edits"], false);
    assert_eq!(tls_cluster().admin_sql_in(&db, r#"SELECT count(*) FROM "Ünï schema"."Odd ""table""""#), "2");
}
