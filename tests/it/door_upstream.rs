//! `--upstream`: everything pgdoor does not answer itself goes to a real
//! local HTTP server with path, query and body kept and X-Forwarded-* set.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::door::{Door, client};
use crate::support::pg::{roles, tls_cluster};

struct Upstream {
    url: String,
    child: Child,
}

impl Upstream {
    fn start() -> Upstream {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/echo-upstream.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed: apt-get install -y python3");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        Upstream { url: format!("http://127.0.0.1:{}", port.trim()), child }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn requests_pgdoor_does_not_answer_go_upstream() {
    let upstream = Upstream::start();
    let url = tls_cluster().url(roles::TRUST, None, "sslmode=disable");
    let door = Door::start(&["--url", &url, "--upstream", &upstream.url, "--prefix", "db"]);
    let http = client();

    let echoed: Value = http
        .get(format!("{}/db/static/js/app.js?v=3&x=%20y", door.base))
        .header("host", "door.example.com")
        .header("cookie", "theme=dark; pgdoor_bind=0123456789abcdef0123456789abcdef; __Host-pgdoor_bind=00")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["path"], "/db/static/js/app.js");
    assert_eq!(echoed["query"], "v=3&x=%20y");
    assert_eq!(echoed["forwarded_for"], "127.0.0.1");
    assert_eq!(echoed["forwarded_proto"], "http");
    assert_eq!(echoed["forwarded_host"], "door.example.com");
    assert_eq!(echoed["cookie"], "theme=dark", "the binding cookie stays with pgdoor");

    let posted: Value = http
        .post(format!("{}/db/upload", door.base))
        .body(vec![7u8; 2_000_000])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["body_length"], 2_000_000);
    let big = http.get(format!("{}/big", door.base)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(big.len(), 3 * 1024 * 1024);
    assert!(big.iter().enumerate().all(|(i, b)| *b == (i % 256) as u8));

    // pgdoor's own routes stay local.
    let info = http.get(format!("{}/db/api/info", door.base)).send().await.unwrap();
    assert_eq!(info.json::<Value>().await.unwrap()["features"]["session_lock"], true);
    let connect = http.get(format!("{}/db/connect/default", door.base)).send().await.unwrap();
    assert_eq!(connect.status(), 302);
    let location = connect.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/db/?session="), "pgweb's UI reads the id from the query string: {location}");
    assert_eq!(http.get(format!("{}/healthz", door.base)).send().await.unwrap().text().await.unwrap(), "ok\n");

    // pgdoor's basic-auth password is pgdoor's, not the upstream's.
    let guarded = Door::start(&["--url", &url, "--upstream", &upstream.url, "--auth-user", "ops", "--auth-pass", "pw"]);
    let echoed: Value = http
        .get(format!("{}/x", guarded.base))
        .basic_auth("ops", Some("pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["path"], "/x");
    assert_eq!(echoed["authorization"], Value::Null, "{echoed}");
}

#[tokio::test]
async fn a_down_upstream_is_a_readable_502_and_basic_auth_still_applies() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let url = tls_cluster().url(roles::TRUST, None, "sslmode=disable");
    let door = Door::start(&["--url", &url, "--upstream", &down, "--auth-user", "ops", "--auth-pass", "pw"]);
    let http = client();
    assert_eq!(http.get(format!("{}/static/app.js", door.base)).send().await.unwrap().status(), 401);
    let response = http.get(format!("{}/static/app.js", door.base)).basic_auth("ops", Some("pw")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("is not answering"));
}
