use std::collections::HashMap;

use super::*;

/// A test environment: a few variables and an OS user, no files.
#[derive(Default)]
struct Env(HashMap<&'static str, &'static str>);

impl Environment for Env {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.to_string())
    }
    fn os_user(&self) -> Option<String> {
        Some("osuser".into())
    }
    fn file_exists(&self, _: &Path) -> bool {
        false
    }
}

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse_with(s, &Env::default())
}

fn password(c: &Config) -> Option<&str> {
    c.password.as_ref().map(|p| p.expose_secret())
}

#[test]
fn url_with_every_part() {
    let c = parse("postgres://alice:s%40cret@db.example.com:6543/shop?sslmode=require&application_name=door").unwrap();
    assert_eq!(c.host, Host::Tcp("db.example.com".into()));
    assert_eq!(c.port, 6543);
    assert_eq!(c.user, "alice");
    assert_eq!(password(&c), Some("s@cret"));
    assert_eq!(c.dbname, "shop");
    assert_eq!(c.sslmode, SslMode::Require);
    assert_eq!(c.application_name.as_deref(), Some("door"));
}

#[test]
fn postgresql_scheme_and_percent_encoded_names() {
    let c = parse("postgresql://us%20er@h/d%C3%A9mo%2Fx").unwrap();
    assert_eq!(c.user, "us er");
    assert_eq!(c.dbname, "démo/x");
}

#[test]
fn ipv6_literal() {
    let c = parse("postgres://u@[::1]:5433/db").unwrap();
    assert_eq!(c.host, Host::Tcp("::1".into()));
    assert_eq!(c.port, 5433);
}

#[test]
fn unix_socket_directory_in_query_or_encoded_host() {
    let c = parse("postgres:///db?host=/var/run/postgresql&port=5433").unwrap();
    assert_eq!(c.host, Host::Unix("/var/run/postgresql".into()));
    assert_eq!(c.port, 5433);
    assert_eq!(c.dbname, "db");
    let c = parse("postgres://%2Ftmp%2Fpg/db").unwrap();
    assert_eq!(c.host, Host::Unix("/tmp/pg".into()));
}

#[test]
fn query_parameters_win_over_url_parts() {
    let c = parse("postgres://u@h/db?user=other&dbname=second").unwrap();
    assert_eq!(c.user, "other");
    assert_eq!(c.dbname, "second");
}

#[test]
fn keyword_value_form_with_quotes_and_escapes() {
    let c =
        parse("host=localhost port = 5433 user=bob password='it\\'s a secret' dbname=app options='-c work_mem=64MB'")
            .unwrap();
    assert_eq!(c.host, Host::Tcp("localhost".into()));
    assert_eq!(c.port, 5433);
    assert_eq!(c.user, "bob");
    assert_eq!(password(&c), Some("it's a secret"));
    assert_eq!(c.options.as_deref(), Some("-c work_mem=64MB"));
}

#[test]
fn libpq_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.host, Host::Tcp("localhost".into()));
    assert_eq!(c.port, 5432);
    assert_eq!(c.user, "osuser");
    assert_eq!(c.dbname, "osuser");
    assert_eq!(c.sslmode, SslMode::Prefer);
    assert_eq!(c.channel_binding, ChannelBinding::Prefer);
    assert!(c.password.is_none());
    assert_eq!(c.connect_timeout, None);
}

#[test]
fn environment_fills_what_the_string_lacks() {
    let env = Env(HashMap::from([
        ("PGUSER", "envuser"),
        ("PGPASSWORD", "envpw"),
        ("PGHOST", "envhost"),
        ("PGSSLMODE", "disable"),
    ]));
    let c = Config::parse_with("postgres:///appdb?host=given", &env).unwrap();
    assert_eq!(c.user, "envuser");
    assert_eq!(password(&c), Some("envpw"));
    assert_eq!(c.host, Host::Tcp("given".into()));
    assert_eq!(c.sslmode, SslMode::Disable);
    assert_eq!(c.dbname, "appdb");
}

