//! `/api/export`: SQL dumps by pg_dump with the credentials in its
//! environment only, one table or all, errors before and after the first
//! byte, an old or missing pg_dump, and a browser that leaves.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};

/// A database owned by the SCRAM role with a small and a large table; the
/// session connects with a password over TLS, as a backend's URL would.
async fn scram_tab(extra_args: &[&str]) -> (Door, Browser, String) {
    let c = tls_cluster();
    let (user, password) = roles::SCRAM;
    let db = c.create_database(user);
    c.admin_sql_in(
        &db,
        &format!(
            "SET ROLE {user};
             CREATE TABLE small(id int PRIMARY KEY, note text);
             INSERT INTO small VALUES (1, 'one'), (2, 'two ''quoted''');
             CREATE TABLE \"Big Table\"(id int, payload text);
             INSERT INTO \"Big Table\" SELECT g, md5(g::text) FROM generate_series(1, 400000) g;"
        ),
    );
    let url = c.url_in(&db, user, Some(password), "sslmode=require");
    let mut args = vec!["--url", url.as_str()];
    args.extend_from_slice(extra_args);
    let door = Door::start(&args);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    (door, tab, db)
}

fn dump_request(tab: &Browser, query: &str) -> reqwest::RequestBuilder {
    client()
        .get(format!("{}/api/export?_session_id={}{query}", tab.base, tab.session.clone().unwrap()))
        .header("cookie", tab.cookie.clone().unwrap())
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).expect("a gzip stream");
    text
}

/// Command lines of running pg_dump processes started by `parent`.
fn pg_dump_children(parent: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
        if !stat.contains("(pg_dump)") || fields.get(1) != Some(&parent.to_string().as_str()) || fields[0] == "Z" {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
    }
    found
}

#[tokio::test]
async fn whole_database_with_credentials_kept_off_the_command_line() {
    let (door, tab, db) = scram_tab(&[]).await;
    let mut response = dump_request(&tab, "").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/gzip");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with(&format!("attachment; filename=\"{db}_")), "{disposition}");
    assert!(disposition.ends_with(".sql.gz\""), "{disposition}");

    // pg_dump is still writing: its command line holds neither the password nor a URL.
    let mut body = response.chunk().await.unwrap().unwrap().to_vec();
    let running = pg_dump_children(door.pid());
    assert_eq!(running.len(), 1, "one pg_dump while the dump streams: {running:?}");
    assert!(!running[0].contains(roles::SCRAM.1) && !running[0].contains("://"), "{}", running[0]);
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let sql = gunzip(&body);
    assert!(sql.contains("DROP TABLE IF EXISTS public.small;"), "drop statements before creates");
    assert!(sql.contains("CREATE TABLE public.small ("));
    assert!(sql.contains("COPY public.\"Big Table\" (id, payload) FROM stdin;"));
    assert!(sql.contains("400000\t"), "the last big row is there");
    assert!(sql.contains("2\ttwo 'quoted'"));
    assert!(!sql.contains("OWNER TO"), "no ownership statements");
    assert!(!door.logs().contains(roles::SCRAM.1), "the password never reaches the log");
}

#[tokio::test]
async fn one_table_by_its_quoted_name_and_a_missing_one() {
    let (_door, tab, db) = scram_tab(&[]).await;
    let table = url::form_urlencoded::byte_serialize(b"\"public\".\"small\"").collect::<String>();
    let response = dump_request(&tab, &format!("&table={table}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with(&format!("attachment; filename=\"{db}_public_small_")), "{disposition}");
    let sql = gunzip(&response.bytes().await.unwrap());
    assert!(sql.contains("CREATE TABLE public.small ("));
    assert!(!sql.contains("Big Table"), "only the table asked for");

    let missing = dump_request(&tab, "&table=nosuch").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "There is no table nosuch in this database (or you may not see it)");
    // An option smuggled in as a table name stays a table pattern.
    let smuggled = dump_request(&tab, "&table=--file%3D%2Ftmp%2Fpgdoor-smuggled.sql").send().await.unwrap();
    assert_eq!(smuggled.status(), 404);
    assert!(!std::path::Path::new("/tmp/pgdoor-smuggled.sql").exists());
}

