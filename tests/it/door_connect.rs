//! The front door: the seed's /connect flow end to end, browser binding, the
//! broker lockdown, header pass-through and trust, failure pages, limits,
//! prefix, basic auth, TLS with HTTP/2, and startup validation.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};
use crate::support::scripted::Scripted;

const TOKEN: &str = "door-token-5c1d";

/// Two databases, each with a table naming its tenant.
fn two_tenants() -> (String, String) {
    let c = tls_cluster();
    let (user, _) = roles::SCRAM;
    let (a, b) = (c.create_database(user), c.create_database(user));
    for (db, tenant) in [(&a, "acme"), (&b, "globex")] {
        c.admin_sql_in(db, &format!("CREATE TABLE tenant(name text); INSERT INTO tenant VALUES ('{tenant}'); ALTER TABLE tenant OWNER TO {user}"));
    }
    (a, b)
}

fn backend_for(a: &str, b: &str) -> Backend {
    let c = tls_cluster();
    let (user, pw) = roles::SCRAM;
    Backend::builder(TOKEN)
        .resource("acme", &c.url_in(a, user, Some(pw), "sslmode=require"))
        .resource("globex", &c.url_in(b, user, Some(pw), "sslmode=require"))
        .start()
}

fn connect_args(backend: &Backend) -> Vec<String> {
    ["--sessions", "--connect-backend", &backend.url, "--connect-token", TOKEN].map(String::from).to_vec()
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn two_resources_in_two_tabs_each_on_its_own_database() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let door = Door::start(&args(&connect_args(&backend)));
    let (mut tab1, mut tab2) = (Browser::new(&door.base), Browser::new(&door.base));

    let response = tab1.connect("acme", &[]).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/#session=") && location.len() == "/#session=".len() + 32, "{location}");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    tab2.connect("globex", &[]).await;
    assert_ne!(tab1.session, tab2.session);

    assert_eq!(tab1.query("SELECT name FROM tenant").await.scalar(), &json!("acme"));
    assert_eq!(tab2.query("SELECT name FROM tenant").await.scalar(), &json!("globex"));
    assert_eq!(tab1.query("SELECT current_database()").await.scalar(), &json!(a));
    assert_eq!(tab2.get("sessions").await.body, json!({"sessions": 2}));
    let info = tab1.get("info").await.body;
    assert_eq!(info["features"]["session_lock"], true);
}

#[tokio::test]
async fn a_session_id_works_only_with_its_browser_cookie() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let door = Door::start(&args(&connect_args(&backend)));
    let mut owner = Browser::new(&door.base);
    owner.connect("acme", &[]).await;
    let mut other = Browser::new(&door.base);
    other.connect("globex", &[]).await;

    let mut thief = Browser::new(&door.base);
    thief.session = owner.session.clone();
    let answer = thief.query("SELECT 1").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.body["code"], "session_not_yours");
    thief.cookie = other.cookie.clone();
    assert_eq!(thief.query("SELECT 1").await.status, 403);
    assert_eq!(owner.query("SELECT 1").await.status, 200);

    // API clients can turn binding off.
    let door = Door::start(&[args(&connect_args(&backend)), vec!["--session-binding", "none"]].concat());
    let mut api = Browser::new(&door.base);
    let response = api.connect("acme", &[]).await;
    assert!(response.headers().get("set-cookie").is_none());
    api.cookie = None;
    assert_eq!(api.query("SELECT 1").await.status, 200);
}

