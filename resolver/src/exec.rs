//! `exec:///path/to/program`: runs a program per request. It gets the same
//! JSON as an HTTP backend on stdin and answers the same JSON on stdout, with
//! exit status 0. This is how Vault, AWS RDS IAM tokens or anything else plug
//! in without changing pgdoor.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::credential::Credential;
use crate::error::{BuildError, ResolveError};
use crate::http::MAX_ANSWER_BYTES;
use crate::{ResolveRequest, Resolver};

/// How many programs may run at once; further requests wait their turn.
pub const MAX_CONCURRENT_RUNS: usize = 8;

/// How much of the program's stderr is kept for the log.
const STDERR_EXCERPT: usize = 2048;

/// Runs a program to resolve each request.
pub struct ExecResolver {
    program: PathBuf,
    token: Option<SecretString>,
    headers: Vec<String>,
    timeout: Duration,
    runs: Semaphore,
}

/// How one run ended.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl ExecResolver {
    /// Checks that the program exists and is executable.
    pub fn new(
        program: PathBuf,
        token: Option<SecretString>,
        headers: Vec<String>,
        timeout: Duration,
    ) -> Result<Self, BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&program)
            .map_err(|e| BuildError::Program(format!("exec backend {}: {e}", program.display())))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(BuildError::Program(format!(
                "exec backend {} is not an executable file (chmod +x it)",
                program.display()
            )));
        }
        Ok(ExecResolver { program, token, headers, timeout, runs: Semaphore::new(MAX_CONCURRENT_RUNS) })
    }

    async fn run(&self, input: &[u8]) -> Result<Finished, ResolveError> {
        let mut child = Command::new(&self.program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ResolveError::Unreachable(format!("cannot start {}: {e}", self.program.display())))?;
        let (mut stdin, stdout, stderr) = (
            child.stdin.take().expect("stdin is piped"),
            child.stdout.take().expect("stdout is piped"),
            child.stderr.take().expect("stderr is piped"),
        );
        let group = child.id();
        let work = async {
            // A program that never reads its input must not block us: ignore write errors.
            let feed = async {
                let _ = stdin.write_all(input).await;
                drop(stdin);
            };
            let ((), stdout, stderr, status) = tokio::join!(
                feed,
                read_capped(stdout, MAX_ANSWER_BYTES + 1),
                read_capped(stderr, STDERR_EXCERPT),
                child.wait()
            );
            let status = status.map_err(|e| ResolveError::Unreachable(format!("waiting for the program: {e}")))?;
            Ok(Finished { status, stdout, stderr })
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                // The program and everything it started share one process group.
                if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
                    let _ =
                        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.wait().await;
                Err(ResolveError::TimedOut(self.timeout))
            }
        }
    }
}

async fn read_capped(stream: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = stream.take(cap as u64).read_to_end(&mut out).await;
    out
}

#[async_trait::async_trait]
impl Resolver for ExecResolver {
    async fn resolve(&self, request: &ResolveRequest) -> Result<Credential, ResolveError> {
        let input = request.to_json(self.token.as_ref(), !self.headers.is_empty()).to_string();
        let _turn = self.runs.acquire().await.map_err(|_| ResolveError::Unreachable("resolver closed".into()))?;
        let finished = self.run(input.as_bytes()).await?;
        let stderr = String::from_utf8_lossy(&finished.stderr);
        if !finished.status.success() {
            tracing::warn!(program = %self.program.display(), status = %finished.status, stderr = %stderr.trim(), "exec backend refused");
            return Err(ResolveError::Refused { status: None, reason: format!("the program {}", finished.status) });
        }
        if finished.stdout.len() > MAX_ANSWER_BYTES {
            return Err(ResolveError::Invalid(format!("the program wrote more than {MAX_ANSWER_BYTES} bytes")));
        }
        let answer: Value = serde_json::from_slice(&finished.stdout).map_err(|e| {
            tracing::warn!(program = %self.program.display(), stderr = %stderr.trim(), "exec backend wrote no JSON");
            ResolveError::Invalid(format!("the program's output is not JSON ({e})"))
        })?;
        let object = answer
            .as_object()
            .ok_or_else(|| ResolveError::Invalid("the program's output is not a JSON object".into()))?;
        Credential::from_answer(object).map_err(ResolveError::Invalid)
    }

    fn describe_request(&self, request: &ResolveRequest) -> String {
        let mut body = request.to_json(None, !self.headers.is_empty());
        if self.token.is_some() {
            body["token"] = Value::from("REDACTED");
        }
        format!("run {} with stdin\n{body}", self.program.display())
    }
}
