//! Sessions behind the door: state across requests, one editor query at a
//! time with cancel, timeouts, expiry, reconnects, graceful shutdown, and no
//! secret anywhere it does not belong.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door};
use crate::support::pg::{dedicated_cluster, roles, tls_cluster};

const TOKEN: &str = "session-token-77aa";

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

#[tokio::test]
async fn transactions_and_settings_span_requests() {
    let db = tls_cluster().create_database(roles::TRUST);
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("CREATE TABLE t(x int)").await.status, 200);
    assert_eq!(tab.query("BEGIN").await.body["transaction"], "in_transaction");
    let insert = tab.query("INSERT INTO t VALUES (1), (2)").await;
    assert_eq!(insert.body["stats"]["rows_affected"], 2);
    assert_eq!(insert.body["columns"], json!(["Rows Affected"]));
    assert_eq!(tab.query("SELECT count(*) FROM t").await.scalar(), &json!(2));
    assert_eq!(
        tls_cluster().admin_sql_in(&db, "SELECT count(*) FROM t"),
        "0",
        "uncommitted rows are invisible outside"
    );
    tab.query("ROLLBACK").await;
    assert_eq!(tab.query("SELECT count(*) FROM t").await.scalar(), &json!(0));
    tab.query("SET application_name = 'kept'").await;
    assert_eq!(tab.query("SHOW application_name").await.scalar(), &json!("kept"));
    tab.query("CREATE TEMP TABLE scratch(y int); INSERT INTO scratch VALUES (7)").await;
    assert_eq!(tab.query("SELECT y FROM scratch").await.scalar(), &json!(7));
    let history = tab.get("history").await.body;
    assert_eq!(history[0]["query"], "CREATE TABLE t(x int)");
    assert!(history[0]["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_second_query_is_busy_and_cancel_stops_the_first() {
    let db = tls_cluster().create_database(roles::TRUST);
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    let started = Instant::now();
    let (slow, busy) = tokio::join!(tab.query("SELECT pg_sleep(10)"), async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let busy = tab.query("SELECT 1").await;
        let cancelled = tab.post("cancel", &[]).await;
        (busy, cancelled)
    });
    let (busy, cancelled) = busy;
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert_eq!(busy.body["code"], "busy");
    assert_eq!(cancelled.body, json!({"success": true}));
    assert_eq!(slow.status, 400, "{}", slow.body);
    assert_eq!(slow.body["code"], "cancelled");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // Catalog reads use their own connection and never wait for the editor.
    assert_eq!(tab.get("connection").await.body["current_database"], json!(db));
    assert_eq!(tab.query("SELECT 'after'").await.scalar(), &json!("after"));
}

