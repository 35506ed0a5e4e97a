//! `pgdoor check-backend` as a process against the example backend and a
//! real cluster, and the AWS RDS IAM exec example signed offline by awscli.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::backend::Backend;
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "backend-token-9f8e";

fn check_backend(args: &[&str], envs: &[(&str, &str)]) -> (Output, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pgdoor"))
        .arg("check-backend")
        .args(args)
        .env_remove("PGDOOR_CONNECT_BACKEND")
        .env_remove("PGDOOR_CONNECT_TOKEN")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn resolves_then_checks_the_database_with_secrets_redacted() {
    let c = tls_cluster();
    let (user, pw) = roles::SCRAM;
    let backend = Backend::builder(TOKEN)
        .resource("acme", &c.url(user, Some(pw), "sslmode=require"))
        .resource("badpw", &c.url(user, Some("not-the-password"), "sslmode=require"))
        .require_header("x-forwarded-email")
        .start();
    let common = [
        "--connect-backend",
        &backend.url,
        "--connect-headers",
        "X-Forwarded-Email",
        "--header",
        "x-forwarded-email=ann@example.com",
    ];
    let env = [("PGDOOR_CONNECT_TOKEN", TOKEN)];

    let (out, stdout, stderr) = check_backend(&[&common[..], &["acme"]].concat(), &env);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("Request: POST {}", backend.url)), "{stdout}");
    assert!(
        stdout.contains(r#"{"headers":{"x-forwarded-email":"ann@example.com"},"resource":"acme","token":"REDACTED"}"#),
        "{stdout}"
    );
    assert!(stdout.contains("Answer:  ok in "), "{stdout}");
    assert!(
        stdout.contains(&format!("database_url  postgres://{user}:REDACTED@127.0.0.1:{}/postgres", c.port)),
        "{stdout}"
    );
    assert!(stdout.contains("auth       SCRAM-SHA-256-PLUS") && stdout.trim_end().ends_with("OK"), "{stdout}");
    for secret in [TOKEN, pw] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} shown:\n{stdout}{stderr}");
    }

    let (out, _, stderr) = check_backend(&[&common[..], &["badpw"]].concat(), &env);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED at authentication"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    let (out, _, stderr) = check_backend(&[&common[..], &["nobody"]].concat(), &env);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refused: HTTP 404: unknown resource"), "{stderr}");
}

#[test]
fn unreachable_backends_and_bad_flags_have_their_own_codes() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let (out, _, stderr) = check_backend(&["--connect-backend", &url, "--connect-token", "t", "acme"], &[]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("could not be reached"), "{stderr}");

    let (out, _, stderr) = check_backend(&["--connect-backend", &url, "acme"], &[]);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("needs --connect-token"), "{stderr}");

    let (out, _, stderr) = check_backend(&["--connect-headers", "X-Forwarded-Email", "acme"], &[]);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--connect-headers is set but --connect-backend is not"), "{stderr}");
}

#[test]
fn a_file_backend_needs_no_token() {
    let c = tls_cluster();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resources.toml");
    let url = c.url(roles::TRUST, None, "sslmode=disable");
    std::fs::write(&path, format!("[local]\ndatabase_url = \"{url}\"\nreadonly = true\nlabel = \"Local\"\n")).unwrap();
    let (out, stdout, stderr) =
        check_backend(&["--connect-backend", &format!("file://{}", path.display()), "local"], &[]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("Request: look up \"local\" in {}", path.display())), "{stdout}");
    assert!(stdout.contains("readonly      true") && stdout.contains("label         Local"), "{stdout}");
}

fn rds_example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/exec-resolver/rds-iam-token")
}

/// Offline AWS credentials: signing needs no network.
const AWS_ENV: [(&str, &str); 6] = [
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_DEFAULT_OUTPUT", "text"),
];

#[test]
fn the_rds_iam_example_signs_a_token_and_pgdoor_uses_it() {
    let found = Command::new("aws").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "the AWS CLI is needed for this test: pip install awscli (tests/install-deps does it)");
    let c = tls_cluster();
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("rds.toml");
    std::fs::write(
        &map,
        format!(
            "[acme]\nhost = \"localhost\"\nport = {}\nuser = \"{}\"\ndbname = \"postgres\"\nregion = \"eu-west-1\"\n\
             sslrootcert = \"{}\"\nlabel = \"Acme\"\n",
            c.port,
            roles::SCRAM.0,
            c.certs.ca.display()
        ),
    )
    .unwrap();
    let map = map.to_str().unwrap();

    // The program alone: stdin in, answer out.
    let mut child = Command::new(rds_example())
        .env("PGDOOR_RDS_RESOURCES", map)
        .envs(AWS_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(br#"{"resource": "acme", "headers": {}}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = answer["database_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("postgres://{}:", roles::SCRAM.0)), "{url}");
    assert!(url.contains("X-Amz-Signature") && url.contains("AKIAIOSFODNN7EXAMPLE"), "{url}");
    assert!(url.contains("sslmode=verify-full&sslrootcert="), "{url}");
    assert_eq!(answer["label"], "Acme");
    assert!(answer["expires_at"].as_str().unwrap().ends_with('Z'));

    // Through pgdoor: resolved, redacted, and the token reaches PostgreSQL as the password
    // (verify-full passed, or it would fail at certificate verification), which this
    // server, not being RDS, rejects.
    let (out, stdout, stderr) = check_backend(
        &["--connect-backend", &format!("exec://{}", rds_example().display()), "acme"],
        &[&AWS_ENV[..], &[("PGDOOR_RDS_RESOURCES", map)]].concat(),
    );
    assert!(stdout.contains("Answer:  ok in "), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("database_url  postgres://{}:REDACTED@localhost:{}/postgres", roles::SCRAM.0, c.port)),
        "{stdout}"
    );
    assert!(stderr.contains("FAILED at authentication: FATAL: password authentication failed"), "{stderr}");
    assert!(!stdout.contains("X-Amz-Signature") && !stderr.contains("X-Amz-Signature"), "{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
}
