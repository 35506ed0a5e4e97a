//! Requests another site makes a browser send: refused by `Origin` and
//! `Sec-Fetch-Site`, `_session_id` only on downloads (a GET link or the UI's
//! form POST), and neither a GET nor a download writes, so a link or a form
//! on another page cannot run a statement.

use serde_json::{Value, json};

use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};

struct Setup {
    door: Door,
    tab: Browser,
    db: String,
}

async fn setup(extra: &[&str]) -> Setup {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        &format!("CREATE TABLE t(x int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO {}", roles::TRUST),
    );
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let mut args = vec!["--url", url.as_str()];
    args.extend_from_slice(extra);
    let door = Door::start(&args);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    Setup { door, tab, db }
}

impl Setup {
    /// A request with this browser's cookie (as a browser attaches it) and the given headers.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<&str>,
    ) -> (u16, Value) {
        let mut request = client().request(method, format!("{}{path}", self.door.base));
        request = request.header("cookie", self.tab.cookie.clone().unwrap());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = form {
            request = request.header("content-type", "application/x-www-form-urlencoded").body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn count(&self) -> String {
        tls_cluster().admin_sql_in(&self.db, "SELECT count(*) FROM t")
    }

    fn id(&self) -> String {
        self.tab.session.clone().unwrap()
    }
}

#[tokio::test]
async fn another_sites_requests_are_refused() {
    let s = setup(&[]).await;
    let id = s.id();
    let insert = "query=INSERT+INTO+t+VALUES+(2)";
    let post = reqwest::Method::POST;

    let (status, body) = s
        .send(post.clone(), "/api/query", &[("x-session-id", &id), ("origin", "https://evil.example")], Some(insert))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "cross_site");
    assert!(body["error"].as_str().unwrap().contains("https://evil.example"), "{body}");
    let (status, body) = s
        .send(post.clone(), "/api/query", &[("x-session-id", &id), ("sec-fetch-site", "cross-site")], Some(insert))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) =
        s.send(post.clone(), "/api/query", &[("x-session-id", &id), ("origin", "null")], Some(insert)).await;
    assert_eq!(status, 403, "a sandboxed frame's opaque origin");
    let sibling =
        [("x-session-id", id.as_str()), ("origin", "http://127.0.0.1.evil.example"), ("sec-fetch-site", "same-site")];
    assert_eq!(s.send(post.clone(), "/api/query", &sibling, Some(insert)).await.0, 403);
    assert_eq!(s.count(), "1", "nothing ran");

    // pgdoor's own page: same origin.
    let own = s.door.base.clone();
    let (status, body) = s
        .send(
            post.clone(),
            "/api/query",
            &[("x-session-id", &id), ("origin", &own), ("sec-fetch-site", "same-origin")],
            Some(insert),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.count(), "2");
}

#[tokio::test]
async fn a_get_never_writes_and_the_session_id_rides_only_on_downloads() {
    let s = setup(&[]).await;
    let id = s.id();
    let get = reqwest::Method::GET;

    // A link with the id in it (as in pgweb's UI) opens downloads only.
    let link = format!("/api/query?query=INSERT+INTO+t+VALUES+(3)&_session_id={id}");
    let (status, body) = s.send(get.clone(), &link, &[], None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("X-Session-ID"), "{body}");
    let download = format!("/api/query?query=SELECT+x+FROM+t&format=csv&_session_id={id}");
    let (status, csv) = s.send(get.clone(), &download, &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(csv, json!("x\n1\n"));

    // Even with the header, a GET runs read-only.
    for path in ["/api/query?query=INSERT+INTO+t+VALUES+(4)", "/api/analyze?query=DELETE+FROM+t"] {
        let (status, body) = s.send(get.clone(), path, &[("x-session-id", &id)], None).await;
        assert_ne!(status, 200, "{path}: {body}");
    }
    assert_eq!(s.count(), "1", "no GET wrote");
    let (status, body) =
        s.send(get.clone(), "/api/query?query=SELECT+count(*)+FROM+t", &[("x-session-id", &id)], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0][0], 1);
    // POST still writes.
    assert_eq!(s.tab.query("INSERT INTO t VALUES (5)").await.status, 200);
    assert_eq!(s.count(), "2");
}

#[tokio::test]
async fn a_form_posted_download_carries_its_id_in_the_body_and_only_from_pgdoors_page() {
    let s = setup(&[]).await;
    let id = s.id();
    let post = reqwest::Method::POST;
    // What Chromium sends for the UI's form into its hidden frame: the page's
    // Referrer-Policy makes the Origin `null`; Sec-Fetch-Site is the browser's word.
    let own_frame = [("origin", "null"), ("sec-fetch-site", "same-origin")];
    let download = format!("query=SELECT+x+FROM+t&format=csv&_session_id={id}");
    let (status, csv) = s.send(post.clone(), "/api/query", &own_frame, Some(&download)).await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv, json!("x\n1\n"));
    let (status, csv) =
        s.send(post.clone(), "/api/tables/t/rows", &own_frame, Some(&format!("format=csv&_session_id={id}"))).await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv, json!("x\n1\n"));

    // Another site's form: refused before anything runs.
    let other = [("origin", "null"), ("sec-fetch-site", "cross-site")];
    assert_eq!(s.send(post.clone(), "/api/query", &other, Some(&download)).await.0, 403);
    // Not a download: the id in the body is refused, so a form cannot run SQL.
    let (status, body) = s
        .send(post.clone(), "/api/query", &own_frame, Some(&format!("query=INSERT+INTO+t+VALUES+(6)&_session_id={id}")))
        .await;
    assert_eq!(status, 401, "{body}");
    // A download never writes.
    let (status, body) = s
        .send(
            post.clone(),
            "/api/query",
            &own_frame,
            Some(&format!("query=INSERT+INTO+t+VALUES+(7)+RETURNING+x&format=csv&_session_id={id}")),
        )
        .await;
    assert_ne!(status, 200, "{body}");
    assert_eq!(s.count(), "1", "no form wrote");
}

#[tokio::test]
async fn the_allowed_origin_may_call_the_api() {
    let s = setup(&["--cors", "--cors-origin", "https://app.example.com"]).await;
    let id = s.id();
    let headers =
        [("x-session-id", id.as_str()), ("origin", "https://app.example.com"), ("sec-fetch-site", "cross-site")];
    let (status, body) = s.send(reqwest::Method::POST, "/api/query", &headers, Some("query=SELECT+1")).await;
    assert_eq!(status, 200, "{body}");
    let other = [("x-session-id", id.as_str()), ("origin", "https://other.example.com")];
    assert_eq!(s.send(reqwest::Method::POST, "/api/query", &other, Some("query=SELECT+1")).await.0, 403);
}
