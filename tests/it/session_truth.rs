//! What the person is told is what happened in the database: lost
//! transactions and session state are reported, never papered over; a
//! download never runs a write again; a client that leaves stops its
//! statement; an idle transaction is rolled back; an idle tab holds one
//! server connection; and a backend URL without a user means the OS user,
//! for `/connect` and `check-backend` alike.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::door::{Answer, Browser, Door, client};
use crate::support::pg::{Cluster, os_user, os_user_cluster, roles, tls_cluster};

/// A door in front of one database in the shared cluster (trust auth, no TLS).
fn door_for(database: &str, extra: &[&str]) -> Door {
    let url = tls_cluster().url_in(database, roles::TRUST, None, "sslmode=disable");
    Door::start(&[&["--url", url.as_str()], extra].concat())
}

async fn open_tab(door: &Door) -> Browser {
    let mut tab = Browser::new(&door.base);
    assert_eq!(tab.connect("default", &[]).await.status(), 302);
    tab
}

/// Statements of `database` whose text starts with `prefix`, other than the asker's.
fn running(c: &Cluster, database: &str, prefix: &str) -> usize {
    c.admin_sql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND query LIKE '{prefix}%' \
         AND state <> 'idle' AND pid <> pg_backend_pid()"
    ))
    .parse()
    .unwrap()
}

#[tokio::test]
async fn a_download_of_a_write_is_refused_and_the_write_happens_once() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(&db, &format!("CREATE TABLE t(x int); ALTER TABLE t OWNER TO {}", roles::TRUST));
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    let insert = tab.query("INSERT INTO t VALUES (1) RETURNING *").await;
    assert_eq!(insert.status, 200, "{}", insert.body);
    let sql = "INSERT INTO t VALUES (1) RETURNING *";
    let export = tab.post("query", &[("query", sql), ("format", "csv")]).await;
    assert_eq!(export.status, 400, "{}", export.body);
    let error = export.body["error"].as_str().unwrap();
    assert!(error.contains("read-only"), "{error}");
    assert_eq!(c.admin_sql_in(&db, "SELECT count(*) FROM t"), "1", "the insert ran once");

    // A read exports as before, inside the person's open transaction too.
    assert_eq!(tab.query("BEGIN").await.status, 200);
    assert_eq!(tab.query("INSERT INTO t VALUES (2)").await.status, 200);
    let export = tab.post("query", &[("query", "SELECT x FROM t ORDER BY x"), ("format", "csv")]).await;
    assert_eq!(export.body, "x\n1\n2\n");
    let export = tab.post("query", &[("query", "DELETE FROM t RETURNING x"), ("format", "csv")]).await;
    assert_eq!(export.status, 400, "{}", export.body);
    let still = tab.query("SELECT count(*) FROM t").await;
    assert_eq!(still.scalar(), &json!(2), "a refused download leaves the transaction usable");
    assert_eq!(tab.query("COMMIT").await.body["command"], "COMMIT");
    assert_eq!(c.admin_sql_in(&db, "SELECT count(*) FROM t"), "2");
}

#[tokio::test]
async fn commit_after_the_connection_was_killed_is_transaction_lost() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        &format!("CREATE TABLE t(x int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO {}", roles::TRUST),
    );
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("BEGIN").await.body["transaction"], "in_transaction");
    assert_eq!(tab.query("UPDATE t SET x = 2").await.status, 200);
    let pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    c.terminate(&pid);

    let commit = tab.query("COMMIT").await;
    assert_eq!(commit.status, 409, "{}", commit.body);
    assert_eq!(commit.body["code"], "transaction_lost");
    let error = commit.body["error"].as_str().unwrap();
    assert!(error.contains("rolled back and nothing in it was committed"), "{error}");
    assert!(error.contains("this statement was not run"), "{error}");
    assert_eq!(c.admin_sql_in(&db, "SELECT x FROM t"), "1", "the update was not committed");

    let after = tab.query("SELECT x FROM t").await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body["reconnected"], true);
    assert_eq!(after.body["transaction"], "idle");

    // A failed transaction is lost the same way.
    assert_eq!(tab.query("BEGIN").await.status, 200);
    let failed = tab.query("SELECT 1/0").await;
    assert_eq!(failed.status, 400);
    assert_eq!(failed.body["transaction"], "failed", "an error says the transaction it left: {}", failed.body);
    let info = tab.get("connection").await;
    assert_eq!(info.body["transaction"], "failed", "{}", info.body);
    let rollback = tab.query("ROLLBACK").await;
    assert_eq!(rollback.body["transaction"], "idle");
    assert_eq!(tab.query("BEGIN").await.status, 200);
    assert_eq!(tab.query("SELECT nosuch").await.status, 400);
    c.terminate_all_in(&db);
    let next = tab.query("SELECT 1").await;
    assert_eq!(next.status, 409, "{}", next.body);
    assert_eq!(next.body["code"], "transaction_lost");
}

