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
    report("check", &config).await
}

/// Connects, prints each step, and returns the exit code; shared with `check-backend`.
pub async fn report(command: &str, config: &Config) -> ExitCode {
    println!("Checking {config}");
    match check(config).await {
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

async fn check(config: &Config) -> Result<(), pg::Error> {
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
    conn.close().await;
    Ok(())
}

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
