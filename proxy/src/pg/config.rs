//! Connection strings: the URL form (`postgres://user:pw@host:5432/db?sslmode=require`)
//! and the `key=value` form, with libpq's defaults and environment variables.
//!
//! Parsing happens in two steps: the text becomes a list of `(key, value)`
//! pairs, then [`Config::from_pairs`] validates each one and fills in what is
//! missing from the environment (`PGHOST`, `PGUSER`, ...), the passfile and the
//! defaults. The environment is read through [`Environment`] so tests never
//! touch the process's own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::passfile;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address, connected over TCP.
    Tcp(String),
    /// A directory holding the server's Unix socket (`.s.PGSQL.<port>`).
    Unix(PathBuf),
}

impl Host {
    /// The name passfile entries are matched against (libpq uses `localhost` for sockets).
    fn passfile_name(&self) -> &str {
        match self {
            Host::Tcp(name) => name,
            Host::Unix(_) => "localhost",
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp(name) => f.write_str(name),
            Host::Unix(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// Plaintext first, TLS if the server rejects the plaintext attempt.
    Allow,
    /// TLS first, plaintext if the server does not offer TLS (the default).
    Prefer,
    /// TLS without certificate checks (unless a root certificate is present).
    Require,
    /// TLS with a certificate signed by a trusted CA.
    VerifyCa,
    /// TLS with a trusted certificate that also names the host.
    VerifyFull,
}

impl SslMode {
    const NAMES: [(&'static str, SslMode); 6] = [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(_, mode)| *mode == self).map(|(name, _)| *name).unwrap_or("prefer")
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::NAMES.iter().find(|(name, _)| *name == s).map(|(_, mode)| *mode).ok_or(())
    }
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    /// Never use channel binding.
    Disable,
    /// Use it when the server offers SCRAM-SHA-256-PLUS over TLS (the default).
    Prefer,
    /// Refuse any authentication without channel binding.
    Require,
}

impl ChannelBinding {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBinding::Disable => "disable",
            ChannelBinding::Prefer => "prefer",
            ChannelBinding::Require => "require",
        }
    }
}

impl FromStr for ChannelBinding {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "disable" => Ok(ChannelBinding::Disable),
            "prefer" => Ok(ChannelBinding::Prefer),
            "require" => Ok(ChannelBinding::Require),
            _ => Err(()),
        }
    }
}

/// The trust anchors for verifying the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// A parsed, validated connection string.
///
/// `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct Config {
    /// Server host or socket directory.
    pub host: Host,
    /// Server port (also names the Unix socket file).
    pub port: u16,
    /// Role to connect as.
    pub user: String,
    /// Password, when one is known.
    pub password: Option<SecretString>,
    /// Database name.
    pub dbname: String,
    /// TLS policy.
    pub sslmode: SslMode,
    /// Trust anchors; `None` means no verification is possible.
    pub sslrootcert: Option<RootCert>,
    /// Client certificate (PEM) for certificate authentication.
    pub sslcert: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    pub sslkey: Option<PathBuf>,
    /// SCRAM channel binding policy.
    pub channel_binding: ChannelBinding,
    /// `application_name` reported to the server.
    pub application_name: Option<String>,
    /// Limit on the whole connection setup; `None` waits forever.
    pub connect_timeout: Option<Duration>,
    /// Command-line options sent to the server (`-c work_mem=64MB`).
    pub options: Option<String>,
}

/// Why a connection string was rejected. Each message names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL could not be parsed at all.
    #[error("invalid connection URL: {0}")]
    InvalidUrl(String),
    /// A `key=value` string is malformed.
    #[error("invalid connection string: {0}")]
    Syntax(String),
    /// A parameter pgdoor does not know.
    #[error(
        "unknown connection parameter \"{0}\" (supported: host, port, user, password, dbname, sslmode, sslrootcert, sslcert, sslkey, channel_binding, application_name, connect_timeout, options)"
    )]
    UnknownParameter(String),
    /// A known parameter with a value that does not fit.
    #[error("invalid value for connection parameter \"{name}\": \"{value}\" ({expected})")]
    InvalidValue {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// Text after an unquoted password that is no parameter: most likely the
    /// rest of a password with a space in it, so none of it is quoted back.
    #[error(
        "the text after the password is not a connection parameter: a password with spaces must be quoted (password='…')"
    )]
    SpacedPassword,
    /// Several hosts (`host=a,b`) are not supported.
    #[error("several hosts in one connection string are not supported: \"{0}\"")]
    MultipleHosts(String),
    /// `sslrootcert=system` with an sslmode that would not check the host name.
    #[error(
        "sslrootcert=system needs sslmode=verify-full (it was \"{0}\"): the system trust store is only safe with host name checks"
    )]
    WeakSystemRoots(SslMode),
    /// A verifying sslmode with no trust anchors.
    #[error(
        "sslmode={0} needs trusted CA certificates: set sslrootcert to a PEM file, or sslrootcert=system for the OS trust store"
    )]
    MissingRootCert(SslMode),
}

