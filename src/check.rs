//! `pgdoor check`: connect with a connection string and report each step,
//! with the password redacted.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pgdoor_proxy::pg::{self, Collector, Config, Connection};
use serde_json::Value;

use crate::EXIT_USAGE;
use crate::cli::CheckArgs;

/// Exit code when connecting or the test query fails.
pub const EXIT_FAILED: u8 = 1;

/// How many `SELECT 1` round trips are timed; the median is shown.
const ROUND_TRIPS: usize = 5;

/// Runs the check, printing the report to stdout and a failure to stderr.
pub async fn run(args: CheckArgs) -> ExitCode {
    let config: Config = match args.database_url.parse() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pgdoor check: FAILED at connection string: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    report("check", &config, args.readonly).await
}

/// Connects, prints each step, and returns the exit code; shared with
/// `check-backend`. With `readonly`, each way the role could write is a warning.
pub async fn report(command: &str, config: &Config, readonly: bool) -> ExitCode {
    println!("Checking {config}");
    match check(config, readonly).await {
        Ok(()) => {
            println!("OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pgdoor {command}: FAILED at {}: {e}", e.failed_step());
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn check(config: &Config, readonly: bool) -> Result<(), pg::Error> {
    let mut conn = pg::connect(config).await?;
    let info = conn.info();
    println!("  connect    ok in {} to {}", ms(info.connect_time), info.address);
    match &info.tls {
        Some(tls) => println!("  tls        {} {}, certificate {}", tls.version, tls.cipher, tls.verification),
        None => println!("  tls        off (plaintext)"),
    }
    println!("  auth       {}", info.auth);
    let about = single_row(&mut conn, "SELECT version(), current_database(), current_user").await?;
    println!("  server     {}", about.first().map(text).unwrap_or_default());
    println!(
        "  database   {} as {}",
        about.get(1).map(text).unwrap_or_default(),
        about.get(2).map(text).unwrap_or_default()
    );
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        conn.simple_query("SELECT 1", &mut Collector::unbounded()).await?;
        times.push(started.elapsed());
    }
    times.sort();
    println!("  SELECT 1   {} round trip (median of {ROUND_TRIPS})", ms(times[ROUND_TRIPS / 2]));
    let mut found = Collector::unbounded();
    conn.query(WRITE_POWERS, &[], &mut found).await?;
    let powers: Vec<String> = found.into_last().rows.iter().filter_map(|row| row.first().map(text)).collect();
    match (powers.is_empty(), readonly) {
        (true, _) => {
            println!("  writes     none found: no superuser, write role, owned object, table or schema privilege")
        }
        (false, false) => powers.iter().for_each(|p| println!("  writes     {p}")),
        (false, true) => powers.iter().for_each(|p| println!("  WARNING    handed out read-only, but the role {p}")),
    }
    conn.close().await;
    Ok(())
}

/// Every way the current role could change data outside a read-only
/// transaction's reach, one sentence a row (empty when there is none).
const WRITE_POWERS: &str = "\
WITH me AS (SELECT oid, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
user_ns AS (SELECT oid, nspname FROM pg_catalog.pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%'
              AND nspname NOT LIKE 'pg\\_temp\\_%')
SELECT 'is a superuser' FROM me WHERE rolsuper
UNION ALL
SELECT 'is a member of ' || g.rolname || ' (' || CASE g.rolname
         WHEN 'pg_execute_server_program' THEN 'runs programs on the server'
         WHEN 'pg_write_server_files' THEN 'writes files on the server'
         ELSE 'writes every table' END || ')'
  FROM pg_catalog.pg_roles g, me
 WHERE g.rolname IN ('pg_execute_server_program', 'pg_write_server_files', 'pg_write_all_data')
   AND NOT me.rolsuper AND pg_catalog.pg_has_role(me.oid, g.oid, 'MEMBER')
UNION ALL
SELECT 'owns ' || count(*) || ' tables, views or sequences (e.g. ' || min(quote_ident(n.nspname) || '.' || quote_ident(c.relname)) || ')'
  FROM pg_catalog.pg_class c JOIN user_ns n ON n.oid = c.relnamespace, me
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND NOT me.rolsuper AND pg_catalog.pg_has_role(me.oid, c.relowner, 'USAGE')
HAVING count(*) > 0
UNION ALL
SELECT 'may INSERT, UPDATE, DELETE or TRUNCATE in ' || count(*) || ' tables (e.g. ' || min(quote_ident(n.nspname) || '.' || quote_ident(c.relname)) || ')'
  FROM pg_catalog.pg_class c JOIN user_ns n ON n.oid = c.relnamespace, me
 WHERE c.relkind IN ('r', 'p', 'v', 'f') AND NOT me.rolsuper
   AND pg_catalog.has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
HAVING count(*) > 0
UNION ALL
SELECT 'may CREATE in schema ' || string_agg(quote_ident(n.nspname), ', ' ORDER BY n.nspname)
  FROM user_ns n, me
 WHERE NOT me.rolsuper AND pg_catalog.has_schema_privilege(n.oid, 'CREATE')
HAVING count(*) > 0
UNION ALL
SELECT 'may reach other servers through ' || string_agg(extname, ' and ' ORDER BY extname) || ', which this database has installed'
  FROM pg_catalog.pg_extension WHERE extname IN ('dblink', 'postgres_fdw')
HAVING count(*) > 0";

async fn single_row(conn: &mut Connection, sql: &str) -> Result<Vec<Value>, pg::Error> {
    let mut rows = Collector::unbounded();
    conn.query(sql, &[], &mut rows).await?;
    Ok(rows.into_last().rows.into_iter().next().unwrap_or_default())
}

fn text(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
