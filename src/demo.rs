//! `pgdoor demo`: a throwaway PostgreSQL cluster in a temporary directory
//! with a sample database, served by pgdoor through a file resolver with two
//! resources (one read-only), until Ctrl-C stops everything and removes the
//! directory. PostgreSQL listens only on a Unix socket inside that directory.

use std::io::{IsTerminal, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Parser;
use pgdoor_proxy::DoorConfig;
use pgdoor_proxy::pg::{self, Collector};

use crate::cli::{Cli, Command as Subcommand, DemoArgs};

/// The sample database.
const SAMPLE: &str = include_str!("demo.sql");

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// No initdb/pg_ctl/postgres on the machine.
    #[error(
        "pgdoor demo needs the PostgreSQL server programs (initdb, pg_ctl, postgres) and found none (--pg-bin, PATH, /usr/lib/postgresql/*/bin): install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)"
    )]
    NoPostgres,
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root, pgdoor demo starts PostgreSQL as the postgres user, and there is none: create it, or run the demo as an ordinary user"
    )]
    NoPostgresUser,
    /// A step failed.
    #[error("{step} failed: {detail}")]
    Step {
        /// What was being done.
        step: &'static str,
        /// Why it failed.
        detail: String,
    },
}

fn step(step: &'static str) -> impl Fn(String) -> DemoError {
    move |detail| DemoError::Step { step, detail }
}

/// Runs the demo until Ctrl-C.
pub fn run(args: &DemoArgs) -> ExitCode {
    match prepare(args) {
        Ok((cluster, config)) => {
            let result = pgdoor_proxy::run(config);
            drop(cluster);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pgdoor demo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            progress_done();
            eprintln!("pgdoor demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the cluster and loads the sample; returns it with pgdoor's settings.
fn prepare(args: &DemoArgs) -> Result<(Cluster, DoorConfig), DemoError> {
    let bin = match &args.pg_bin {
        Some(dir) => Some(dir.clone()).filter(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()),
        None => find_server_programs(),
    }
    .ok_or(DemoError::NoPostgres)?;
    let owner = server_owner()?;
    progress("creating a PostgreSQL cluster");
    let cluster = Cluster::create(&bin, owner.as_ref())?;
    progress("starting PostgreSQL");
    cluster.start()?;
    progress("loading the sample database (100,000 page views, a few hundred customers, products and orders)");
    cluster.load_sample()?;
    let resources = cluster.dir().join("resources.toml");
    let url = |label: &str, readonly: bool| {
        format!("database_url = \"{}\"\nlabel = \"{label}\"\nreadonly = {readonly}\n", cluster.conninfo("demo", "shop"))
    };
    std::fs::write(
        &resources,
        format!("[shop]\n{}\n[shop-readonly]\n{}", url("Demo shop", false), url("Demo shop (read-only)", true)),
    )
    .map_err(|e| step("writing the resources file")(e.to_string()))?;
    let port = args.listen.unwrap_or_else(|| free_port(8080));
    let argv = [
        "pgdoor".to_owned(),
        "serve".into(),
        "--bind".into(),
        args.bind.clone(),
        "--listen".into(),
        port.to_string(),
        "--sessions".into(),
        "--connect-backend".into(),
        format!("file://{}", resources.display()),
        "--grace-period".into(),
        "1".into(),
        "--drain-delay".into(),
        "0".into(),
    ];
    let parsed = Cli::try_parse_from(argv).map_err(|e| step("preparing pgdoor")(e.to_string()))?;
    let Some(Subcommand::Serve(serve_args)) = parsed.command else {
        return Err(step("preparing pgdoor")("the serve arguments did not parse as serve".into()));
    };
    let config = crate::config::door(&serve_args).map_err(|e| step("preparing pgdoor")(e.to_string()))?;
    let host = if args.bind.contains(':') { format!("[{}]", args.bind) } else { args.bind.clone() };
    let banner = format!(
        "pgdoor demo is ready. Open one of these in your browser:\n\n  \
         http://{host}:{port}/connect/shop            the sample shop, read and write\n  \
         http://{host}:{port}/connect/shop-readonly   the same database, read-only\n\n\
         Ctrl-C stops pgdoor and PostgreSQL and removes {}",
        cluster.dir().display()
    );
    announce_when_listening(format!("{host}:{port}"), banner);
    Ok((cluster, config))
}

/// Prints the links once pgdoor accepts connections on `addr`.
fn announce_when_listening(addr: String, banner: String) {
    progress("starting pgdoor");
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            if std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        progress_done();
        println!("{banner}");
        let _ = std::io::stdout().flush();
    });
}

/// The directory of initdb, pg_ctl and postgres: PATH first, then the newest
/// /usr/lib/postgresql/<version>/bin.
fn find_server_programs() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// The user PostgreSQL runs as: `None` for the current one; the `postgres`
/// user when running as root (PostgreSQL refuses to run as root).
fn server_owner() -> Result<Option<nix::unistd::User>, DemoError> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    nix::unistd::User::from_name("postgres").ok().flatten().map(Some).ok_or(DemoError::NoPostgresUser)
}

/// `preferred` when it is free, else any free port.
fn free_port(preferred: u16) -> u16 {
    TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(preferred)
}

/// A cluster in a temporary directory, stopped and removed when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    owner: Option<nix::unistd::User>,
    port: u16,
}