#[tokio::test]
async fn cancel_reaches_the_editor_after_catalog_reads_opened_the_second_connection() {
    let db = tls_cluster().create_database(roles::TRUST);
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    // The metadata connection is opened now, after the editor.
    let info = tab.get("connection").await.body;
    assert_eq!(tab.get("schemas").await.status, 200);
    let editor_pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    assert_eq!(info["editor_pid"], editor_pid, "connection names the editor's server process");
    let started = Instant::now();
    let (slow, cancelled) = tokio::join!(tab.query("SELECT pg_sleep(10)"), async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        tab.post("cancel", &[]).await
    });
    assert_eq!(cancelled.body, json!({"success": true}));
    assert_eq!(slow.body["code"], "cancelled", "{}", slow.body);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_query_timeout_cancels_on_the_server() {
    let db = tls_cluster().create_database(roles::TRUST);
    let door = door_for(&db, &["--query-timeout", "1"]);
    let tab = open_tab(&door).await;
    let started = Instant::now();
    let answer = tab.query("SELECT pg_sleep(8)").await;
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.body["code"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
    let running = tls_cluster().admin_sql(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE 'SELECT pg_sleep(8)%' AND state = 'active'"));
    assert_eq!(running, "0");
    assert_eq!(tab.query("SELECT 2").await.scalar(), &json!(2));
    assert_eq!(tab.get("info").await.body["features"]["query_timeout"], 1);
}

#[tokio::test]
async fn idle_sessions_and_old_sessions_end_and_close_their_connections() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let door = door_for(&db, &["--idle-timeout", "2s"]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("SELECT 1").await.status, 200);
    assert!(c.connections_to(&db) >= 1);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let gone = tab.query("SELECT 1").await;
    assert_eq!(gone.status, 401, "{}", gone.body);
    assert_eq!(gone.body["code"], "session_gone");
    assert_eq!(c.connections_to(&db), 0, "the reaper closes the connection");

    let door = door_for(&db, &["--session-lifetime", "3s"]);
    let tab = open_tab(&door).await;
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut status = 200;
    while status == 200 && Instant::now() < deadline {
        status = tab.query("SELECT 1").await.status;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, 401, "a busy session still ends at its lifetime");
}

#[tokio::test]
async fn an_expiring_credential_is_resolved_again() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exec-resolver.py");
    let database_url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let door = Door::start_with_env(
        &["--sessions", "--connect-backend", &format!("exec://{}", fixture.display())],
        &[("TEST_DATABASE_URL", &database_url), ("TEST_CALLS_FILE", calls.to_str().unwrap())],
    );
    let mut tab = Browser::new(&door.base);
    assert_eq!(tab.connect("expiring", &[]).await.status(), 302);
    let first_pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let answer = tab.query("SELECT pg_backend_pid()").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["reconnected"], true);
    assert_ne!(answer.body["rows"][0][0], first_pid);
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 2);
}

#[tokio::test]
async fn reconnects_after_the_backend_is_killed() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let door = door_for(&db, &[]);
    let tab = open_tab(&door).await;
    let pid = tab.query("SELECT pg_backend_pid()").await.scalar().clone();
    c.terminate(&pid);
    // Idle when killed: noticed before the statement is sent, so it simply runs.
    let answer = tab.query("SELECT 'again'").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["reconnected"], true);
    assert_eq!(answer.body["rows"][0][0], "again");

    // Metadata reads reconnect too.
    assert_eq!(tab.get("connection").await.status, 200);
    c.terminate_all_in(&db);
    assert_eq!(tab.get("connection").await.status, 200);

    // Killed while running: reported, not replayed; the next request reconnects.
    let (lost, ()) = tokio::join!(tab.query("SELECT pg_sleep(5)"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.admin_sql(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()"));
    });
    assert_eq!(lost.status, 503, "{}", lost.body);
    assert_eq!(lost.body["code"], "connection_lost");
    assert!(lost.body["error"].as_str().unwrap().contains("it was not run again"));
    assert_eq!(tab.query("SELECT 3").await.scalar(), &json!(3));
}

#[tokio::test]
async fn reconnects_after_a_server_restart() {
    let c = dedicated_cluster("restart");
    let door = Door::start(&["--url", &c.url(roles::TRUST, None, "sslmode=disable")]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("SELECT 1").await.status, 200);
    c.restart();
    let answer = tab.query("SELECT 'back'").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["reconnected"], true);
}

#[tokio::test]
async fn shutdown_lets_a_running_query_finish_then_closes_sessions() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let mut door = door_for(&db, &["--grace-period", "5"]);
    let tab = open_tab(&door).await;
    let (answer, ()) = tokio::join!(tab.query("SELECT pg_sleep(1.5), 'finished'"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sigterm(&door);
    });
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["rows"][0][1], "finished");
    let status = door.wait_exit(Duration::from_secs(10)).expect("pgdoor exits after the grace period");
    assert!(status.success(), "{status}");
    assert_eq!(c.connections_to(&db), 0);
    let logs = door.logs();
    assert!(logs.contains("all sessions closed"), "{logs}");
    assert!(!logs.contains("unexpected EOF"), "{logs}");
}

