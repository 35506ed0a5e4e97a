//! pgdoor itself, spawned as a process on a free port, and a `Browser` that
//! talks to it the way a browser tab does: its own cookie, the session id in
//! `X-Session-ID`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running pgdoor; stopped (SIGKILL) on drop unless stopped before.
pub struct Door {
    /// `http://127.0.0.1:PORT` (or https), without the prefix.
    pub base: String,
    /// Everything pgdoor logged.
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Door {
    /// Starts `pgdoor` with these arguments (plus `--bind`, `--listen`, and a short grace period).
    pub fn start(args: &[&str]) -> Door {
        Door::start_with_env(args, &[])
    }

    /// As [`Door::start`], with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Door {
        Door::start_on("127.0.0.1", args, env)
    }

    /// As [`Door::start_with_env`], listening on `host` (an address of this
    /// machine), which `base` then names.
    pub fn start_on(host: &str, args: &[&str], env: &[(&str, &str)]) -> Door {
        let port = TcpListener::bind((host, 0)).unwrap().local_addr().unwrap().port();
        Door::start_at(host, port, args, env)
    }

    /// As [`Door::start_on`], on `port`: a pgdoor started again where the last one was.
    pub fn start_at(host: &str, port: u16, args: &[&str], env: &[(&str, &str)]) -> Door {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("pgdoor.log");
        let tls = args.contains(&"--tls-cert");
        let child = Command::new(env!("CARGO_BIN_EXE_pgdoor"))
            .args(["--bind", host, "--listen", &port.to_string()])
            .args(args)
            // Defaults through the environment, so a test's own flags win.
            .env("PGDOOR_GRACE_PERIOD", "1")
            .env("PGDOOR_DRAIN_DELAY", "0")
            .env("PGDOOR_LOG_LEVEL", "info,pgdoor=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let scheme = if tls { "https" } else { "http" };
        let mut door = Door { base: format!("{scheme}://{host}:{port}"), log, child, _dir: dir };
        door.wait_until_up(tls);
        door
    }

    /// pgdoor's resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().split(' ').next()?.parse().ok())
            .unwrap()
    }

    fn wait_until_up(&mut self, tls: bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = self.base.rsplit('/').next().unwrap().to_owned();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgdoor exited with {status}:\n{}", self.logs());
            }
            if std::net::TcpStream::connect(&addr).is_ok() && (tls || healthy(&self.base)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pgdoor did not come up:\n{}", self.logs());
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking health probe over a raw socket (no HTTP client needed).
fn healthy(base: &str) -> bool {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// pgdoor in front of database `db` of the TLS cluster (as the trust role,
/// plaintext), with `extra` flags, and a browser with a session on it.
pub async fn on_database(db: &str, extra: &[&str]) -> (Door, Browser) {
    let url = crate::support::pg::tls_cluster().url_in(db, crate::support::pg::roles::TRUST, None, "sslmode=disable");
    let mut args = vec!["--url", url.as_str()];
    args.extend_from_slice(extra);
    let door = Door::start(&args);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    (door, tab)
}

/// An HTTP client that installs the ring provider first (reqwest is built
/// without a default one) and never follows redirects.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// One browser behind a gateway: a cookie jar of one binding cookie, the
/// tab's session, and the identity headers the gateway adds to every request.
pub struct Browser {
    pub base: String,
    pub cookie: Option<String>,
    pub session: Option<String>,
    pub gateway: Vec<(String, String)>,
    client: reqwest::Client,
}

/// What an API call answered.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Browser {
    /// A fresh browser for `base` (including any prefix).
    pub fn new(base: &str) -> Browser {
        Browser { base: base.to_owned(), cookie: None, session: None, gateway: Vec::new(), client: client() }
    }

    /// Follows `/connect/<resource>` with gateway headers, which the gateway
    /// then adds to every later request too; on 302 keeps the cookie and
    /// session. Returns the raw response either way.
    pub async fn connect(&mut self, resource: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        self.gateway = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let mut request = self.client.get(format!("{}/connect/{resource}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        if response.status() == 302 {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            self.session = location.split("session=").nth(1).map(str::to_owned);
            if let Some(set) = response.headers().get("set-cookie") {
                self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_owned());
            }
        }
        response
    }

    /// GET `/api/<path>` with the session.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}/api/{path}", self.base))).await
    }

    /// POST `/api/<path>` with a urlencoded form.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = self
            .client
            .post(format!("{}/api/{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// POST `/api/<path>` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        let request = self.client.post(format!("{}/api/{path}", self.base)).json(body);
        self.send(request).await
    }

    /// Runs SQL through `/api/query`.
    pub async fn query(&self, sql: &str) -> Answer {
        self.post("query", &[("query", sql)]).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Answer {
        for (name, value) in &self.gateway {
            request = request.header(name, value);
        }
        if let Some(session) = &self.session {
            request = request.header("x-session-id", session);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body, headers }
    }
}

impl Answer {
    /// The single value of a one-row, one-column result.
    pub fn scalar(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body["rows"][0][0]
    }
}
