//! Shared test helpers: real PostgreSQL clusters, certificates, and small
//! wrappers around the client.

pub mod backend;
pub mod certs;
pub mod door;
pub mod e2e;
pub mod pg;
pub mod scripted;

use std::collections::HashMap;
use std::path::Path;

use pgdoor_proxy::pg::{Collector, Config, Connection, Environment, Error, ResultSet, connect};
use serde_json::Value;

/// An environment with only the given variables, so the developer's own
/// `PGPASSWORD` or `~/.pgpass` never leak into a test.
#[derive(Default)]
pub struct TestEnv(pub HashMap<String, String>);

impl Environment for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn os_user(&self) -> Option<String> {
        Some("nobody_in_particular".into())
    }
    fn file_exists(&self, _: &Path) -> bool {
        false
    }
}

/// Parses with an empty environment.
pub fn config(url: &str) -> Config {
    Config::parse_with(url, &TestEnv::default()).unwrap_or_else(|e| panic!("bad test URL {url}: {e}"))
}

/// Connects with an empty environment.
pub async fn open(url: &str) -> Result<Connection, Error> {
    connect(&config(url)).await
}

/// Runs simple-protocol SQL and returns every result set.
pub async fn simple(conn: &mut Connection, sql: &str) -> Result<Vec<ResultSet>, Error> {
    let mut out = Collector::unbounded();
    conn.simple_query(sql, &mut out).await?;
    Ok(out.results)
}

/// Runs one statement with parameters and returns its rows.
pub async fn rows(conn: &mut Connection, sql: &str, params: &[Option<&str>]) -> Vec<Vec<Value>> {
    let mut out = Collector::unbounded();
    conn.query(sql, params, &mut out).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    out.into_last().rows
}

/// The single value of a one-row, one-column query.
pub async fn scalar(conn: &mut Connection, sql: &str) -> Value {
    rows(conn, sql, &[]).await.remove(0).remove(0)
}
