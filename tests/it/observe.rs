//! Metrics and the audit log after a scripted session: the counts a person's
//! actions must leave, the audit line of each statement, and no secret in
//! either.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "observe-token-5e1f";

fn backend(db: &str) -> Backend {
    let (user, password) = roles::SCRAM;
    let url = tls_cluster().url_in(db, user, Some(password), "sslmode=require");
    Backend::builder(TOKEN).resource("books", &url).start()
}

#[tokio::test]
async fn a_session_leaves_metrics_and_audit_lines_without_secrets() {
    let c = tls_cluster();
    let db = c.create_database(roles::SCRAM.0);
    c.admin_sql_in(&db, "SET ROLE scram_user; CREATE TABLE books(id int, title text); INSERT INTO books VALUES (1, 'Dune'), (2, 'Emma');");
    let backend = backend(&db);
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.jsonl");
    let door = Door::start_with_env(
        &[
            "--sessions",
            "--connect-backend",
            &backend.url,
            "--identity-header",
            "X-Forwarded-Email",
            "--trusted-proxies",
            "127.0.0.1",
            "--metrics",
            "--audit-log",
            audit.to_str().unwrap(),
            "--prefix",
            "/db",
        ],
        &[("PGDOOR_CONNECT_TOKEN", TOKEN)],
    );
    let who = [("x-forwarded-email", "ada@example.com")];
    let mut tab = Browser::new(&format!("{}/db", door.base));
    assert_eq!(tab.connect("books", &who).await.status(), 302);
    assert_eq!(Browser::new(&format!("{}/db", door.base)).connect("nope", &who).await.status(), 404);
    assert_eq!(tab.query("SELECT * FROM books ORDER BY id").await.status, 200);
    assert_eq!(tab.query("UPDATE books SET title = upper(title)").await.status, 200);
    assert_eq!(tab.query("SELECT nosuch FROM books").await.status, 400);
    assert_eq!(tab.post("explain", &[("query", "SELECT * FROM books")]).await.status, 200);
    assert_eq!(tab.get("tables/books/rows?limit=1").await.status, 200);
    let csv = tab.post("query?format=csv", &[("query", "SELECT id FROM books"), ("format", "csv")]).await;
    assert_eq!(csv.body, "id\n1\n2\n");

    // Metrics at the root, not under the prefix.
    let metrics = client().get(format!("{}/metrics", door.base)).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for expected in [
        "pgdoor_sessions 1",
        "pgdoor_connects_total{outcome=\"ok\"} 1",
        "pgdoor_connects_total{outcome=\"unknown_resource\"} 1",
        "pgdoor_resolver_duration_seconds_count 2",
        "pgdoor_query_duration_seconds_count{kind=\"query\"} 3",
        "pgdoor_query_duration_seconds_count{kind=\"explain\"} 1",
        "pgdoor_query_duration_seconds_count{kind=\"export\"} 1",
        "pgdoor_query_duration_seconds_count{kind=\"rows\"} 1",
        "pgdoor_http_requests_total{route=\"/api/query\",status=\"200\"} 3",
        "pgdoor_http_requests_total{route=\"/api/query\",status=\"400\"} 1",
        "pgdoor_http_requests_total{route=\"/connect/:resource\",status=\"302\"} 1",
        "pgdoor_exported_bytes_total 7",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }

    let lines: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["query", "query", "query", "explain", "rows", "export"]);
    let update = &lines[1];
    assert_eq!(update["statement"], "UPDATE books SET title = upper(title)");
    assert_eq!(update["rows"], 2);
    assert_eq!(update["identity"], "ada@example.com");
    assert_eq!(update["resource"], "books");
    assert_eq!(update["database"], db.as_str());
    assert!(update["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(
        time::OffsetDateTime::parse(update["time"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    assert_eq!(update["error"], Value::Null);
    assert!(lines[2]["error"].as_str().unwrap().contains("nosuch"), "{}", lines[2]);
    assert_eq!(lines[2]["rows"], Value::Null);
    assert_eq!(lines[5]["rows"], 2);
    assert_eq!(std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777, 0o600);

    let everything = format!("{text}\n{}\n{}", std::fs::read_to_string(&audit).unwrap(), door.logs());
    for secret in [roles::SCRAM.1, TOKEN, tab.session.as_deref().unwrap()] {
        assert!(!everything.contains(secret), "a secret leaked: {secret}");
    }
}

#[tokio::test]
async fn metrics_on_their_own_address_only() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{metrics_port}");
    let door = Door::start(&[
        "--url",
        &c.url_in(&db, roles::TRUST, None, "sslmode=disable"),
        "--metrics",
        "--metrics-addr",
        &addr,
        "--auth-user",
        "admin",
        "--auth-pass",
        "pw",
    ]);
    let http = client();
    let scraped = http.get(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200, "no basic auth on the metrics address");
    assert!(scraped.text().await.unwrap().contains("# TYPE pgdoor_sessions gauge"));
    assert_eq!(http.get(format!("http://{addr}/api/info")).send().await.unwrap().status(), 404);
    let main = http.get(format!("{}/metrics", door.base)).basic_auth("admin", Some("pw")).send().await.unwrap();
    assert_eq!(main.status(), 404, "the main port does not serve metrics when --metrics-addr is set");
}

/// Text from outside (here an exec resolver's stderr) cannot end a log line
/// and forge the next one.
#[tokio::test]
async fn a_log_line_cannot_be_forged() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("resolver.sh");
    std::fs::write(
        &program,
        "#!/bin/sh\nprintf 'no such tenant\\n2026-01-01T00:00:00Z  INFO pgdoor: session opened forged=yes\\r\\033[2J' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let door = Door::start(&["--sessions", "--connect-backend", &format!("exec://{}", program.display())]);
    let response = client().get(format!("{}/connect/acme", door.base)).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let logs = door.logs();
    assert!(
        logs.contains("no such tenant\\x0a2026-01-01T00:00:00Z"),
        "the resolver's stderr was not logged escaped:\n{logs}"
    );
    assert!(!logs.lines().any(|line| line.starts_with("2026-01-01T00:00:00Z")), "a forged line:\n{logs}");
    assert!(!logs.contains('\x1b') && !logs.contains('\r'), "a control character reached the log");
}

/// A resource can be a customer's secret token: the log names it by hash only.
#[tokio::test]
async fn resource_names_reach_the_log_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("resources.toml");
    std::fs::write(&map, "known = \"postgres://nobody@127.0.0.1:1/db?connect_timeout=1\"\n").unwrap();
    let door = Door::start(&["--sessions", "--connect-backend", &format!("file://{}", map.display())]);
    for token in ["tok-5f3a9c1e77d2", "known"] {
        let response = client().get(format!("{}/connect/{token}", door.base)).send().await.unwrap();
        assert!(response.status().is_client_error() || response.status().is_server_error());
    }
    let logs = door.logs();
    assert!(logs.contains("connect failed"), "{logs}");
    assert!(!logs.contains("tok-5f3a9c1e77d2") && !logs.contains("\"known\""), "a resource name in the log:\n{logs}");
}