/// Runs `sql` and ends its server process half a second in.
async fn cut_off(c: &Cluster, tab: &Browser, sql: &str) -> Answer {
    let pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    let (answer, ()) = tokio::join!(tab.query(sql), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.terminate(&pid);
    });
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["code"], "connection_lost");
    answer
}

#[tokio::test]
async fn a_commit_cut_off_by_a_lost_connection_is_not_called_rolled_back() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    // A deferred trigger makes the commit itself take seconds.
    c.admin_sql_in(
        &db,
        &format!(
            "CREATE TABLE t(x int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO {trust};
             CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NULL; END $$;
             CREATE CONSTRAINT TRIGGER slow AFTER UPDATE ON t DEFERRABLE INITIALLY DEFERRED
               FOR EACH ROW EXECUTE FUNCTION slow();",
            trust = roles::TRUST
        ),
    );
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    let unknown = |answer: &Answer| {
        assert_eq!(answer.body["lost"]["outcome_unknown"], true, "{}", answer.body);
        assert_eq!(answer.body["lost"]["transaction"], false, "{}", answer.body);
        let error = answer.body["error"].as_str().unwrap();
        assert!(error.contains("Whether it committed before the connection broke cannot be known"), "{error}");
        assert!(!error.contains("rolled back"), "{error}");
    };

    assert_eq!(tab.query("BEGIN").await.status, 200);
    assert_eq!(tab.query("UPDATE t SET x = 2").await.status, 200);
    unknown(&cut_off(c, &tab, "COMMIT").await);

    // A write outside a transaction commits on its own: the same.
    unknown(&cut_off(c, &tab, "UPDATE t SET x = 3").await);

    // A statement inside a transaction that does not commit it: rolled back.
    assert_eq!(tab.query("BEGIN").await.status, 200);
    assert_eq!(tab.query("UPDATE t SET x = 4").await.status, 200);
    let lost = cut_off(c, &tab, "SELECT pg_sleep(5)").await;
    assert_eq!(lost.body["lost"]["transaction"], true, "{}", lost.body);
    assert_eq!(lost.body["lost"]["outcome_unknown"], false, "{}", lost.body);
    assert!(lost.body["error"].as_str().unwrap().contains("rolled back and nothing in it was committed"));
    assert_eq!(c.admin_sql_in(&db, "SELECT x FROM t"), "1");
}

#[tokio::test]
async fn settings_and_temporary_tables_lost_with_the_connection_are_reported() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("SET search_path = nowhere, public").await.status, 200);
    assert_eq!(tab.query("CREATE TEMP TABLE scratch(y int)").await.status, 200);
    let pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    c.terminate(&pid);

    let answer = tab.query("SHOW search_path").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["reconnected"], true);
    assert_eq!(answer.body["state_lost"]["kinds"], json!(["settings", "temporary_tables"]));
    let message = answer.body["state_lost"]["message"].as_str().unwrap();
    assert!(message.contains("settings changed with SET and temporary tables"), "{message}");
    assert_ne!(answer.body["rows"][0][0], "nowhere, public", "the statement ran on the new connection");

    // Nothing held, nothing reported.
    let pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    c.terminate(&pid);
    let answer = tab.query("SELECT 1").await;
    assert_eq!(answer.body["reconnected"], true);
    assert!(answer.body.get("state_lost").is_none(), "{}", answer.body);
}

