//! Drives the PostgreSQL client for `tests/bench/pg-client`:
//!
//! ```text
//! pgclient_bench select1 <url> <count>   # sequential SELECT 1, prints pgbench-style latency
//! pgclient_bench csv <url> <sql>         # streams the rows to stdout as CSV
//! pgclient_bench connect <url> <count> [pause-ms]   # sequential connects, prints the median in ms
//! ```

use std::future::{Future, ready};
use std::io::{BufWriter, Stdout};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pgdoor_proxy::pg::{Collector, Column, Completion, Config, Row, Sink, SinkError, connect};

/// Writes each row as an RFC 4180 record, buffered.
struct CsvOut(csv::Writer<BufWriter<Stdout>>);

impl Sink for CsvOut {
    fn columns(&mut self, _: &[Column]) -> impl Future<Output = Result<(), SinkError>> + Send {
        ready(Ok(()))
    }
    fn row(&mut self, row: &Row<'_>) -> impl Future<Output = Result<(), SinkError>> + Send {
        ready(self.0.write_record(row.values().map(|v| v.unwrap_or_default())).map_err(Into::into))
    }
    fn complete(&mut self, _: &Completion) -> impl Future<Output = Result<(), SinkError>> + Send {
        ready(Ok(()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (mode, url, arg, pause) = match args.as_slice() {
        [_, mode, url, arg] => (mode.as_str(), url, arg, Duration::ZERO),
        [_, mode, url, arg, pause] if mode == "connect" => {
            (mode.as_str(), url, arg, Duration::from_millis(pause.parse().unwrap_or(0)))
        }
        _ => {
            eprintln!(
                "usage: pgclient_bench select1 <url> <count> | csv <url> <sql> | connect <url> <count> [pause-ms]"
            );
            return ExitCode::from(64);
        }
    };
    let config: Config = match url.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    if mode == "connect" {
        let count: usize = arg.parse().unwrap_or(50);
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            tokio::time::sleep(pause).await;
            let started = Instant::now();
            match connect(&config).await {
                Ok(conn) => {
                    times.push(started.elapsed());
                    conn.close().await;
                }
                Err(e) => {
                    eprintln!("connect: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        times.sort();
        println!("connect median = {:.3} ms", times[count / 2].as_secs_f64() * 1000.0);
        return ExitCode::SUCCESS;
    }
    let mut conn = match connect(&config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match mode {
        "select1" => {
            let count: u32 = arg.parse().unwrap_or(20_000);
            let mut out = Collector::unbounded();
            let started = Instant::now();
            let mut result = Ok(());
            for _ in 0..count {
                out.results.clear();
                result = conn.simple_query("SELECT 1", &mut out).await;
                if result.is_err() {
                    break;
                }
            }
            let elapsed = started.elapsed().as_secs_f64();
            println!("latency average = {:.4} ms", elapsed * 1000.0 / f64::from(count));
            println!("tps = {:.1}", f64::from(count) / elapsed);
            result
        }
        "csv" => {
            let mut sink = CsvOut(csv::Writer::from_writer(BufWriter::with_capacity(256 * 1024, std::io::stdout())));
            let result = conn.simple_query(arg, &mut sink).await;
            let _ = sink.0.flush();
            result
        }
        other => {
            eprintln!("unknown mode {other}");
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("query: {e}");
            ExitCode::FAILURE
        }
    }
}