#[tokio::test]
async fn a_browser_that_leaves_stops_pg_dump() {
    let (door, tab, _) = scram_tab(&[]).await;
    let mut response = dump_request(&tab, "").send().await.unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    assert_eq!(pg_dump_children(door.pid()).len(), 1);
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pg_dump_children(door.pid()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(pg_dump_children(door.pid()).is_empty(), "pg_dump still runs after the browser left");
}

/// A stand-in pg_dump: a shell script with the given body.
fn fake_pg_dump(body: &str) -> tempfile::TempPath {
    let file = tempfile::Builder::new().prefix("pg_dump").tempfile().unwrap();
    std::fs::write(file.path(), format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    file.into_temp_path()
}

#[tokio::test]
async fn an_old_pg_dump_is_refused_with_what_to_install() {
    let old = fake_pg_dump("echo 'pg_dump (PostgreSQL) 12.4'");
    let (_door, tab, _) = scram_tab(&["--pg-dump", old.to_str().unwrap()]).await;
    let server = tls_cluster().admin_sql("SELECT current_setting('server_version_num')::int / 10000");
    let answer = tab.get("export").await;
    assert_eq!(answer.status, 501, "{}", answer.body);
    assert_eq!(answer.body["code"], "dump_unavailable");
    let message = answer.body["error"].as_str().unwrap();
    assert!(message.starts_with(&format!("pg_dump 12 cannot dump a PostgreSQL {server} server")), "{message}");
    assert!(message.contains(&format!("postgresql-client-{server}")), "{message}");
}

#[tokio::test]
async fn a_program_that_is_no_pg_dump_says_what_to_install() {
    let not_pg_dump = fake_pg_dump("echo 'something else'");
    let (_door, tab, _) = scram_tab(&["--pg-dump", not_pg_dump.to_str().unwrap()]).await;
    let answer = tab.get("export").await;
    assert_eq!(answer.status, 501, "{}", answer.body);
    let message = answer.body["error"].as_str().unwrap();
    assert!(message.contains("apt-get install postgresql-client"), "{message}");
}

/// pg_dump's connection errors name the server's host, port and role: the
/// person reads a plain sentence, the log has pg_dump's own.
#[tokio::test]
async fn a_dump_that_cannot_connect_names_no_server() {
    let refused = fake_pg_dump(
        "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 99.0'; exit 0;; esac\n\
         echo 'pg_dump: error: connection to server at \"db-7.internal\" (10.1.2.3), port 6432 failed: FATAL:  role \"tenant_7\" does not exist' >&2; exit 1",
    );
    let (door, tab, _) = scram_tab(&["--pg-dump", refused.to_str().unwrap()]).await;
    let answer = tab.get("export").await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(answer.body["code"], "dump_failed");
    for leaked in ["db-7.internal", "10.1.2.3", "6432", "tenant_7"] {
        assert!(!answer.body.to_string().contains(leaked), "{leaked} shown: {}", answer.body);
    }
    assert!(answer.body["error"].as_str().unwrap().contains("could not connect to the database"), "{}", answer.body);
    assert!(door.logs().contains("db-7.internal"), "the log lacks pg_dump's message");
}

#[tokio::test]
async fn a_dump_failing_midway_ends_the_download_visibly() {
    let broken = fake_pg_dump(
        "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 99.0'; exit 0;; esac\n\
         head -c 300000 /dev/urandom; echo 'pg_dump: error: connection lost' >&2; exit 1",
    );
    let (_door, tab, _) = scram_tab(&["--pg-dump", broken.to_str().unwrap()]).await;
    let response = dump_request(&tab, "").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "a failed dump must not look complete");
    assert_eq!(tab.query("SELECT 'still usable'").await.scalar(), "still usable");
}

#[tokio::test]
async fn a_missing_pg_dump_is_named_at_startup() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgdoor"))
        .args(["--url", "postgres://x@127.0.0.1/db", "--pg-dump", "/nonexistent/pg_dump"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--pg-dump") && stderr.contains("/nonexistent/pg_dump"), "{stderr}");
}