#[tokio::test]
async fn a_client_that_leaves_stops_its_statement_within_a_second() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        &format!(
            "CREATE TABLE t(x int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO {0};
             CREATE VIEW slow AS SELECT pg_sleep(30)::text AS nap; ALTER VIEW slow OWNER TO {0}",
            roles::TRUST
        ),
    );
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    let sleep = [("query", "SELECT pg_sleep(30)")];
    let api = |path: &str| format!("{}/api/{path}", door.base);
    let form =
        |pairs: &[(&str, &str)]| url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    for (what, request, statement) in [
        ("query", client().post(api("query")).body(form(&sleep)), "SELECT pg_sleep(30)"),
        ("analyze", client().post(api("analyze")).body(form(&sleep)), "EXPLAIN"),
        ("export", client().post(api("query")).body(form(&[sleep[0], ("format", "csv")])), "SELECT pg_sleep(30)"),
        ("rows", client().get(api("tables/t/rows?where=pg_sleep(30)%20IS%20NOT%20NULL")), "SELECT"),
        // pgdoor's own reads of a page run on the catalog connection.
        ("a page", client().get(api("tables/slow/rows")), "SELECT count(*) FROM \"public\".\"slow\""),
    ] {
        let leaving = request
            .header("x-session-id", tab.session.as_deref().unwrap())
            .header("cookie", tab.cookie.as_deref().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .timeout(Duration::from_millis(1000))
            .send()
            .await;
        assert!(leaving.is_err_and(|e| e.is_timeout()), "{what} answered before the client left");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let path = what;
        assert_eq!(running(c, &db, statement), 0, "{what}: still running a second after the client left");
        let next = tab.query("SELECT 'free'").await;
        assert_eq!(next.status, 200, "{path}: {}", next.body);
    }
}

#[tokio::test]
async fn a_statement_that_ignores_cancel_is_ended_and_other_sessions_still_expire() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let door = door_for(&db, &["--query-timeout", "1", "--idle-timeout", "2s"]);
    let stubborn = open_tab(&door).await;
    let idle = open_tab(&door).await;
    assert_eq!(idle.query("SELECT 1").await.status, 200);
    let started = Instant::now();
    let sql =
        "DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(0.05); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$";
    let (ended, idle_answer) = tokio::join!(stubborn.query(sql), async {
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let answer = idle.query("SELECT 1").await;
        (answer, started.elapsed())
    });
    let took = started.elapsed();
    let (idle_answer, asked_at) = idle_answer;
    assert_eq!(idle_answer.status, 401, "the idle session expired meanwhile: {}", idle_answer.body);
    assert!(asked_at < took, "asked while the stubborn statement still ran ({asked_at:?} < {took:?})");
    assert!(took < Duration::from_secs(5), "ended within 5 s, took {took:?}");
    assert_eq!(ended.status, 504, "{}", ended.body);
    let error = ended.body["error"].as_str().unwrap();
    assert!(error.contains("ignored the cancel, so pgdoor ended its server process"), "{error}");
    assert_eq!(running(c, &db, "DO $$"), 0);
    let next = stubborn.query("SELECT 'again'").await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(next.body["reconnected"], true);
}

#[tokio::test]
async fn a_transaction_left_idle_is_rolled_back_and_its_locks_released() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        &format!("CREATE TABLE t(x int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO {}", roles::TRUST),
    );
    let door = door_for(&db, &["--idle-in-transaction-timeout", "2s"]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("BEGIN").await.status, 200);
    assert_eq!(tab.query("UPDATE t SET x = 2").await.status, 200);
    assert_eq!(
        c.admin_sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state = 'idle in transaction'"
        )),
        "1"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Another person's update no longer waits for the lock.
    c.admin_sql_in(&db, "SET lock_timeout = '500ms'; UPDATE t SET x = 3");
    assert_eq!(c.admin_sql_in(&db, "SELECT x FROM t"), "3");

    let next = tab.query("SELECT x FROM t").await;
    assert_eq!(next.status, 409, "{}", next.body);
    assert_eq!(next.body["code"], "transaction_timeout");
    let error = next.body["error"].as_str().unwrap();
    assert!(error.contains("idle for more than 2 seconds and pgdoor rolled it back"), "{error}");
    assert_eq!(tab.query("SELECT x FROM t").await.scalar(), &json!(3));

    // Outside a transaction, idling is fine.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(tab.query("SELECT 1").await.status, 200);
}

