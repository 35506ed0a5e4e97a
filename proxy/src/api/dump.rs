//! `GET /api/export`: a gzip-compressed SQL dump of the session's database
//! (or one table) made by `pg_dump`. The credentials reach pg_dump through
//! its environment only, never its command line; the newest pg_dump on the
//! machine is used, and one older than the server is refused up front with
//! what to install. The dump streams to the browser as pg_dump writes it, and
//! pg_dump is killed when the browser goes away.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::{OnceCell, mpsc};

use super::error::ApiError;
use super::{access, downloads};
use crate::app::App;
use crate::http::{Chunk, Request, Response};
use crate::rescue;
use crate::session::Session;

/// Bytes read from pg_dump per chunk.
const CHUNK: usize = 64 * 1024;

/// The most of pg_dump's stderr kept for an error message.
const STDERR_CAP: usize = 4096;

/// A pg_dump binary and its major version.
#[derive(Debug, Clone)]
struct PgDump {
    path: PathBuf,
    major: u32,
}

/// The pg_dump chosen for this process, looked up once.
static PG_DUMP: OnceCell<Option<PgDump>> = OnceCell::const_new();

/// Answers `/api/export[?table=...]`.
pub async fn export(app: &App, session: &Arc<Session>, request: &Request) -> Result<Response, ApiError> {
    let progress = downloads::claim(session, request)?;
    let configured = app.config.pg_dump.as_deref();
    let tool = PG_DUMP.get_or_init(|| find_pg_dump(configured)).await.clone().ok_or(ApiError::DumpUnavailable)?;
    let server = access::catalog(app, session, request, "SELECT current_setting('server_version_num')", &[])
        .await?
        .rows
        .first()
        .and_then(|row| row.first()?.as_str()?.parse::<u32>().ok())
        .map(|num| num / 10_000)
        .unwrap_or(0);
    if tool.major < server {
        return Err(ApiError::DumpTooOld { tool: tool.major, server });
    }
    let table = request.param("table").filter(|t| !t.trim().is_empty());
    if let Some(name) = table.as_deref().filter(|t| t.contains('\0')) {
        // No table has a NUL in its name (and no argument can carry one).
        return Err(ApiError::NoSuchTable(name.escape_debug().to_string()));
    }
    let config = access::resolve(app, session, request).await?.config;
    let mut command = Command::new(&tool.path);
    command
        .args(["--no-owner", "--clean", "--if-exists", "--compress=6", "--no-password"])
        .args(table.iter().map(|t| format!("--table={t}")))
        .env_clear()
        .envs(config.libpq_env())
        // Nothing of pgdoor's own account: no passfile, service file or certificates.
        .env("PGPASSFILE", "/dev/null")
        .env("PGSERVICEFILE", "/dev/null")
        .env("PGSYSCONFDIR", "/nonexistent")
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| ApiError::DumpFailed(format!("could not start pg_dump: {e}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // Read the first bytes before answering, so a dump that fails at once
    // (bad table, refused connection) gets a plain JSON error.
    let mut first = vec![0; CHUNK];
    let n = stdout.read(&mut first).await.unwrap_or(0);
    if n == 0 {
        let message = finish(&mut child).await.err().unwrap_or_else(|| "it wrote nothing".into());
        let show = app.config.show_server_address;
        return Err(match table {
            // A pattern that is no valid regular expression matches no table either.
            Some(table) if message.contains("no matching tables") || message.contains("invalid regular expression") => {
                ApiError::NoSuchTable(table)
            }
            // Failing at once with a table pattern, and not on the connection: the pattern is at fault.
            Some(table) if !message.contains("connection to server") => {
                ApiError::BadParam(format!("pg_dump cannot dump the table \"{table}\": {message}"))
            }
            _ => ApiError::DumpFailed(shown(message, show)),
        });
    }
    first.truncate(n);
    let (tx, rx) = mpsc::channel(4);
    let recorder = app.recorder();
    let statement = match &table {
        Some(table) => format!("pg_dump --table={table}"),
        None => "pg_dump".to_owned(),
    };
    let session = session.clone();
    let started = std::time::Instant::now();
    let show = app.config.show_server_address;
    tokio::spawn(async move {
        let mut chunk = Bytes::from(first);
        let mut sent = 0u64;
        // A failure is told to the download's page and cuts the file.
        let fail = |error: ApiError| {
            progress.failed(&error.to_string(), rescue::api_code(&error));
            tx.send(Chunk::Failed(Box::new(rescue::api(&error))))
        };
        loop {
            sent += chunk.len() as u64;
            recorder.metrics.exported(chunk.len());
            let len = chunk.len();
            if tx.send(Chunk::Data(chunk)).await.is_err() {
                // The browser left: kill_on_drop ends pg_dump.
                let message = format!("the download was abandoned after {sent} bytes");
                progress.failed(&message, "abandoned");
                recorder.record(&session.subject(), "dump", &statement, started.elapsed(), Err(message));
                return;
            }
            progress.sent(len);
            let mut buf = vec![0; CHUNK];
            match stdout.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    chunk = Bytes::from(buf);
                }
                Err(e) => {
                    let _ = fail(ApiError::DumpFailed(e.to_string())).await;
                    recorder.record(&session.subject(), "dump", &statement, started.elapsed(), Err(e.to_string()));
                    return;
                }
            }
        }
        let outcome = finish(&mut child).await;
        match &outcome {
            Ok(()) => progress.done(None),
            Err(message) => {
                let _ = fail(ApiError::DumpFailed(shown(message.clone(), show))).await;
            }
        }
        recorder.record(&session.subject(), "dump", &statement, started.elapsed(), outcome.map(|()| None));
    });
    let filename = dump_filename(&config.dbname, table.as_deref(), OffsetDateTime::now_utc());
    Ok(Response::stream("application/gzip", rx)
        .header("content-disposition", format!("attachment; filename=\"{filename}\"")))
}

