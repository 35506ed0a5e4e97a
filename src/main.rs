//! The pgdoor binary: parse the command line, set up logging, run the subcommand.

#![forbid(unsafe_code)]

mod check;
mod check_backend;
mod cli;
mod config;
mod demo;
mod log_line;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LogFormat};

/// mimalloc: per request, glibc's malloc and free cost about a tenth of
/// pgdoor's CPU (measured with perf in `tests/bench/door`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for unusable flags or connection strings (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log_level, cli.log_format) {
        eprintln!("pgdoor: invalid --log-level \"{}\": {e}", cli.log_level);
        return ExitCode::from(EXIT_USAGE);
    }
    match cli.command {
        None => serve(&cli.serve),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::Check(args)) => block_on(check::run(args)),
        Some(Command::CheckBackend(args)) => block_on(check_backend::run(*args)),
        Some(Command::Demo(args)) => demo::run(&args),
    }
}

/// Runs a one-shot command on a fresh runtime (serving makes its own, in pingora).
fn block_on(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("pgdoor: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Validates the flags (exit 64 naming the flag) and runs the server.
fn serve(args: &cli::ServeArgs) -> ExitCode {
    let config = match config::door(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pgdoor: invalid configuration: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match pgdoor_proxy::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pgdoor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str, format: LogFormat) -> Result<(), tracing_subscriber::filter::ParseError> {
    // pingora prints whole requests (cookies, X-Session-ID, Authorization) at
    // debug and trace: it never gets below info, whatever the level asked for.
    let filter = EnvFilter::try_new(level)?.add_directive("pingora=info".parse()?);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| log_line::Escaped(std::io::stderr()))
        // Colours would be escaped like any other control character.
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
