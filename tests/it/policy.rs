//! The connect backend's policy for a session, from the example backend
//! over real HTTP: a statement timeout the person cannot SET away, row and
//! byte caps that can only tighten pgdoor's, downloads turned off on every
//! route, settings in effect on every connection (after a reconnect too),
//! a shorter idle timeout, and each bad field refused by name.

use std::time::{Duration, Instant};

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};
use crate::support::scripted::Scripted;

const TOKEN: &str = "policy-token";

/// A database owned by the trust role, the example backend serving it as
/// `resource` with the TOML `fields`, and pgdoor asking that backend.
fn start(resource_fields: &str, door_flags: &[&str]) -> (Door, Backend, String) {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(&db, "SET ROLE trust_user; CREATE SCHEMA shop; CREATE TABLE shop.items AS SELECT g AS id FROM generate_series(1, 100) g;");
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let backend =
        Backend::builder(TOKEN).resources_toml(&format!("[db]\ndatabase_url = \"{url}\"\n{resource_fields}")).start();
    let mut args = vec!["--sessions", "--connect-backend", backend.url.as_str()];
    args.extend_from_slice(door_flags);
    let door = Door::start_with_env(&args, &[("PGDOOR_CONNECT_TOKEN", TOKEN)]);
    (door, backend, db)
}

async fn open(door: &Door) -> Browser {
    let mut tab = Browser::new(&door.base);
    let response = tab.connect("db", &[]).await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    tab
}

#[tokio::test]
async fn the_backends_statement_timeout_holds_whatever_the_person_sets() {
    let (door, _backend, _db) = start("statement_timeout = 1\n", &[]);
    let tab = open(&door).await;
    let shown = tab.query("SHOW statement_timeout").await;
    assert_eq!(shown.scalar(), "1s", "the connection carries it too: {}", shown.body);
    assert_eq!(tab.query("SET statement_timeout = 0").await.status, 200);
    let started = Instant::now();
    let slept = tab.query("SELECT pg_sleep(5)").await;
    assert_eq!(slept.status, 504, "{}", slept.body);
    assert_eq!(slept.body["code"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(4), "cancelled after {:?}", started.elapsed());
    let policy = &tab.get("connection").await.body["policy"];
    assert_eq!(policy["statement_timeout"], 1.0);
}

#[tokio::test]
async fn row_and_byte_caps_tighten_pgdoors_and_never_lift_them() {
    let (door, _backend, _db) = start("max_rows = 3\nmax_result_bytes = 2000\n", &["--max-rows", "10"]);
    let tab = open(&door).await;
    let rows = tab.query("SELECT g FROM generate_series(1, 10) g").await;
    assert_eq!(rows.body["rows"].as_array().unwrap().len(), 3, "{}", rows.body);
    assert_eq!(rows.body["truncated"], true);
    let page = tab.get("tables/shop.items/rows?limit=100").await;
    assert_eq!(page.body["rows"].as_array().unwrap().len(), 3, "{}", page.body);
    let wide = tab.query("SELECT repeat('x', 900) FROM generate_series(1, 3)").await;
    assert_eq!(wide.body["truncated_by"], "bytes", "{}", wide.body);
    assert!(wide.body["rows"].as_array().unwrap().len() < 3);

    let (door, _backend, _db) = start("max_rows = 1000\n", &["--max-rows", "5"]);
    let tab = open(&door).await;
    let rows = tab.query("SELECT g FROM generate_series(1, 10) g").await;
    assert_eq!(rows.body["rows"].as_array().unwrap().len(), 5, "--max-rows stays the ceiling: {}", rows.body);
    assert_eq!(tab.get("connection").await.body["policy"]["max_rows"], 5);
}

#[tokio::test]
async fn downloads_off_refuses_every_download_route() {
    let (door, _backend, _db) = start("downloads = false\n", &[]);
    let tab = open(&door).await;
    let id = tab.session.clone().unwrap();
    for answer in [
        tab.post("query", &[("query", "SELECT 1"), ("format", "csv")]).await,
        tab.get("query?query=SELECT%201&format=json").await,
        tab.get("tables/shop.items/rows?format=csv").await,
        tab.post("tables/shop.items/rows", &[("format", "xml")]).await,
        tab.post("explain", &[("query", "SELECT 1"), ("format", "csv")]).await,
        tab.get("export").await,
        tab.get("export?table=shop.items").await,
        tab.post("downloads", &[]).await,
    ] {
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(answer.body["code"], "downloads_disabled");
        assert!(answer.body["error"].as_str().unwrap().contains("Downloads are turned off"), "{}", answer.body);
    }
    // A pgweb-style link with the id in it: refused the same way.
    let link = client()
        .get(format!("{}/api/query?query=SELECT%201&format=csv&_session_id={id}", door.base))
        .header("cookie", tab.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 403);
    // Everything else works, and the UI is told.
    assert_eq!(tab.query("SELECT count(*) FROM shop.items").await.scalar(), 100);
    assert_eq!(tab.get("connection").await.body["policy"]["downloads"], false);
}

#[tokio::test]
async fn settings_are_in_effect_on_every_connection_after_a_reconnect_too() {
    let (door, _backend, _db) =
        start("[db.settings]\nsearch_path = \"shop, public\"\n\"app.tenant\" = \"acme\"\n", &[]);
    let tab = open(&door).await;
    let check =
        "SELECT current_setting('app.tenant') || ' ' || current_setting('search_path') || ' ' || count(*) FROM items";
    assert_eq!(tab.query(check).await.scalar(), "acme shop, public 100");
    // The catalog connection has them too.
    let settings = tab.get("connection").await;
    assert_eq!(settings.body["current_schemas"], "{shop,public}", "{}", settings.body);

    let pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    tls_cluster().terminate(&pid);
    let answer = tab.query(check).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.scalar(), "acme shop, public 100", "after the reconnect");
    assert_ne!(tab.query("SELECT pg_backend_pid()").await.scalar(), &pid, "a new connection");
}

