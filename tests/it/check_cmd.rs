//! `pgdoor check` run as a process.

use std::process::{Command, Output};

use crate::support::pg::{plain_cluster, roles, tls_cluster};

fn check(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgdoor"))
        .args(["check", url])
        .env_remove("PGPASSWORD")
        .env_remove("PGDOOR_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn reports_version_tls_auth_and_round_trip() {
    let c = tls_cluster();
    let (user, pw) = roles::SCRAM;
    let url =
        c.url(user, Some(pw), &format!("sslmode=verify-full&sslrootcert={}&host=localhost", c.certs.ca.display()));
    let out = check(&url);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("tls        TLSv1_3"), "{stdout}");
    assert!(stdout.contains("certificate verified (CA and host name)"), "{stdout}");
    assert!(stdout.contains("auth       SCRAM-SHA-256-PLUS"), "{stdout}");
    assert!(stdout.contains("server     PostgreSQL "), "{stdout}");
    assert!(stdout.contains(&format!("database   postgres as {user}")), "{stdout}");
    assert!(stdout.contains("SELECT 1 ") && stdout.contains(" ms round trip"), "{stdout}");
    assert!(!stdout.contains(pw) && !stderr.contains(pw), "password shown:\n{stdout}{stderr}");
    assert!(stdout.contains("<redacted>"));
}

#[test]
fn plaintext_is_reported_as_such() {
    let c = plain_cluster();
    let out = check(&c.url(roles::MD5.0, Some(roles::MD5.1), "sslmode=prefer"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("tls        off (plaintext)"), "{stdout}");
    assert!(stdout.contains("auth       md5"), "{stdout}");
}

#[test]
fn each_failure_is_one_line_naming_the_step() {
    let tls = tls_cluster();
    let plain = plain_cluster();
    let (user, pw) = roles::SCRAM;
    let secret = "wrong-but-secret";
    let cases = [
        (
            tls.url(user, Some(secret), "sslmode=require"),
            1,
            "FAILED at authentication: FATAL: password authentication failed",
        ),
        (tls.url(user, Some(pw), "sslmode=disable").replace("/postgres?", "/nosuchdb?"), 1, "FAILED at database:"),
        (plain.url(user, Some(pw), "sslmode=require"), 1, "FAILED at TLS negotiation:"),
        (
            tls.url(
                user,
                Some(pw),
                &format!("sslmode=verify-full&host=localhost&sslrootcert={}", tls.certs.other_ca.display()),
            ),
            1,
            "FAILED at certificate verification:",
        ),
        (format!("postgres://u:{secret}@127.0.0.1:1/db?sslmode=sideways"), 64, "FAILED at connection string:"),
    ];
    for (url, code, want) in cases {
        let out = check(&url);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{url}\n{stdout}{stderr}");
        assert!(stderr.contains(want), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "secret shown:\n{stdout}{stderr}");
    }
}

#[test]
fn a_role_meant_for_read_only_is_warned_about_what_it_could_write() {
    let c = tls_cluster();
    let db = c.create_database("postgres");
    let role = format!("reader_{db}");
    c.admin_sql_in(
        &db,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw'; CREATE TABLE public.orders(x int);
             GRANT SELECT ON public.orders TO {role}"
        ),
    );
    let url = c.url_in(&db, &role, Some("pw"), "sslmode=require");
    let run = |readonly: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgdoor"));
        cmd.arg("check").arg(&url).env_remove("PGDOOR_DATABASE_URL");
        if readonly {
            cmd.arg("--readonly");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{:?}", text(&out));
        text(&out).0
    };
    let clean = run(true);
    assert!(clean.contains("writes     none found"), "{clean}");
    assert!(!clean.contains("WARNING"), "{clean}");

    c.admin_sql_in(&db, &format!("GRANT INSERT ON public.orders TO {role}; GRANT CREATE ON SCHEMA public TO {role}"));
    let warned = run(true);
    assert!(
        warned.contains("WARNING    handed out read-only, but the role may INSERT, UPDATE, DELETE or TRUNCATE in 1 tables (e.g. public.orders)"),
        "{warned}"
    );
    assert!(warned.contains("WARNING    handed out read-only, but the role may CREATE in schema public"), "{warned}");
    // Without --readonly the same facts are information, not warnings.
    let plain = run(false);
    assert!(plain.contains("writes     may CREATE in schema public") && !plain.contains("WARNING"), "{plain}");
}
