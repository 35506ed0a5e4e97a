//! The example connect backend (`examples/connect-backend`), started as a
//! process on `127.0.0.1:0` over HTTP or HTTPS, recording what it receives.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running example backend; killed on drop.
pub struct Backend {
    /// Base URL to POST to (`http://127.0.0.1:PORT/connect` or https).
    pub url: String,
    child: Child,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

/// Settings for [`Backend::start`].
#[derive(Default)]
pub struct BackendBuilder {
    token: String,
    resources: Vec<(String, String)>,
    toml: Option<String>,
    require_header: Option<String>,
    require_verified: bool,
    tls: Option<(PathBuf, PathBuf)>,
    client_ca: Option<PathBuf>,
}

impl Backend {
    /// A backend that expects `token`.
    pub fn builder(token: &str) -> BackendBuilder {
        BackendBuilder { token: token.into(), ..Default::default() }
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl BackendBuilder {
    /// Adds a resource answered with just a URL.
    pub fn resource(mut self, name: &str, url: &str) -> Self {
        self.resources.push((name.into(), url.into()));
        self
    }

    /// Uses a TOML resource map (the file resolver's format).
    pub fn resources_toml(mut self, toml: &str) -> Self {
        self.toml = Some(toml.into());
        self
    }

    /// Refuses requests without this header in `headers`.
    pub fn require_header(mut self, name: &str) -> Self {
        self.require_header = Some(name.into());
        self
    }

    /// Refuses requests without an identity pgdoor verified.
    pub fn require_verified(mut self) -> Self {
        self.require_verified = true;
        self
    }

    /// Serves HTTPS with this certificate and key.
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Requires client certificates from this CA.
    pub fn client_ca(mut self, ca: &Path) -> Self {
        self.client_ca = Some(ca.into());
        self
    }

    /// Starts the process and waits until it listens.
    pub fn start(self) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("requests.jsonl");
        let mut cmd = Command::new(example_binary("connect-backend"));
        cmd.args(["--listen", "127.0.0.1:0", "--token", &self.token, "--record"]).arg(&record);
        for (name, url) in &self.resources {
            cmd.arg("--resource").arg(format!("{name}={url}"));
        }
        if let Some(toml) = &self.toml {
            let path = dir.path().join("resources.toml");
            std::fs::write(&path, toml).unwrap();
            cmd.arg("--resources").arg(path);
        }
        if let Some(header) = &self.require_header {
            cmd.args(["--require-header", header]);
        }
        if self.require_verified {
            cmd.arg("--require-verified");
        }
        if let Some((cert, key)) = &self.tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(ca) = &self.client_ca {
            cmd.arg("--client-ca").arg(ca);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let base = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("backend said: {first}"));
        Backend { url: format!("{base}/connect"), child, record, _dir: dir }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cargo example of this package, built as a program by `cargo build --examples`
/// (`tests/run` does that first; `cargo test` alone builds examples only as tests).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join("examples").join(name);
    assert!(path.is_file(), "{} is missing: run `cargo build --examples` first (tests/run does)", path.display());
    path
}