#[tokio::test]
async fn a_planted_binding_cookie_is_never_adopted() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let door = Door::start(&args(&connect_args(&backend)));
    // Someone set this browser's cookie to a key they know (a sibling
    // domain can), then read the session id from a gateway's access log.
    let planted = "pgdoor_bind=0123456789abcdef0123456789abcdef".to_owned();
    let mut victim = Browser::new(&door.base);
    victim.cookie = Some(planted.clone());
    assert_eq!(victim.connect("acme", &[]).await.status(), 302);
    let fresh = victim.cookie.clone().unwrap();
    assert!(fresh.starts_with("pgdoor_bind=") && !fresh.starts_with(&planted), "{fresh}");

    let mut attacker = Browser::new(&door.base);
    attacker.cookie = Some(planted);
    attacker.session = victim.session.clone();
    let answer = attacker.query("SELECT 1").await;
    assert_eq!(answer.status, 403, "the planted key binds nothing: {}", answer.body);
    assert_eq!(victim.query("SELECT 1").await.status, 200);

    // Each /connect mints its own key, and the browser's earlier tabs keep working.
    let first = victim.session.clone();
    assert_eq!(victim.connect("globex", &[]).await.status(), 302);
    let second = victim.session.clone();
    assert_ne!(first, second);
    victim.session = first;
    assert_eq!(victim.query("SELECT name FROM tenant").await.scalar(), &json!("acme"));
    victim.session = second;
    assert_eq!(victim.query("SELECT name FROM tenant").await.scalar(), &json!("globex"));
}

#[tokio::test]
async fn the_binding_cookie_is_host_only_under_https_and_cross_site_only_when_framed() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let set_cookie = |door: &Door, headers: Vec<(&'static str, &'static str)>| {
        let base = door.base.clone();
        async move {
            let mut request = client().get(format!("{base}/db/connect/acme"));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 302);
            response.headers()["set-cookie"].to_str().unwrap().to_owned()
        }
    };
    let door = Door::start(&[args(&connect_args(&backend)), vec!["--prefix", "db"]].concat());
    let plain = set_cookie(&door, vec![]).await;
    assert!(
        plain.starts_with("pgdoor_bind=") && plain.contains("Path=/db/") && plain.contains("SameSite=Lax"),
        "{plain}"
    );
    assert!(!plain.contains("Secure"), "{plain}");
    // TLS ended by the trusted gateway in front.
    let https = set_cookie(&door, vec![("x-forwarded-proto", "https")]).await;
    assert!(https.starts_with("__Host-pgdoor_bind="), "{https}");
    for part in ["Secure", "HttpOnly", "Path=/;", "SameSite=Lax"] {
        assert!(format!("{https};").contains(part), "{part} in {https}");
    }

    let none =
        Door::start(&[args(&connect_args(&backend)), vec!["--prefix", "db", "--frame-ancestors", "'none'"]].concat());
    let cookie = set_cookie(&none, vec![]).await;
    assert!(cookie.contains("SameSite=Lax"), "'none' frames nothing, so nothing cross-site: {cookie}");
    let framed = Door::start(
        &[args(&connect_args(&backend)), vec!["--prefix", "db", "--frame-ancestors", "https://app.example.com"]]
            .concat(),
    );
    let cookie = set_cookie(&framed, vec![]).await;
    for part in ["__Host-pgdoor_bind=", "SameSite=None", "Secure", "Partitioned"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
}

#[tokio::test]
async fn nothing_connects_to_a_database_the_backend_did_not_grant() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let door = Door::start(&args(&connect_args(&backend)));
    let c = tls_cluster();
    let mut tab = Browser::new(&door.base);
    tab.connect("acme", &[]).await;
    let before = c.connections_to(&b);
    let url = c.url_in(&b, roles::SCRAM.0, Some(roles::SCRAM.1), "sslmode=disable");
    for (path, form) in [
        ("connect", vec![("url", url.as_str())]),
        ("connect", vec![("bookmark_id", "x")]),
        ("switchdb", vec![("db", b.as_str())]),
    ] {
        let answer = tab.post(path, &form).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert_eq!(answer.body["code"], "locked");
        assert!(answer.body["error"].as_str().unwrap().contains("/connect/<resource>"));
    }
    assert_eq!(tab.get("databases").await.status, 403);
    assert_eq!(tab.get("bookmarks").await.body, json!([]));
    assert_eq!(c.connections_to(&b), before);
    assert_eq!(tab.query("SELECT current_database()").await.scalar(), &json!(a));
}