/// What `navigator.sendBeacon` sends on `pagehide`: the id in the form body, the cookie, no custom header.
async fn beacon(tab: &Browser, site: &str) -> u16 {
    let mut request = crate::support::door::client()
        .post(format!("{}/api/leave", tab.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", site)
        .body(format!("_session_id={}", tab.session.as_deref().unwrap()));
    if let Some(cookie) = &tab.cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_leave_beacon_ends_the_session_unless_the_tab_comes_back() {
    let c = dedicated_cluster("leave");
    let db = c.create_database(roles::TRUST);
    let door = Door::start(&["--url", &c.url_in(&db, roles::TRUST, None, "sslmode=disable")]);
    let reloaded = open_tab(&door).await;
    let closed = open_tab(&door).await;
    let attacked = open_tab(&door).await;
    for tab in [&reloaded, &closed, &attacked] {
        assert_eq!(tab.query("SELECT 1").await.status, 200);
    }
    assert_eq!(c.connections_to(&db), 3);
    let mut stranger = Browser::new(&door.base);
    stranger.session = attacked.session.clone();
    assert_eq!(beacon(&stranger, "same-origin").await, 403, "another browser's beacon is refused");
    assert_eq!(beacon(&attacked, "cross-site").await, 403, "a cross-site beacon is refused");
    assert_eq!(beacon(&reloaded, "same-origin").await, 202);
    assert_eq!(beacon(&closed, "same-origin").await, 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(reloaded.query("SELECT 'back'").await.status, 200, "the reloaded page's first request keeps it");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(reloaded.query("SELECT 'still here'").await.status, 200);
    assert_eq!(attacked.query("SELECT 'untouched'").await.status, 200);
    let gone = closed.query("SELECT 'closed tab'").await;
    assert_eq!((gone.status, gone.body["code"].as_str()), (401, Some("session_gone")), "{}", gone.body);
    assert_eq!(c.connections_to(&db), 2, "the closed tab's backend is gone");
}

fn sigterm(door: &Door) {
    let pid = nix::unistd::Pid::from_raw(door.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

#[tokio::test]
async fn shutdown_drains_finishes_and_ends_fifty_sessions_within_its_bound() {
    let c = dedicated_cluster("shutdown");
    let db = c.create_database(roles::TRUST);
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let (drain, grace) = (2, 2);
    let mut door = Door::start(&[
        "--url",
        &url,
        "--connect-rate",
        "1000",
        "--max-sessions-per-user",
        "100",
        "--drain-delay",
        &drain.to_string(),
        "--grace-period",
        &grace.to_string(),
    ]);
    let mut tabs = Vec::new();
    for _ in 0..50 {
        let tab = open_tab(&door).await;
        assert_eq!(tab.query("SELECT 1").await.status, 200);
        tabs.push(tab);
    }
    assert_eq!(c.connections_to(&db), 50);
    let sleeper = tabs.pop().unwrap();
    let long = tokio::spawn(async move {
        let request = crate::support::door::client()
            .post(format!("{}/api/query", sleeper.base))
            .header("x-session-id", sleeper.session.clone().unwrap())
            .header("cookie", sleeper.cookie.clone().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("query=SELECT+pg_sleep(60)");
        match request.send().await {
            Ok(response) => Some(response.status().as_u16()),
            Err(_) => None,
        }
    });
    let running = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(60)'";
    let until = Instant::now() + Duration::from_secs(5);
    while c.admin_sql(running) != "1" {
        assert!(Instant::now() < until, "pg_sleep(60) never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let signalled = Instant::now();
    sigterm(&door);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let client = crate::support::door::client();
    let ready = client.get(format!("{}/readyz", door.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness fails while draining");
    let served = tabs[0].query("SELECT 'still served'").await;
    assert_eq!(served.status, 200, "requests are still served while draining: {}", served.body);

    tokio::time::sleep(Duration::from_secs(drain) + Duration::from_millis(300) - signalled.elapsed()).await;
    let mut late = Browser::new(&door.base);
    let refused = late.connect("default", &[]).await;
    assert_eq!(refused.status(), 503, "no new session once stopping");
    assert_eq!(refused.headers()["connection"], "close");
    assert!(refused.text().await.unwrap().contains("shutting down"));

    let status = door.wait_exit(Duration::from_secs(drain + grace + 5)).expect("pgdoor exits");
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(drain + grace + 2), "took {took:?}, the bound is drain + grace + 2 s");
    assert!(took >= Duration::from_secs(drain + grace), "the running statement got the grace period: {took:?}");
    assert_ne!(long.await.unwrap(), Some(200), "a statement cut by shutdown is not reported as done");
    let until = Instant::now() + Duration::from_secs(2);
    while c.connections_to(&db) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.connections_to(&db), 0, "every session's backend is gone");
    let logs = door.logs();
    assert!(logs.contains("all sessions closed"), "{logs}");
    assert!(!logs.contains("unexpected EOF"), "{logs}");
}

#[tokio::test]
async fn an_idle_pgdoor_without_a_drain_delay_exits_at_once() {
    let db = tls_cluster().create_database(roles::TRUST);
    let mut door = door_for(&db, &["--grace-period", "10"]);
    let tab = open_tab(&door).await;
    assert_eq!(tab.query("SELECT 1").await.status, 200);
    let signalled = Instant::now();
    sigterm(&door);
    let status = door.wait_exit(Duration::from_secs(10)).expect("pgdoor exits");
    assert!(status.success(), "{status}");
    let took = signalled.elapsed();
    assert!(took < Duration::from_millis(1500), "nothing was in flight, yet it took {took:?}");
    assert_eq!(tls_cluster().connections_to(&db), 0);
}

#[tokio::test]
async fn no_secret_reaches_a_response_or_a_log_line() {
    let c = tls_cluster();
    let (user, password) = roles::SCRAM;
    let db = c.create_database(user);
    let backend =
        Backend::builder(TOKEN).resource("acme", &c.url_in(&db, user, Some(password), "sslmode=require")).start();
    let door = Door::start(&[
        "--sessions",
        "--connect-backend",
        &backend.url,
        "--connect-token",
        TOKEN,
        "--log-forwarded-user",
        "--log-level",
        "trace",
    ]);
    let mut tab = Browser::new(&door.base);
    let connect = tab.connect("acme", &[("x-forwarded-email", "ann@example.com")]).await;
    // Everything but the /connect answer's Location and Set-Cookie, where the id and key belong.
    let mut seen = String::new();
    let session = tab.session.clone().unwrap();
    let cookie = tab.cookie.clone().unwrap();
    for answer in [
        tab.query("SELECT current_user, version()").await,
        tab.query("SELECT nosuchcolumn").await,
        tab.get("connection").await,
        tab.get("info").await,
        tab.get("history").await,
        tab.get("sessions").await,
        tab.post("cancel", &[]).await,
        tab.post("disconnect", &[]).await,
        tab.query("SELECT 1").await,
    ] {
        let headers = format!("{:?}", answer.headers);
        seen.push_str(&headers);
        seen.push_str(&answer.body.to_string());
        assert!(!headers.contains(&session) && !answer.body.to_string().contains(&session));
    }
    let logs = door.logs();
    assert!(logs.contains("ann@example.com"), "the forwarded user is logged on request: {logs}");
    for (what, secret) in
        [("password", password), ("token", TOKEN), ("binding cookie", &cookie[cookie.find('=').unwrap() + 1..])]
    {
        assert!(!seen.contains(secret), "{what} in a response");
        assert!(!logs.contains(secret), "{what} in the log");
    }
    assert!(!logs.contains(&session), "session id in the log");
    // The only place the id appears is the /connect redirect, which the UI strips at once.
    assert!(format!("{:?}", connect.headers()).contains(&session));
}