/// Where defaults come from. The real process environment is [`OsEnvironment`];
/// tests supply a map.
pub trait Environment {
    /// The value of an environment variable, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
    /// The operating system user name.
    fn os_user(&self) -> Option<String>;
    /// Whether a file exists (used for the default certificate paths).
    fn file_exists(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// No environment at all: nothing is filled in from variables, the OS user,
/// a passfile or certificate files. For connection strings that must say
/// everything themselves (those from a credential backend).
pub struct Isolated;

impl Environment for Isolated {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn os_user(&self) -> Option<String> {
        None
    }
    fn file_exists(&self, _: &Path) -> bool {
        false
    }
}

/// The process environment.
pub struct OsEnvironment;

impl Environment for OsEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn os_user(&self) -> Option<String> {
        whoami::fallible::username().ok()
    }
}

/// The parameter names accepted, each with the environment variable libpq reads for it.
const PARAMETERS: [(&str, &str); 13] = [
    ("host", "PGHOST"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("dbname", "PGDATABASE"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("application_name", "PGAPPNAME"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("options", "PGOPTIONS"),
];

impl FromStr for Config {
    type Err = ConfigError;

    /// Parses with the process environment for defaults.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Config::parse_with(s, &OsEnvironment)
    }
}

impl Config {
    /// The libpq environment variables that make a libpq tool (pg_dump)
    /// connect exactly as this configuration does. The password is among
    /// them: hand these only to a child process, never to a command line.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let host = match &self.host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(dir) => dir.display().to_string(),
        };
        let mut env = vec![
            ("PGHOST", host),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", self.dbname.clone()),
            ("PGSSLMODE", self.sslmode.as_str().to_owned()),
            ("PGCHANNELBINDING", self.channel_binding.as_str().to_owned()),
        ];
        let optional = [
            ("PGPASSWORD", self.password.as_ref().map(|p| p.expose_secret().to_owned())),
            (
                "PGSSLROOTCERT",
                self.sslrootcert.as_ref().map(|root| match root {
                    RootCert::File(path) => path.display().to_string(),
                    RootCert::System => "system".to_owned(),
                }),
            ),
            ("PGSSLCERT", self.sslcert.as_ref().map(|p| p.display().to_string())),
            ("PGSSLKEY", self.sslkey.as_ref().map(|p| p.display().to_string())),
            ("PGAPPNAME", self.application_name.clone()),
            ("PGCONNECT_TIMEOUT", self.connect_timeout.map(|t| t.as_secs().max(1).to_string())),
            ("PGOPTIONS", self.options.clone()),
        ];
        env.extend(optional.into_iter().filter_map(|(name, value)| value.map(|v| (name, v))));
        env
    }

    /// Parses a URL or `key=value` connection string, taking defaults from `env`.
    pub fn parse_with(s: &str, env: &dyn Environment) -> Result<Self, ConfigError> {
        let trimmed = s.trim();
        let pairs = if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            url_pairs(trimmed)?
        } else if trimmed.contains("://") {
            return Err(ConfigError::InvalidUrl("the scheme must be postgres:// or postgresql://".into()));
        } else {
            keyword_pairs(trimmed)?
        };
        Config::from_pairs(pairs, env)
    }

    /// Validates `(key, value)` pairs (later pairs win) and fills in defaults.
    pub fn from_pairs(pairs: Vec<(String, String)>, env: &dyn Environment) -> Result<Self, ConfigError> {
        let mut given: [Option<String>; PARAMETERS.len()] = Default::default();
        for (key, value) in pairs {
            let index = PARAMETERS
                .iter()
                .position(|(name, _)| *name == key)
                .ok_or_else(|| ConfigError::UnknownParameter(key.clone()))?;
            given[index] = Some(value);
        }
        // A value in the string wins over the environment; empty means "not set", as in libpq.
        let get = |name: &str| -> Option<String> {
            let index = PARAMETERS.iter().position(|(n, _)| *n == name)?;
            given[index].clone().filter(|v| !v.is_empty()).or_else(|| env.var(PARAMETERS[index].1))
        };

        let host = match get("host") {
            Some(h) if h.contains(',') => return Err(ConfigError::MultipleHosts(h)),
            Some(h) if h.starts_with('/') => Host::Unix(PathBuf::from(h)),
            Some(h) => Host::Tcp(h),
            None => Host::Tcp("localhost".into()),
        };
        let port = match get("port") {
            Some(p) if p.contains(',') => return Err(ConfigError::MultipleHosts(p)),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| invalid("port", &p, "a number from 1 to 65535"))?,
            None => 5432,
        };
        let user = get("user").or_else(|| env.os_user()).unwrap_or_else(|| "postgres".into());
        let dbname = get("dbname").unwrap_or_else(|| user.clone());
        let sslmode = match get("sslmode") {
            Some(m) => m
                .parse()
                .map_err(|()| invalid("sslmode", &m, "disable, allow, prefer, require, verify-ca or verify-full"))?,
            None => SslMode::Prefer,
        };
        let channel_binding = match get("channel_binding") {
            Some(c) => c.parse().map_err(|()| invalid("channel_binding", &c, "disable, prefer or require"))?,
            None => ChannelBinding::Prefer,
        };
        let connect_timeout = match get("connect_timeout") {
            Some(t) => {
                let secs: i64 =
                    t.trim().parse().map_err(|_| invalid("connect_timeout", &t, "a whole number of seconds"))?;
                // libpq: zero or less waits forever, and one second is raised to two.
                (secs > 0).then(|| Duration::from_secs(secs.max(2) as u64))
            }
            None => None,
        };