#[tokio::test]
async fn gateway_headers_reach_the_backend_only_from_trusted_peers() {
    let (a, _) = two_tenants();
    let c = tls_cluster();
    let backend = Backend::builder(TOKEN)
        .resource("acme", &c.url_in(&a, roles::SCRAM.0, Some(roles::SCRAM.1), "sslmode=require"))
        .require_header("x-forwarded-email")
        .start();
    let headers = [("X-Forwarded-Email", "Ann@Example.com"), ("X-Forwarded-User", "ann")];
    let common = [
        connect_args(&backend),
        ["--connect-headers", "X-Forwarded-Email,X-Forwarded-User"].map(String::from).to_vec(),
    ]
    .concat();

    let door = Door::start(&args(&common));
    let response = Browser::new(&door.base).connect("acme", &headers).await;
    assert_eq!(response.status(), 302);
    let body: Value = serde_json::from_str(backend.requests()[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["headers"], json!({"x-forwarded-email": "Ann@Example.com", "x-forwarded-user": "ann"}));

    // Only 10.1.2.3 is trusted: the headers from 127.0.0.1 are dropped, and the backend refuses.
    let door = Door::start(&[args(&common), vec!["--trusted-proxies", "10.1.2.3/32"]].concat());
    let response = Browser::new(&door.base).connect("acme", &headers).await;
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_str(backend.requests()[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["headers"], json!({"x-forwarded-email": "", "x-forwarded-user": ""}));

    let door = Door::start(&[args(&common), vec!["--trusted-proxies", "127.0.0.1,::1"]].concat());
    assert_eq!(Browser::new(&door.base).connect("acme", &headers).await.status(), 302);
}

#[tokio::test]
async fn each_failure_has_its_page_and_status() {
    let c = tls_cluster();
    let wrong_password = c.url(roles::SCRAM.0, Some("s3cret-but-wrong"), "sslmode=require");
    let backend = Backend::builder(TOKEN).resource("badpw", &wrong_password).start();
    let door = Door::start(&args(&connect_args(&backend)));
    let http = client();
    let page = |path: &str, json: bool| {
        let mut request = http.get(format!("{}{path}", door.base));
        if json {
            request = request.header("accept", "application/json");
        }
        request.send()
    };

    let response = page("/connect/nobody", false).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("There is no database behind this link.") && html.contains("Check the link"), "{html}");

    let response = page("/connect/nobody", true).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "unknown_resource");

    let response = page("/connect/badpw", true).await.unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable");
    assert_eq!(body["error"], "The database did not accept this link's credentials.", "{body}");
    // The role, host and port are for the log only.
    for secret in ["s3cret-but-wrong", roles::SCRAM.0, "127.0.0.1", &c.port.to_string()] {
        assert!(!body.to_string().contains(secret), "{secret} shown: {body}");
    }
    assert!(door.logs().contains("password authentication failed"), "the log lacks the database's message");
    let shown = Door::start(&[args(&connect_args(&backend)), vec!["--show-server-address"]].concat());
    let response = http.get(format!("{}/connect/badpw", shown.base)).header("accept", "application/json").send();
    let body: Value = response.await.unwrap().json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("password authentication failed"), "{body}");

    // A backend that refuses (wrong token), is down, or is too slow.
    let wrong_token = Door::start(&["--sessions", "--connect-backend", &backend.url, "--connect-token", "nope"]);
    let response = client().get(format!("{}/connect/badpw", wrong_token.base)).send().await.unwrap();
    assert_eq!(response.status(), 403);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let down = Door::start(&["--sessions", "--connect-backend", &down_url, "--connect-token", "t"]);
    let response = client().get(format!("{}/connect/x", down.base)).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("could not be used"));

    let slow = Scripted::start("200 OK", "", "{}", Duration::from_secs(5));
    let slow_door =
        Door::start(&["--sessions", "--connect-backend", &slow.url, "--connect-token", "t", "--connect-timeout", "1"]);
    let response = client().get(format!("{}/connect/x", slow_door.base)).send().await.unwrap();
    assert_eq!(response.status(), 504);
}

