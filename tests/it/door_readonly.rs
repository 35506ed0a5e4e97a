//! Read-only sessions hold against any SQL a person can type.

use serde_json::json;

use crate::support::door::{Browser, Door};
use crate::support::pg::{roles, tls_cluster};

/// A database with a table, a sequence, a writing function and a committing procedure.
fn database() -> String {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "CREATE TABLE t(x int); INSERT INTO t VALUES (1);
         CREATE SEQUENCE s;
         CREATE FUNCTION write_fn() RETURNS int LANGUAGE sql AS 'INSERT INTO t VALUES (100) RETURNING x';
         CREATE PROCEDURE commit_and_write() LANGUAGE plpgsql AS $$BEGIN COMMIT; INSERT INTO t VALUES (200); COMMIT; END$$;
         ALTER TABLE t OWNER TO trust_user; ALTER SEQUENCE s OWNER TO trust_user;
         ALTER FUNCTION write_fn() OWNER TO trust_user; ALTER PROCEDURE commit_and_write() OWNER TO trust_user;",
    );
    db
}

/// Every attempt, as one request or as a sequence of requests in the same
/// session; the last step of each is the one that would write.
const ESCAPES: &[&[&str]] = &[
    &["INSERT INTO t VALUES (2)"],
    &["COMMIT; INSERT INTO t VALUES (3)"],
    &["ROLLBACK; INSERT INTO t VALUES (4)"],
    &["BEGIN READ WRITE; INSERT INTO t VALUES (5); COMMIT"],
    &["SET TRANSACTION READ WRITE; INSERT INTO t VALUES (6)"],
    &["SET TRANSACTION READ WRITE", "INSERT INTO t VALUES (7)"],
    &["SET default_transaction_read_only = off", "INSERT INTO t VALUES (8)"],
    &["SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "INSERT INTO t VALUES (9)"],
    &["RESET ALL", "INSERT INTO t VALUES (10)"],
    &["BEGIN READ WRITE", "INSERT INTO t VALUES (11)"],
    &["COMMIT AND CHAIN", "INSERT INTO t VALUES (12)"],
    &["SELECT set_config('default_transaction_read_only', 'off', false)", "INSERT INTO t VALUES (13)"],
    &["SELECT set_config('transaction_read_only', 'off', false)"],
    &["DO $$BEGIN INSERT INTO t VALUES (14); END$$"],
    &["DO $$BEGIN COMMIT; INSERT INTO t VALUES (15); END$$"],
    &["WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone"],
    &["SELECT write_fn()"],
    &["CALL commit_and_write()"],
    &["UPDATE t SET x = 0"],
    &["DELETE FROM t"],
    &["TRUNCATE t"],
    &["DROP TABLE t"],
    &["ALTER TABLE t ADD COLUMN y int"],
    &["CREATE TABLE u(x int)"],
    &["CREATE TEMP TABLE tmp(x int)"],
    &["SELECT nextval('s')"],
    &["COPY t FROM PROGRAM 'true'"],
    &["PREPARE w AS INSERT INTO t VALUES (16)", "EXECUTE w"],
];

async fn assert_holds(tab: &Browser) {
    for attempt in ESCAPES {
        let (write, setup) = attempt.split_last().unwrap();
        for sql in setup {
            tab.query(sql).await;
            assert_eq!(tab.query("SELECT count(*) FROM t").await.scalar(), &json!(1), "after {sql}");
        }
        let answer = tab.query(write).await;
        assert_ne!(answer.status, 200, "{attempt:?} was allowed: {}", answer.body);
        // The data is what it was, whatever the attempt did.
        assert_eq!(tab.query("SELECT count(*) FROM t").await.scalar(), &json!(1), "after {attempt:?}");
    }
    assert_eq!(tab.query("SELECT sum(x) FROM t").await.scalar(), &json!(1));
    assert_eq!(tab.query("SHOW transaction_read_only").await.scalar(), &json!("on"));
    assert_eq!(tls_cluster().admin_sql("SELECT 1"), "1");
}

#[tokio::test]
async fn readonly_flag_holds_against_every_escape() {
    let db = database();
    let door = Door::start(&["--url", &tls_cluster().url_in(&db, roles::TRUST, None, "sslmode=disable"), "--readonly"]);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    assert_holds(&tab).await;
    assert_eq!(tls_cluster().admin_sql_in(&db, "SELECT count(*) FROM t"), "1");
    assert_eq!(tls_cluster().admin_sql_in(&db, "SELECT count(*) FROM pg_class WHERE relname IN ('u', 'tmp')"), "0");

    // Reading works, settings persist, and several statements get a clear answer.
    assert_eq!(tab.query("SELECT x FROM t").await.scalar(), &json!(1));
    tab.query("SET search_path = pg_catalog, public").await;
    assert_eq!(tab.query("SHOW search_path").await.scalar(), &json!("pg_catalog, public"));
    let many = tab.query("SELECT 1; SELECT 2").await;
    assert_eq!(many.status, 400);
    assert_eq!(many.body["code"], "one_statement");
    assert_eq!(tab.get("info").await.body["pgdoor"]["readonly"], true);
    assert_eq!(tab.get("connection").await.body["readonly"], true);
}

#[tokio::test]
async fn a_readonly_credential_from_the_backend_holds_too() {
    let db = database();
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("resources.toml");
    let url = tls_cluster().url_in(&db, roles::TRUST, None, "sslmode=disable");
    std::fs::write(
        &map,
        format!("[viewer]\ndatabase_url = \"{url}\"\nreadonly = true\n[editor]\ndatabase_url = \"{url}\"\n"),
    )
    .unwrap();
    let door = Door::start(&["--sessions", "--connect-backend", &format!("file://{}", map.display())]);
    let mut viewer = Browser::new(&door.base);
    viewer.connect("viewer", &[]).await;
    assert_holds(&viewer).await;

    let mut editor = Browser::new(&door.base);
    editor.connect("editor", &[]).await;
    assert_eq!(editor.query("INSERT INTO t VALUES (2)").await.status, 200);
    assert_eq!(editor.query("DELETE FROM t WHERE x = 2").await.body["stats"]["rows_affected"], 1);
}

/// PostgreSQL lets a read-only transaction write large objects; a
/// read-only session refuses every such write, however it is spelled.
#[tokio::test]
async fn large_object_writes_are_refused_and_change_nothing() {
    let db = database();
    let c = tls_cluster();
    c.admin_sql_in(&db, "SELECT lo_from_bytea(4242, 'abc'); ALTER LARGE OBJECT 4242 OWNER TO trust_user");
    let door = Door::start(&["--url", &c.url_in(&db, roles::TRUST, None, "sslmode=disable"), "--readonly"]);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    for sql in [
        "SELECT lo_create(0)",
        "SELECT lo_creat(-1)",
        "SELECT lo_from_bytea(0, 'x')",
        "SELECT lo_put(4242, 0, 'zzz')",
        "SELECT lo_unlink(4242)",
        "SELECT lowrite(lo_open(4242, 131072), 'zzz')",
        "SELECT lo_truncate(lo_open(4242, 131072), 0)",
        "SELECT \"lo_create\"(0)",
        "DO $$BEGIN EXECUTE 'SELECT lo_' || 'create(0)'; END$$",
    ] {
        let answer = tab.query(sql).await;
        assert_eq!(answer.status, 400, "{sql} was allowed: {}", answer.body);
        assert_eq!(answer.body["code"], "read_only", "{sql}: {}", answer.body);
        assert_eq!(answer.body["transaction"], "idle");
    }
    assert_eq!(c.admin_sql_in(&db, "SELECT count(*) FROM pg_largeobject_metadata"), "1");
    assert_eq!(c.admin_sql_in(&db, "SELECT encode(lo_get(4242), 'escape')"), "abc");
    // Reading them still works.
    assert_eq!(tab.query("SELECT encode(lo_get(4242), 'escape')").await.scalar(), &json!("abc"));
}

/// A read-only session holds nothing between statements that would block
/// other people or keep state: advisory locks and listens end with the statement.
#[tokio::test]
async fn a_read_only_statement_leaves_no_advisory_lock_or_listen() {
    let db = database();
    let c = tls_cluster();
    let door = Door::start(&["--url", &c.url_in(&db, roles::TRUST, None, "sslmode=disable"), "--readonly"]);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    let locked = tab.query("SELECT pg_advisory_lock(4711)").await;
    assert_eq!(locked.status, 200, "{}", locked.body);
    let held = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4711 AND database = (SELECT oid FROM pg_database WHERE datname = '{db}')"
    );
    assert_eq!(c.admin_sql_in(&db, &held), "0", "the advisory lock outlived its statement");
    // Another session can take it at once.
    assert_eq!(c.admin_sql_in(&db, "SELECT pg_try_advisory_lock(4711)"), "t");

    let listen = tab.query("LISTEN pgdoor_channel").await;
    assert_eq!(listen.status, 200, "{}", listen.body);
    let channels = tab.query("SELECT count(*) FROM pg_listening_channels()").await;
    assert_eq!(channels.scalar(), &json!(0), "the listen outlived its statement: {}", channels.body);
    assert_eq!(tab.query("SELECT 1").await.scalar(), &json!(1));
}

/// A superuser can write whatever a transaction says (`COPY … TO PROGRAM`,
/// `ALTER SYSTEM` through a function, dblink): read-only cannot hold for it.
#[tokio::test]
async fn a_read_only_link_for_a_superuser_is_refused_at_connect() {
    let db = database();
    let url = tls_cluster().url_in(&db, "postgres", None, "sslmode=disable");
    let door = Door::start(&["--url", &url, "--readonly"]);
    let mut tab = Browser::new(&door.base);
    let response = tab.connect("default", &[("accept", "application/json")]).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "writable_read_only_role");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("is a superuser") && error.contains("not opened"), "{error}");
    assert!(!error.contains("postgres@"), "{error}");

    // The same role without --readonly is the operator's choice.
    let door = Door::start(&["--url", &url]);
    assert_eq!(Browser::new(&door.base).connect("default", &[]).await.status(), 302);
}
