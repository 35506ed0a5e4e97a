//! Throwaway PostgreSQL clusters for the tests.
//!
//! Each test binary starts at most two clusters, on first use: one with TLS
//! on and one with TLS off. Both have one role per authentication method.
//! When the suite runs as root (CI does), the server runs as the `postgres`
//! user. A watchdog process stops the cluster and removes its directory once
//! the test process exits, so nothing is left behind.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::certs::CertFiles;

/// Role names and passwords; one role per pg_hba.conf method.
pub mod roles {
    pub const TRUST: &str = "trust_user";
    pub const PASSWORD: (&str, &str) = ("pw_user", "pw secret:@/");
    pub const MD5: (&str, &str) = ("md5_user", "md5_secret");
    pub const SCRAM: (&str, &str) = ("scram_user", "scram_secret");
    pub const SSL_ONLY: (&str, &str) = ("sslonly_user", "ssl_secret");
    pub const CERT: &str = "cert_user";
    pub const GSS: &str = "gss_user";
}

/// A running cluster.
pub struct Cluster {
    pub port: u16,
    pub socket_dir: PathBuf,
    pub certs: CertFiles,
    pub tls: bool,
    data_dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

static TLS: OnceLock<Cluster> = OnceLock::new();
static PLAIN: OnceLock<Cluster> = OnceLock::new();

/// The cluster with `ssl=on`.
pub fn tls_cluster() -> &'static Cluster {
    TLS.get_or_init(|| Cluster::start("tls", true))
}

/// The cluster with `ssl=off`.
pub fn plain_cluster() -> &'static Cluster {
    PLAIN.get_or_init(|| Cluster::start("plain", false))
}

/// A cluster of its own for a test that restarts it.
pub fn dedicated_cluster(name: &str) -> Cluster {
    Cluster::start(name, false)
}

/// The OS user the tests (and the pgdoor they start) run as.
pub fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().expect("the current user has a name").name
}

/// A cluster on `port` whose only role reachable over TCP is the OS user
/// (trust), as a developer's local PostgreSQL often is; `databases` are
/// created owned by it. Panics clearly when the port is taken.
pub fn os_user_cluster(port: u16, databases: &[&str]) -> Cluster {
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        panic!("port {port} is taken; this test needs it free (stop the PostgreSQL listening there)");
    }
    let me = os_user();
    let hba = format!("local all all trust\nhost all {me} 127.0.0.1/32 trust\nhost all {me} ::1/128 trust\n");
    let cluster = Cluster::start_with(&format!("osuser{port}"), false, &hba, Some(port));
    cluster.admin_sql(&format!("CREATE ROLE \"{me}\" LOGIN"));
    for db in databases {
        cluster.admin_sql(&format!("CREATE DATABASE {db} OWNER \"{me}\""));
    }
    cluster
}