        let home = env.var("HOME").map(PathBuf::from);
        let default_file = |name: &str| -> Option<PathBuf> {
            let path = home.as_ref()?.join(".postgresql").join(name);
            env.file_exists(&path).then_some(path)
        };
        let sslrootcert = match get("sslrootcert") {
            Some(s) if s == "system" => Some(RootCert::System),
            Some(s) => Some(RootCert::File(PathBuf::from(s))),
            None => default_file("root.crt").map(RootCert::File),
        };
        if sslrootcert == Some(RootCert::System) && sslmode != SslMode::VerifyFull {
            return Err(ConfigError::WeakSystemRoots(sslmode));
        }
        if sslrootcert.is_none() && sslmode >= SslMode::VerifyCa {
            return Err(ConfigError::MissingRootCert(sslmode));
        }
        let sslcert = get("sslcert").map(PathBuf::from).or_else(|| default_file("postgresql.crt"));
        let sslkey = get("sslkey").map(PathBuf::from).or_else(|| default_file("postgresql.key"));

        let mut config = Config {
            password: get("password").map(SecretString::from),
            host,
            port,
            user,
            dbname,
            sslmode,
            sslrootcert,
            sslcert,
            sslkey,
            channel_binding,
            application_name: get("application_name"),
            connect_timeout,
            options: get("options"),
        };
        if config.password.is_none() {
            let passfile = env.var("PGPASSFILE").map(PathBuf::from).or_else(|| home.map(|h| h.join(".pgpass")));
            if let Some(path) = passfile {
                config.password =
                    passfile::lookup(&path, config.host.passfile_name(), config.port, &config.dbname, &config.user)
                        .map(SecretString::from);
            }
        }
        Ok(config)
    }

    /// The password, for the authentication exchange only.
    pub(crate) fn password_bytes(&self) -> Option<&[u8]> {
        self.password.as_ref().map(|p| p.expose_secret().as_bytes())
    }
}

fn invalid(name: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue { name: name.into(), value: value.into(), expected }
}

/// Splits a `postgres://` URL into parameters. The query string's parameters
/// come last, so they win over the URL's parts, as in libpq.
fn url_pairs(s: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let authority = s.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
    let authority = authority.split(['/', '?']).next().unwrap_or_default();
    let hostport = authority.rsplit('@').next().unwrap_or_default();
    if hostport.contains(',') {
        return Err(ConfigError::MultipleHosts(hostport.into()));
    }
    let url = url::Url::parse(s).map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
    let decode = |part: &str| -> Result<String, ConfigError> {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ConfigError::InvalidUrl("percent-encoded text is not UTF-8".into()))
    };
    let mut pairs = Vec::new();
    if !url.username().is_empty() {
        pairs.push(("user".into(), decode(url.username())?));
    }
    if let Some(password) = url.password() {
        pairs.push(("password".into(), decode(password)?));
    }
    match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => pairs.push(("host".into(), decode(d)?)),
        Some(url::Host::Ipv4(ip)) => pairs.push(("host".into(), ip.to_string())),
        Some(url::Host::Ipv6(ip)) => pairs.push(("host".into(), ip.to_string())),
        _ => {}
    }
    if let Some(port) = url.port() {
        pairs.push(("port".into(), port.to_string()));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() {
        pairs.push(("dbname".into(), decode(path)?));
    }
    pairs.extend(url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())));
    Ok(pairs)
}

/// Splits a libpq `key=value` string: pairs separated by white space, values
/// optionally single-quoted, backslash escapes `\'` and `\\`.
fn keyword_pairs(s: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    // After an unquoted password, a word that is no parameter is part of it.
    let mut after_password = false;
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if after_password && !PARAMETERS.iter().any(|(name, _)| *name == key) {
            return Err(ConfigError::SpacedPassword);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConfigError::Syntax(format!(
                "missing \"=\" after \"{key}\" (expected key=value pairs or a postgres:// URL)"
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if_eq(&'\'').is_some();
        if quoted {
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or_else(|| unterminated(&key))?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(unterminated(&key)),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        after_password = key == "password" && !quoted;
        pairs.push((key, value));
    }
}

fn unterminated(key: &str) -> ConfigError {
    ConfigError::Syntax(format!("unterminated quoted value for \"{key}\""))
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field("channel_binding", &self.channel_binding)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("options", &self.options)
            .finish()
    }
}

/// A short, password-free description: `user@host:port/dbname (sslmode=...)`.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.password.is_some() { ":<redacted>" } else { "" };
        write!(f, "{}{secret}@{}:{}/{} (sslmode={})", self.user, self.host, self.port, self.dbname, self.sslmode)
    }
}

#[cfg(test)]
mod tests;