/// What a person is shown of pg_dump's error: a connection failure names the
/// server's host and port (and the role), so unless `show` (`--show-server-address`)
/// it goes to the log and the person reads a plain sentence.
fn shown(message: String, show: bool) -> String {
    if show || !message.contains("connection to server") {
        return message;
    }
    tracing::warn!(stderr = %message, "pg_dump could not connect");
    "it could not connect to the database; try again, and if it persists tell your administrator (pgdoor's log has pg_dump's message)".to_owned()
}

/// Waits for pg_dump; its stderr when it failed.
async fn finish(child: &mut Child) -> Result<(), String> {
    let mut stderr = Vec::new();
    if let Some(pipe) = child.stderr.as_mut() {
        let _ = pipe.take(STDERR_CAP as u64).read_to_end(&mut stderr).await;
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&stderr);
    let text = text.trim().trim_start_matches("pg_dump: ").replace("\npg_dump: ", "\n");
    Err(if text.is_empty() { format!("pg_dump exited with {status}") } else { text })
}

/// `<db>[_<table>]_<YYYYMMDD_HHMMSS>.sql.gz` with only word characters, as pgweb names it.
fn dump_filename(db: &str, table: Option<&str>, now: OffsetDateTime) -> String {
    let word = |s: &str| -> String {
        s.replace('.', "_").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
    };
    let stamp = now.format(format_description!("[year][month][day]_[hour][minute][second]")).unwrap_or_default();
    match table {
        Some(table) => format!("{}_{}_{stamp}.sql.gz", word(db), word(table)),
        None => format!("{}_{stamp}.sql.gz", word(db)),
    }
}

/// The configured pg_dump, or else the newest on `PATH` or under
/// `/usr/lib/postgresql/*/bin` (a newer pg_dump dumps older servers; an
/// older one cannot).
async fn find_pg_dump(configured: Option<&Path>) -> Option<PgDump> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = configured {
        candidates.push(path.to_owned());
    } else {
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("pg_dump")));
        }
        if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
            candidates.extend(versions.flatten().map(|entry| entry.path().join("bin/pg_dump")));
        }
    }
    let mut best: Option<PgDump> = None;
    for path in candidates.into_iter().filter(|p| p.is_file()) {
        if let Some(major) = version(&path).await
            && best.as_ref().is_none_or(|b| major > b.major)
        {
            best = Some(PgDump { path, major });
        }
    }
    best
}

/// The major version `pg_dump --version` reports ("pg_dump (PostgreSQL) 15.18 ...").
async fn version(path: &Path) -> Option<u32> {
    let out = Command::new(path).arg("--version").output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let number = text.split_whitespace().find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    number.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn filename_keeps_word_characters_only() {
        let now = datetime!(2026-11-28 04:05:06 UTC);
        assert_eq!(dump_filename("shop", None, now), "shop_20261128_040506.sql.gz");
        assert_eq!(
            dump_filename("my.db", Some("\"public\".\"Order Items\""), now),
            "my_db_public_OrderItems_20261128_040506.sql.gz"
        );
        assert_eq!(dump_filename("../etc", Some("a\"; rm -rf /"), now), "__etc_armrf_20261128_040506.sql.gz");
    }
}