#[test]
fn connect_timeout_follows_libpq() {
    assert_eq!(parse("connect_timeout=10").unwrap().connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(parse("connect_timeout=1").unwrap().connect_timeout, Some(Duration::from_secs(2)));
    assert_eq!(parse("connect_timeout=0").unwrap().connect_timeout, None);
    assert!(matches!(
        parse("connect_timeout=soon"),
        Err(ConfigError::InvalidValue { name, .. }) if name == "connect_timeout"
    ));
}

#[test]
fn errors_name_the_parameter() {
    let err = parse("postgres://u@h/db?sslmode=sometimes").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value for connection parameter \"sslmode\": \"sometimes\" (disable, allow, prefer, require, verify-ca or verify-full)"
    );
    let err = parse("postgres://u@h/db?target_session_attrs=any").unwrap_err();
    assert_eq!(err, ConfigError::UnknownParameter("target_session_attrs".into()));
    assert!(err.to_string().contains("\"target_session_attrs\""));
    assert!(matches!(parse("port=99999"), Err(ConfigError::InvalidValue { name, .. }) if name == "port"));
    assert!(
        matches!(parse("channel_binding=maybe"), Err(ConfigError::InvalidValue { name, .. }) if name == "channel_binding")
    );
}

#[test]
fn malformed_strings_are_rejected() {
    assert!(matches!(parse("host"), Err(ConfigError::Syntax(_))));
    assert!(matches!(parse("password='open"), Err(ConfigError::Syntax(_))));
    assert!(matches!(parse("mysql://u@h/db"), Err(ConfigError::InvalidUrl(_))));
    assert!(matches!(parse("postgres://u@h:port/db"), Err(ConfigError::InvalidUrl(_))));
    assert!(matches!(parse("postgres://u@a:1,b:2/db"), Err(ConfigError::MultipleHosts(_))));
    assert!(matches!(parse("host=a,b"), Err(ConfigError::MultipleHosts(_))));
}

#[test]
fn verifying_modes_need_roots_and_system_roots_need_verify_full() {
    assert_eq!(parse("sslmode=verify-full").unwrap_err(), ConfigError::MissingRootCert(SslMode::VerifyFull));
    assert_eq!(
        parse("sslmode=require sslrootcert=system").unwrap_err(),
        ConfigError::WeakSystemRoots(SslMode::Require)
    );
    let c = parse("sslmode=verify-full sslrootcert=system").unwrap();
    assert_eq!(c.sslrootcert, Some(RootCert::System));
    let c = parse("sslmode=verify-ca sslrootcert=/etc/ca.pem").unwrap();
    assert_eq!(c.sslrootcert, Some(RootCert::File("/etc/ca.pem".into())));
}

#[test]
fn password_never_shows_in_debug_or_display() {
    let c = parse("postgres://alice:hunter2@h/db").unwrap();
    let shown = format!("{c:?} {c}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert_eq!(c.to_string(), "alice:<redacted>@h:5432/db (sslmode=prefer)");
}

#[test]
fn a_spaced_password_is_never_quoted_back() {
    for s in ["user=bob password=open sesame dbname=app", "password=open se=same host=db", "password=a b"] {
        let err = parse(s).unwrap_err();
        assert_eq!(err, ConfigError::SpacedPassword, "{s}");
        for fragment in ["sesame", "se", "same", "b"] {
            assert!(!err.to_string().contains(&format!("\"{fragment}\"")), "{s}: {err}");
        }
    }
    // A parameter after an unquoted password is read as one.
    assert_eq!(parse("password=secret dbname=app").unwrap().dbname, "app");
    // A typo elsewhere is still named.
    assert_eq!(parse("sslmod=require").unwrap_err(), ConfigError::UnknownParameter("sslmod".into()));
}

/// Inputs the fuzzer found (tests/fuzz), kept so they stay handled.
#[test]
fn fuzz_findings_stay_fixed() {
    // A password ending in ':' right after the user: shown redacted.
    let c = parse("postgresql://I:I:@postgrespost\t").unwrap();
    assert_eq!(password(&c), Some("I:"));
    assert!(c.to_string().starts_with("I:<redacted>@"), "{c}");
}