#[tokio::test]
async fn connect_is_rate_limited_and_sessions_are_capped() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let door = Door::start(&[args(&connect_args(&backend)), vec!["--connect-rate", "2"]].concat());
    let mut tab = Browser::new(&door.base);
    assert_eq!(tab.connect("acme", &[]).await.status(), 302);
    assert_eq!(tab.connect("acme", &[]).await.status(), 302);
    let limited = tab.connect("acme", &[]).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);

    let door = Door::start(
        &[
            args(&connect_args(&backend)),
            vec!["--max-sessions", "2", "--max-sessions-per-user", "1", "--identity-header", "X-Forwarded-Email"],
        ]
        .concat(),
    );
    let ann = [("x-forwarded-email", "ann@example.com")];
    let bob = [("x-forwarded-email", "bob@example.com")];
    let carl = [("x-forwarded-email", "carl@example.com")];
    assert_eq!(Browser::new(&door.base).connect("acme", &ann).await.status(), 302);
    let again = Browser::new(&door.base).connect("acme", &ann).await;
    assert_eq!(again.status(), 429);
    assert!(again.text().await.unwrap().contains("limit per person"));
    assert_eq!(Browser::new(&door.base).connect("globex", &bob).await.status(), 302);
    let full = Browser::new(&door.base).connect("globex", &carl).await;
    assert_eq!(full.status(), 429);
}

#[tokio::test]
async fn everything_lives_under_the_prefix() {
    let (a, b) = two_tenants();
    let backend = backend_for(&a, &b);
    let door = Door::start(&[args(&connect_args(&backend)), vec!["--prefix", "tools/db/"]].concat());
    let mut tab = Browser::new(&format!("{}/tools/db", door.base));
    let response = tab.connect("acme", &[]).await;
    assert_eq!(response.status(), 302);
    assert!(response.headers()["location"].to_str().unwrap().starts_with("/tools/db/#session="));
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Path=/tools/db/"));
    assert_eq!(tab.query("SELECT name FROM tenant").await.scalar(), &json!("acme"));
    let outside = client().get(format!("{}/connect/acme", door.base)).send().await.unwrap();
    assert_eq!(outside.status(), 404);
    let bare = client().get(format!("{}/tools/db", door.base)).send().await.unwrap();
    assert_eq!(bare.headers()["location"], "/tools/db/");
}

#[tokio::test]
async fn basic_auth_guards_everything_but_health() {
    let c = tls_cluster();
    let url = c.url(roles::TRUST, None, "sslmode=disable");
    let door = Door::start(&["--url", &url, "--auth-user", "ops", "--auth-pass", "pa55"]);
    let http = client();
    assert_eq!(http.get(format!("{}/healthz", door.base)).send().await.unwrap().status(), 200);
    let refused = http.get(format!("{}/connect/default", door.base)).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let wrong =
        http.get(format!("{}/connect/default", door.base)).basic_auth("ops", Some("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http.get(format!("{}/connect/default", door.base)).basic_auth("ops", Some("pa55")).send().await.unwrap();
    assert_eq!(ok.status(), 302);
}

#[tokio::test]
async fn single_database_mode_and_security_headers() {
    let c = tls_cluster();
    let door = Door::start(&[
        "--url",
        &c.url(roles::TRUST, None, "sslmode=disable"),
        "--frame-ancestors",
        "'self' https://app.example.com",
    ]);
    let http = client();
    let root = http.get(format!("{}/", door.base)).send().await.unwrap();
    assert_eq!(root.status(), 302);
    assert_eq!(root.headers()["location"], "/connect/default");
    let connect = http.get(format!("{}/connect/default", door.base)).send().await.unwrap();
    assert_eq!(connect.status(), 302);
    let cookie = connect.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("SameSite=None") && cookie.contains("Secure") && cookie.contains("Partitioned"),
        "{cookie}"
    );
    for response in [root, connect, http.get(format!("{}/api/info", door.base)).send().await.unwrap()] {
        let h = response.headers();
        assert!(
            h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'self' https://app.example.com")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
}

#[test]
fn tls_listener_speaks_http2() {
    let c = tls_cluster();
    let door = Door::start(&[
        "--url",
        &c.url(roles::TRUST, None, "sslmode=disable"),
        "--tls-cert",
        c.certs.server_cert.to_str().unwrap(),
        "--tls-key",
        c.certs.server_key.to_str().unwrap(),
    ]);
    let port = door.base.rsplit(':').next().unwrap();
    let out = Command::new("curl")
        .args(["-s", "-i", "--http2", "--cacert", c.certs.ca.to_str().unwrap()])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), &format!("https://localhost:{port}/healthz")])
        .output()
        .expect("curl is needed for this test: apt-get install -y curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/2 200"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("strict-transport-security: max-age="), "{text}");
}

