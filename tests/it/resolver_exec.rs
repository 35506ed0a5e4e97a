//! The exec resolver: the request on stdin, the answer on stdout, refusals,
//! garbage, and a timed-out program killed with its children.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgdoor_resolver::{ExecResolver, ResolveError, ResolveRequest, Resolver};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exec-resolver.py")
}

fn resolver(timeout: Duration) -> ExecResolver {
    let headers = vec!["x-forwarded-email".to_string(), "pidfile".to_string()];
    ExecResolver::new(fixture(), Some(SecretString::from("tok")), headers, timeout).unwrap()
}

fn request(resource: &str, pidfile: &str) -> ResolveRequest {
    let names = ["x-forwarded-email".to_string(), "pidfile".to_string()];
    ResolveRequest::with_headers(resource, &names, |name| match name {
        "x-forwarded-email" => Some("ann@example.com".into()),
        "pidfile" => Some(pidfile.into()),
        _ => None,
    })
}

#[tokio::test]
async fn the_program_gets_the_request_and_answers() {
    let credential = resolver(Duration::from_secs(10)).resolve(&request("ok", "")).await.unwrap();
    assert_eq!(credential.database_url.expose_secret(), "postgres://u:p@h/db");
    let seen: Value = serde_json::from_str(credential.label.as_deref().unwrap()).unwrap();
    assert_eq!(
        seen,
        json!({"resource": "ok", "token": "tok", "headers": {"x-forwarded-email": "ann@example.com", "pidfile": ""}})
    );
}

#[tokio::test]
async fn a_failing_or_babbling_program_is_refused() {
    let r = resolver(Duration::from_secs(10));
    let err = r.resolve(&request("fail", "")).await.unwrap_err();
    assert_eq!(err, ResolveError::Refused { status: None, reason: "the program exit status: 3".into() });
    let err = r.resolve(&request("garbage", "")).await.unwrap_err();
    assert!(matches!(&err, ResolveError::Invalid(m) if m.contains("not JSON")), "{err}");
}

#[tokio::test]
async fn a_timed_out_program_and_its_children_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let started = Instant::now();
    let err = resolver(Duration::from_secs(2)).resolve(&request("slow", pidfile.to_str().unwrap())).await.unwrap_err();
    assert_eq!(err, ResolveError::TimedOut(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let pids = std::fs::read_to_string(&pidfile).unwrap();
    for pid in pids.split_whitespace() {
        // A killed orphan is reaped by init shortly after; allow it a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "process {pid} still runs");
    }
}

/// Alive and not a zombie.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.split_whitespace().nth(2) != Some("Z"))
}

#[test]
fn a_program_that_cannot_run_is_a_startup_error() {
    let err = ExecResolver::new("/nonexistent/resolve".into(), None, vec![], Duration::from_secs(1)).err().unwrap();
    assert!(err.to_string().contains("/nonexistent/resolve"), "{err}");
    let err = ExecResolver::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
        None,
        vec![],
        Duration::from_secs(1),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("not an executable file"), "{err}");
}