#[tokio::test]
async fn an_idle_tab_holds_one_server_connection() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let door = door_for(&db, &["--catalog-idle", "1s"]);
    let tab = open_tab(&door).await;
    assert_eq!(c.connections_to(&db), 1, "the catalog connection opens on demand");
    assert_eq!(tab.get("schemas").await.status, 200);
    assert_eq!(c.connections_to(&db), 2);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(c.connections_to(&db), 1, "the catalog connection closed after --catalog-idle");
    assert_eq!(tab.get("connection").await.body["current_database"], json!(db), "and it reopens on use");
    assert_eq!(c.connections_to(&db), 2);
}

/// The protocol's own example backend (a Sinatra app), copied as written.
struct SeedBackend {
    child: Child,
    url: String,
}

impl SeedBackend {
    fn start() -> SeedBackend {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-backend.rb");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("ruby")
            .arg(&script)
            .args(["-p", &port.to_string(), "-o", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ruby must be installed with Sinatra: run tests/install-deps (apt-get install ruby ruby-sinatra ruby-webrick)");
        let url = format!("http://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the Sinatra backend did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        SeedBackend { child, url }
    }
}

impl Drop for SeedBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_backend(backend: &str, resource: &str) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pgdoor"))
        .args(["check-backend", "--connect-backend", backend, resource])
        .env("PGDOOR_CONNECT_TOKEN", "test")
        .env_remove("PGDOOR_CONNECT_BACKEND")
        .output()
        .unwrap();
    (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The seed's `localhost:5432` URLs name no user: pgdoor connects as the OS
/// user it runs as, like lib/pq and libpq, and check-backend agrees with
/// `/connect` on every resource. Needs port 5432 free, as the seed hard-codes it.
#[tokio::test]
async fn the_seed_backend_with_user_less_urls_works_end_to_end() {
    let _cluster = os_user_cluster(5432, &["db1", "db2"]);
    let backend = SeedBackend::start();
    let door =
        Door::start_with_env(&["--sessions", "--connect-backend", &backend.url], &[("PGDOOR_CONNECT_TOKEN", "test")]);
    let me = os_user();

    let mut tab = Browser::new(&door.base);
    let connect = tab.connect("id1", &[]).await;
    assert_eq!(connect.status(), 302, "{}", connect.text().await.unwrap());
    let who = tab.query("SELECT current_user, current_database()").await;
    assert_eq!(who.body["rows"][0], json!([me, "db1"]), "{}", who.body);
    let (status, out) = check_backend(&backend.url, "id1");
    assert!(status.success(), "{out}");
    assert!(out.contains(&format!("connects as   {me}@localhost:5432/db1")), "{out}");

    // db3 does not exist: both fail, and say so.
    let connect = Browser::new(&door.base).connect("id3", &[]).await;
    assert_eq!(connect.status(), 502);
    // The page says what went wrong; the database's name is for the log.
    let page = connect.text().await.unwrap();
    assert!(page.contains("The database this link names does not exist.") && !page.contains("db3"), "{page}");
    let (status, out) = check_backend(&backend.url, "id3");
    assert!(!status.success(), "{out}");
    assert!(out.contains("\"db3\" does not exist"), "{out}");

    // An unknown resource is the backend's 404 for both.
    assert_eq!(Browser::new(&door.base).connect("id9", &[]).await.status(), 404);
    let (status, out) = check_backend(&backend.url, "id9");
    assert_eq!(status.code(), Some(2), "{out}");
}