#[test]
fn invalid_configuration_stops_startup_naming_the_flag() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pgdoor")).args(args).env_remove("PGDOOR_URL").output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["--connect-backend", "http://127.0.0.1:9/", "--connect-token", "t"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--connect-backend needs --sessions"), "{err}");
    let (code, err) = run(&[]);
    assert_eq!(code, Some(64));
    assert!(err.contains("needs a credential source"), "{err}");
    let (code, err) = run(&["--url", "postgres://u@h/db", "--idle-timeout", "forever"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--idle-timeout \"forever\""), "{err}");
    let (code, err) = run(&["--url", "postgres://u:pw-hidden@h/db?sslmode=sometimes"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--url") && err.contains("sslmode") && !err.contains("pw-hidden"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (code, err) = run(&["--url", "postgres://u@h/db", "--bind", "127.0.0.1", "--listen", &port]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
}

#[tokio::test]
async fn cors_readiness_and_disconnect() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let door = Door::start(&[
        "--url",
        &url,
        "--cors",
        "--cors-origin",
        "https://app.example.com",
        "--max-request-body",
        "2000",
        "--log-format",
        "json",
    ]);
    let http = client();
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{}/api/query", door.base))
        .header("origin", "https://app.example.com")
        .header("access-control-request-headers", "x-session-id")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("X-Session-ID"));
    assert_eq!(http.get(format!("{}/readyz", door.base)).send().await.unwrap().status(), 200);

    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    assert_eq!(tab.query("SELECT 1").await.status, 200);
    let too_big = tab.query(&format!("SELECT '{}'", "x".repeat(3000))).await;
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    // Answers given before the request is read carry the security headers too.
    assert!(too_big.headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    assert_eq!(too_big.headers["referrer-policy"], "no-referrer");
    assert!(c.connections_to(&db) >= 1);

    // One JSON access line per request, with the session as a short hash.
    let access: Vec<serde_json::Value> = door
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "pgdoor::access")
        .collect();
    let query_line = access
        .iter()
        .find(|l| l["fields"]["route"] == "/api/query" && l["fields"]["status"] == 200)
        .expect("an access line");
    let hash = query_line["fields"]["session"].as_str().unwrap();
    assert_eq!(hash.len(), 8);
    assert!(!tab.session.as_ref().unwrap().contains(hash));
    assert!(query_line["fields"]["duration_ms"].is_number());

    assert_eq!(tab.post("disconnect", &[]).await.body, json!({"success": true}));
    let after = tab.query("SELECT 1").await;
    assert_eq!(after.status, 401);
    assert_eq!(after.body["code"], "session_gone");
    assert_eq!(c.connections_to(&db), 0);
}