#[tokio::test]
async fn a_setting_the_database_refuses_stops_the_connect_with_its_name() {
    let (door, _backend, _db) = start("[db.settings]\nno_such_parameter = \"1\"\n", &[]);
    let mut tab = Browser::new(&door.base);
    let response = tab.connect("db", &[]).await;
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains("no_such_parameter"), "{page}");
}

#[tokio::test]
async fn a_shorter_idle_timeout_ends_the_session() {
    let (door, _backend, db) = start("idle_timeout = \"1s\"\n", &[]);
    let tab = open(&door).await;
    assert_eq!(tab.query("SELECT 1").await.status, 200);
    let started = Instant::now();
    while tls_cluster().connections_to(&db) > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the session's connections outlived its idle timeout");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "not before its idle timeout");
    assert_eq!(tab.query("SELECT 1").await.body["code"], "session_gone");
}

#[tokio::test]
async fn a_backend_answer_with_a_bad_policy_field_opens_nothing_and_says_which() {
    let url = tls_cluster().url_in("postgres", roles::TRUST, None, "sslmode=disable");
    let answer = serde_json::json!({"database_url": url, "statement_timeout": "soon"}).to_string();
    let backend = Scripted::start("200 OK", "Content-Type: application/json\r\n", &answer, Duration::ZERO);
    let door = Door::start_with_env(
        &["--sessions", "--connect-backend", &backend.url, "--log-level", "info"],
        &[("PGDOOR_CONNECT_TOKEN", TOKEN)],
    );
    let mut tab = Browser::new(&door.base);
    let response = tab.connect("db", &[]).await;
    assert_eq!(response.status(), 502);
    assert!(tab.session.is_none());
    // The person reads that the service failed; the operator's log names the field.
    let logs = door.logs();
    assert!(logs.contains("statement_timeout") && logs.contains("is not a duration"), "{logs}");
}