impl Cluster {
    /// Restarts the server (fast shutdown: every connection is dropped).
    pub fn restart(&self) {
        let mut restart = Command::new(self.bin.join("pg_ctl"));
        restart
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "restart", "-l"])
            .arg(self.data_dir.join("server.log"));
        run(&mut as_user(restart, self.as_postgres));
    }

    fn start(name: &str, tls: bool) -> Cluster {
        let hba = format!(
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all {trust} 127.0.0.1/32 trust\n\
             host all {pw} 127.0.0.1/32 password\n\
             host all {md5} 127.0.0.1/32 md5\n\
             host all {scram} 127.0.0.1/32 scram-sha-256\n\
             hostssl all {ssl} 127.0.0.1/32 scram-sha-256\n\
             host all {ssl} 127.0.0.1/32 reject\n\
             hostssl all {cert} 127.0.0.1/32 cert\n\
             host all {gss} 127.0.0.1/32 gss\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
            trust = roles::TRUST,
            pw = roles::PASSWORD.0,
            md5 = roles::MD5.0,
            scram = roles::SCRAM.0,
            ssl = roles::SSL_ONLY.0,
            cert = roles::CERT,
            gss = roles::GSS,
        );
        let cluster = Cluster::start_with(name, tls, &hba, None);
        cluster.create_roles();
        cluster
    }

    /// Starts a cluster with this `pg_hba.conf`, on `port` or a free one.
    fn start_with(name: &str, tls: bool, hba: &str, port: Option<u16>) -> Cluster {
        let bin = find_server_binaries();
        let as_postgres = running_as_root();
        let base = std::env::temp_dir().join(format!("pgdoor-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let data_dir = base.join("data");
        let socket_dir = base.join("socket");
        std::fs::create_dir_all(&socket_dir).unwrap();
        let certs = CertFiles::generate(&base, roles::CERT);
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&base));
        }
        run(Command::new("chmod").arg("600").arg(&certs.server_key));
        spawn_watchdog(&base, &data_dir, &bin, as_postgres);

        let mut initdb = Command::new(bin.join("initdb"));
        initdb.arg("-D").arg(&data_dir).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"]);
        run(&mut as_user(initdb, as_postgres));

        std::fs::write(data_dir.join("pg_hba.conf"), hba).unwrap();

        let mut cluster = Cluster { port: 0, socket_dir, certs, tls, data_dir, bin, as_postgres };
        cluster.start_on_port(port);
        cluster
    }

    /// Starts on `port`, or picks a free one and retries when another
    /// process takes it first.
    fn start_on_port(&mut self, port: Option<u16>) {
        for _ in 0..5 {
            self.port = port.unwrap_or_else(free_port);
            let conf = format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{sock}'\n\
                 ssl = {ssl}\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\nssl_ca_file = '{ca}'\n\
                 password_encryption = 'scram-sha-256'\nfsync = off\nsynchronous_commit = off\n\
                 full_page_writes = off\nmax_connections = 200\n",
                port = self.port,
                sock = self.socket_dir.display(),
                ssl = if self.tls { "on" } else { "off" },
                cert = self.certs.server_cert.display(),
                key = self.certs.server_key.display(),
                ca = self.certs.ca.display(),
            );
            std::fs::write(self.data_dir.join("postgresql.auto.conf"), conf).unwrap();
            let log = self.data_dir.join("server.log");
            let mut start = Command::new(self.bin.join("pg_ctl"));
            start.arg("-D").arg(&self.data_dir).arg("-l").arg(&log).args(["-w", "-t", "60", "start"]);
            if as_user(start, self.as_postgres).stdout(Stdio::null()).status().unwrap().success() {
                return;
            }
            eprintln!("PostgreSQL did not start on port {}; retrying", self.port);
        }
        let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        panic!("PostgreSQL did not start; its log:\n{log}");
    }

    fn create_roles(&self) {
        let (pw, pw_pass) = roles::PASSWORD;
        let (md5, md5_pass) = roles::MD5;
        let (scram, scram_pass) = roles::SCRAM;
        let (ssl, ssl_pass) = roles::SSL_ONLY;
        self.admin_sql(&format!(
            "CREATE ROLE {trust} LOGIN;
             CREATE ROLE {cert} LOGIN;
             CREATE ROLE {gss} LOGIN;
             CREATE ROLE {pw} LOGIN PASSWORD '{pw_pass}';
             CREATE ROLE {scram} LOGIN PASSWORD '{scram_pass}';
             CREATE ROLE {ssl} LOGIN PASSWORD '{ssl_pass}';
             SET password_encryption = 'md5';
             CREATE ROLE {md5} LOGIN PASSWORD '{md5_pass}';",
            trust = roles::TRUST,
            cert = roles::CERT,
            gss = roles::GSS,
        ));
    }

    /// Runs SQL as the superuser through psql; panics with psql's output on failure.
    pub fn admin_sql(&self, sql: &str) -> String {
        self.admin_sql_in("postgres", sql)
    }

    /// Ends a server process and waits (up to 10 s) until it is gone, so
    /// what a client does next meets a dead connection, not a race with the signal.
    pub fn terminate(&self, pid: impl std::fmt::Display) {
        let gone = self.admin_sql(&format!("SELECT pg_terminate_backend({pid}, 10000)"));
        assert_eq!(gone, "t", "server process {pid} did not end within 10 s");
    }

    /// Ends every other server process in `database`, waiting as [`Cluster::terminate`] does.
    pub fn terminate_all_in(&self, database: &str) {
        let gone = self.admin_sql(&format!(
            "SELECT coalesce(bool_and(pg_terminate_backend(pid, 10000)), true) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ));
        assert_eq!(gone, "t", "the server processes in {database} did not end within 10 s");
    }

    /// A fresh database for one test, owned by `owner`.
    pub fn create_database(&self, owner: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.admin_sql(&format!("CREATE DATABASE {name} OWNER {owner}"));
        name
    }

    /// Runs SQL as the superuser in another database.
    pub fn admin_sql_in(&self, database: &str, sql: &str) -> String {
        let output = Command::new("psql")
            .arg(format!("host={} port={} user=postgres dbname={database}", self.socket_dir.display(), self.port))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql must be installed: apt-get install -y postgresql-client");
        assert!(output.status.success(), "psql failed: {}\n{sql}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Open connections to `database` (other than psql's own).
    pub fn connections_to(&self, database: &str) -> usize {
        self.admin_sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ))
        .parse()
        .unwrap()
    }

    /// A URL for `user` in `database`.
    pub fn url_in(&self, database: &str, user: &str, password: Option<&str>, params: &str) -> String {
        self.url(user, password, params).replacen("/postgres?", &format!("/{database}?"), 1)
    }

    /// A URL for `user` (with `password`) and extra query parameters.
    pub fn url(&self, user: &str, password: Option<&str>, params: &str) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{}", encode(p)),
            None => user.to_string(),
        };
        let sep = if params.is_empty() { "" } else { "&" };
        format!("postgres://{auth}@127.0.0.1:{}/postgres?connect_timeout=10{sep}{params}", self.port)
    }
}

/// Percent-encodes everything but unreserved characters, for passwords in URLs.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("the `id` command");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Wraps a command to run as the `postgres` user when we are root.
fn as_user(cmd: Command, as_postgres: bool) -> Command {
    if !as_postgres {
        return cmd;
    }
    let mut wrapped = Command::new("runuser");
    wrapped.args(["-u", "postgres", "--"]).arg(cmd.get_program()).args(cmd.get_args());
    wrapped
}

fn run(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then Debian's layout.
fn find_server_binaries() -> PathBuf {
    let on_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(|d| d.ok()).map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    debian.sort_by_key(|p| std::cmp::Reverse(version_of(p)));
    on_path
        .into_iter()
        .chain(debian)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin. \
                 Install them with: apt-get install -y postgresql"
            )
        })
}

fn version_of(bin: &Path) -> u32 {
    bin.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Starts a shell that waits for this process to end, then stops the cluster
/// and deletes its directory.
fn spawn_watchdog(base: &Path, data_dir: &Path, bin: &Path, as_postgres: bool) {
    let stop = format!(
        "{runas}{pg_ctl} -D '{data}' -m immediate stop",
        runas = if as_postgres { "runuser -u postgres -- " } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data_dir.display(),
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{base}'",
        pid = std::process::id(),
        base = base.display(),
    );
    // The subshell is backgrounded, so `sh` returns at once and the watchdog
    // lives on after this process.
    let launched = Command::new("sh")
        .args(["-c", &format!("({script}) &")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sh must exist");
    assert!(launched.success(), "cannot start the cluster watchdog");
}