impl Cluster {
    fn create(bin: &Path, owner: Option<&nix::unistd::User>) -> Result<Cluster, DemoError> {
        let dir = tempfile::Builder::new()
            .prefix("pgdoor-demo.")
            .tempdir()
            .map_err(|e| step("creating a temporary directory")(e.to_string()))?;
        if let Some(user) = owner {
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid))
                .map_err(|e| step("handing the directory to the postgres user")(e.to_string()))?;
        }
        // Only the socket file is named by the port; any free number will do.
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(5432);
        let cluster = Cluster { dir, bin: bin.to_owned(), owner: owner.cloned(), port };
        let data = cluster.data();
        cluster.run(
            "initdb",
            Command::new(bin.join("initdb"))
                .args(["--username=postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "-D"])
                .arg(&data),
        )?;
        let conf = format!(
            "listen_addresses = ''\nunix_socket_directories = '{}'\nport = {port}\nfsync = off\nmax_connections = 50\n",
            cluster.dir().display()
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| step("configuring PostgreSQL")(e.to_string()))?;
        file.write_all(conf.as_bytes()).map_err(|e| step("configuring PostgreSQL")(e.to_string()))?;
        Ok(cluster)
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A key=value connection string over the cluster's socket.
    fn conninfo(&self, user: &str, dbname: &str) -> String {
        format!("host='{}' port={} user={user} dbname={dbname}", self.dir().display(), self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Runs a server program as the cluster's owner, in its own process group
    /// (so the terminal's Ctrl-C reaches pgdoor, which then stops the cluster).
    fn run(&self, what: &'static str, command: &mut Command) -> Result<(), DemoError> {
        if let Some(user) = &self.owner {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let out = command
            .process_group(0)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| step(what)(e.to_string()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(step(what)(stderr.lines().last().unwrap_or("no output").to_owned()))
    }

    fn start(&self) -> Result<(), DemoError> {
        let log = self.dir().join("postgresql.log");
        self.run(
            "starting PostgreSQL",
            Command::new(self.bin.join("pg_ctl")).args(["-w", "-D"]).arg(self.data()).arg("-l").arg(&log).arg("start"),
        )
    }

    fn load_sample(&self) -> Result<(), DemoError> {
        let admin = self.conninfo("postgres", "postgres");
        let demo = self.conninfo("demo", "shop");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| step("loading the sample")(e.to_string()))?;
        runtime.block_on(async {
            run_sql(&admin, "CREATE ROLE demo LOGIN").await?;
            run_sql(&admin, "CREATE DATABASE shop OWNER demo").await?;
            run_sql(&demo, SAMPLE).await
        })
    }
}

async fn run_sql(url: &str, sql: &str) -> Result<(), DemoError> {
    let load = step("loading the sample");
    let config = pg::Config::parse_with(url, &pg::Isolated).map_err(|e| load(e.to_string()))?;
    let mut conn = pg::connect(&config).await.map_err(|e| load(e.to_string()))?;
    conn.simple_query(sql, &mut Collector::new(pg::BinaryCodec::None, 0)).await.map_err(|e| load(e.to_string()))?;
    conn.close().await;
    Ok(())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = Command::new(self.bin.join("pg_ctl"));
        stop.args(["-m", "fast", "-w", "-D"]).arg(self.data()).arg("stop");
        let _ = self.run("stopping PostgreSQL", &mut stop);
    }
}

/// Shows what is being prepared: one line rewritten in a terminal, one line each otherwise.
fn progress(what: &str) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2Kpgdoor demo: {what}…");
    } else {
        let _ = writeln!(err, "pgdoor demo: {what}…");
    }
    let _ = err.flush();
}

/// Ends the progress line.
fn progress_done() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}
