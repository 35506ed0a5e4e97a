//! Connecting: every sslmode against TLS on and off, certificate checks,
//! every authentication method (with a wrong password each), channel
//! binding, client certificates, Unix sockets, timeouts and defaults.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use pgdoor_proxy::pg::{AuthMethod, Config, Error, Verification, connect};
use serde_json::json;

use crate::support::pg::{plain_cluster, roles, tls_cluster};
use crate::support::{TestEnv, open, scalar};

/// Asks the server itself whether this connection is encrypted.
async fn server_sees_tls(conn: &mut pgdoor_proxy::pg::Connection) -> bool {
    scalar(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await == json!(true)
}

#[tokio::test]
async fn every_sslmode_against_a_server_with_tls() {
    let c = tls_cluster();
    let (user, pw) = roles::SCRAM;
    let ca = c.certs.ca.display();
    let cases = [
        ("sslmode=disable".to_string(), false),
        ("sslmode=allow".to_string(), false),
        ("sslmode=prefer".to_string(), true),
        ("sslmode=require".to_string(), true),
        (format!("sslmode=verify-ca&sslrootcert={ca}"), true),
        (format!("sslmode=verify-full&sslrootcert={ca}&host=localhost"), true),
    ];
    for (params, want_tls) in cases {
        let mut conn = open(&c.url(user, Some(pw), &params)).await.unwrap_or_else(|e| panic!("{params}: {e}"));
        assert_eq!(conn.info().tls.is_some(), want_tls, "{params}");
        assert_eq!(server_sees_tls(&mut conn).await, want_tls, "{params}");
    }
}

#[tokio::test]
async fn every_sslmode_against_a_server_without_tls() {
    let c = plain_cluster();
    let (user, pw) = roles::SCRAM;
    let ca = c.certs.ca.display();
    for mode in ["disable", "allow", "prefer"] {
        let mut conn = open(&c.url(user, Some(pw), &format!("sslmode={mode}"))).await.unwrap();
        assert!(conn.info().tls.is_none(), "{mode}");
        assert!(!server_sees_tls(&mut conn).await, "{mode}");
    }
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = open(&c.url(user, Some(pw), &format!("sslmode={mode}&sslrootcert={ca}"))).await.err().unwrap();
        assert!(matches!(err, Error::TlsRefused(_)), "{mode}: {err}");
        assert_eq!(err.failed_step(), "TLS negotiation");
        assert!(err.to_string().contains(&format!("sslmode={mode} requires TLS")), "{err}");
    }
}

#[tokio::test]
async fn allow_moves_to_tls_when_the_server_refuses_plaintext() {
    let c = tls_cluster();
    let (user, pw) = roles::SSL_ONLY;
    let mut conn = open(&c.url(user, Some(pw), "sslmode=allow")).await.unwrap();
    assert!(server_sees_tls(&mut conn).await);
    let err = open(&c.url(user, Some(pw), "sslmode=disable")).await.err().unwrap();
    assert_eq!(err.code(), Some("28000"), "{err}");
}

#[tokio::test]
async fn verify_full_checks_the_ca_and_the_host_name() {
    let c = tls_cluster();
    let (user, pw) = roles::SCRAM;
    let (ca, other) = (c.certs.ca.display(), c.certs.other_ca.display());

    let conn =
        open(&c.url(user, Some(pw), &format!("sslmode=verify-full&sslrootcert={ca}&host=localhost"))).await.unwrap();
    assert_eq!(conn.info().tls.as_ref().unwrap().verification, Verification::Full);

    // The certificate names localhost only, not 127.0.0.1.
    let err = open(&c.url(user, Some(pw), &format!("sslmode=verify-full&sslrootcert={ca}"))).await.err().unwrap();
    assert!(matches!(err, Error::Certificate(_)), "{err}");
    assert!(err.to_string().contains("does not name the host"), "{err}");
    assert_eq!(err.failed_step(), "certificate verification");

    // verify-ca accepts the name mismatch but not an unknown CA.
    let conn = open(&c.url(user, Some(pw), &format!("sslmode=verify-ca&sslrootcert={ca}"))).await.unwrap();
    assert_eq!(conn.info().tls.as_ref().unwrap().verification, Verification::Chain);
    for mode in ["verify-ca", "verify-full"] {
        let url = c.url(user, Some(pw), &format!("sslmode={mode}&sslrootcert={other}&host=localhost"));
        let err = open(&url).await.err().unwrap();
        assert!(matches!(err, Error::Certificate(_)), "{mode}: {err}");
        assert!(err.to_string().contains("unknown issuer"), "{err}");
    }
    // As in libpq, require checks the chain when a root certificate is given.
    let err = open(&c.url(user, Some(pw), &format!("sslmode=require&sslrootcert={other}"))).await.err().unwrap();
    assert!(matches!(err, Error::Certificate(_)), "{err}");
    let conn = open(&c.url(user, Some(pw), "sslmode=require")).await.unwrap();
    assert_eq!(conn.info().tls.as_ref().unwrap().verification, Verification::None);
}

#[tokio::test]
async fn every_auth_method_with_right_and_wrong_passwords() {
    let c = tls_cluster();
    let ca = c.certs.ca.display();
    let tls = format!("sslmode=verify-full&sslrootcert={ca}&host=localhost");
    let cases = [
        (roles::PASSWORD, "sslmode=disable".to_string(), AuthMethod::Cleartext),
        (roles::MD5, "sslmode=disable".to_string(), AuthMethod::Md5),
        (roles::SCRAM, "sslmode=disable".to_string(), AuthMethod::ScramSha256),
        (roles::SCRAM, format!("{tls}&channel_binding=disable"), AuthMethod::ScramSha256),
        (roles::SCRAM, tls.clone(), AuthMethod::ScramSha256Plus),
        (roles::SSL_ONLY, tls.clone(), AuthMethod::ScramSha256Plus),
    ];
    for ((user, pw), params, method) in cases {
        let mut conn = open(&c.url(user, Some(pw), &params)).await.unwrap_or_else(|e| panic!("{user} {params}: {e}"));
        assert_eq!(conn.info().auth, method, "{user} {params}");
        assert_eq!(scalar(&mut conn, "SELECT current_user").await, json!(user));

        let err = open(&c.url(user, Some("wrong password"), &params)).await.err().unwrap();
        assert_eq!(err.code(), Some("28P01"), "{user} {params}: {err}");
        assert_eq!(err.failed_step(), "authentication");
        assert!(err.to_string().contains("password authentication failed"), "{err}");
    }
    let conn = open(&c.url(roles::TRUST, None, "sslmode=disable")).await.unwrap();
    assert_eq!(conn.info().auth, AuthMethod::Trust);
}

#[tokio::test]
async fn a_missing_password_is_a_clear_error() {
    let c = tls_cluster();
    let err = open(&c.url(roles::SCRAM.0, None, "sslmode=disable")).await.err().unwrap();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert!(err.to_string().contains("none was given"), "{err}");
}

#[tokio::test]
async fn channel_binding_require_refuses_every_unbound_method() {
    let c = tls_cluster();
    let ca = c.certs.ca.display();
    let bound = format!("sslmode=verify-full&sslrootcert={ca}&host=localhost&channel_binding=require");
    let conn = open(&c.url(roles::SCRAM.0, Some(roles::SCRAM.1), &bound)).await.unwrap();
    assert_eq!(conn.info().auth, AuthMethod::ScramSha256Plus);

    let refused = [
        (roles::SCRAM.0, Some(roles::SCRAM.1), "sslmode=disable&channel_binding=require"),
        (roles::MD5.0, Some(roles::MD5.1), "sslmode=require&channel_binding=require"),
        (roles::PASSWORD.0, Some(roles::PASSWORD.1), "sslmode=require&channel_binding=require"),
        (roles::TRUST, None, "sslmode=require&channel_binding=require"),
    ];
    for (user, pw, params) in refused {
        let err = open(&c.url(user, pw, params)).await.err().unwrap();
        assert!(matches!(err, Error::Auth(_)), "{user}: {err}");
        assert!(err.to_string().contains("channel_binding=require"), "{err}");
    }
}

#[tokio::test]
async fn client_certificate_authentication() {
    let c = tls_cluster();
    let (ca, cert, key) = (c.certs.ca.display(), c.certs.client_cert.display(), c.certs.client_key.display());
    let url = c.url(
        roles::CERT,
        None,
        &format!("sslmode=verify-full&sslrootcert={ca}&host=localhost&sslcert={cert}&sslkey={key}"),
    );
    let mut conn = open(&url).await.unwrap();
    assert_eq!(scalar(&mut conn, "SELECT current_user").await, json!(roles::CERT));

    let err = open(&c.url(roles::CERT, None, &format!("sslmode=verify-full&sslrootcert={ca}&host=localhost")))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some("28000"), "{err}");
}

#[tokio::test]
async fn unsupported_methods_say_so() {
    let c = tls_cluster();
    let err = open(&c.url(roles::GSS, None, "sslmode=disable")).await.err().unwrap();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert!(err.to_string().contains("GSSAPI"), "{err}");
    assert!(err.to_string().contains("does not support"), "{err}");
}

#[tokio::test]
async fn unix_socket_directory() {
    let c = tls_cluster();
    let url =
        format!("host={} port={} user={} dbname=postgres sslmode=prefer", c.socket_dir.display(), c.port, roles::TRUST);
    let mut conn = open(&url).await.unwrap();
    assert!(conn.info().address.ends_with(&format!(".s.PGSQL.{}", c.port)));
    assert!(conn.info().tls.is_none());
    // On a socket there is no client address.
    assert_eq!(scalar(&mut conn, "SELECT inet_client_addr() IS NULL").await, json!(true));
}

#[tokio::test]
async fn host_names_resolve_and_every_address_is_tried() {
    let c = tls_cluster();
    let url = format!("postgres://{}@localhost:{}/postgres?sslmode=disable", roles::TRUST, c.port);
    let mut conn = open(&url).await.unwrap();
    assert_eq!(scalar(&mut conn, "SELECT 1").await, json!(1));
}

#[tokio::test]
async fn each_early_failure_names_its_step() {
    let c = tls_cluster();
    let err = open("postgres://u@nonexistent.invalid/db").await.err().unwrap();
    assert_eq!(err.failed_step(), "DNS lookup", "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = open(&format!("postgres://u@127.0.0.1:{port}/db")).await.err().unwrap();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert_eq!(err.failed_step(), "TCP connection");

    let err =
        open(&c.url(roles::TRUST, None, "sslmode=disable").replace("/postgres?", "/nosuchdb?")).await.err().unwrap();
    assert_eq!(err.code(), Some("3D000"), "{err}");
    assert_eq!(err.failed_step(), "database");
}

#[tokio::test]
async fn connect_timeout_bounds_a_server_that_never_answers() {
    // A listener that never accepts: the kernel completes the TCP handshake,
    // then nothing ever answers the SSLRequest.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let err = open(&format!("postgres://u@127.0.0.1:{port}/db?connect_timeout=2")).await.err().unwrap();
    assert!(matches!(err, Error::ConnectTimeout(d) if d == Duration::from_secs(2)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    drop(silent);
}

#[tokio::test]
async fn password_from_the_passfile_and_the_environment() {
    let c = tls_cluster();
    let (user, pw) = roles::SCRAM;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "127.0.0.1:{}:postgres:{user}:{pw}", c.port).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let url = format!("postgres://{user}@127.0.0.1:{}/postgres?sslmode=disable", c.port);

    let env = TestEnv(HashMap::from([("PGPASSFILE".into(), file.path().display().to_string())]));
    let mut conn = connect(&Config::parse_with(&url, &env).unwrap()).await.unwrap();
    assert_eq!(scalar(&mut conn, "SELECT current_user").await, json!(user));

    let env = TestEnv(HashMap::from([("PGPASSWORD".into(), pw.to_string())]));
    connect(&Config::parse_with(&url, &env).unwrap()).await.unwrap();
}

#[tokio::test]
async fn application_name_and_options_reach_the_server() {
    let c = tls_cluster();
    let url =
        c.url(roles::TRUST, None, "sslmode=disable&application_name=door%20test&options=-c%20search_path%3Dpg_catalog");
    let mut conn = open(&url).await.unwrap();
    assert_eq!(scalar(&mut conn, "SHOW application_name").await, json!("door test"));
    assert_eq!(scalar(&mut conn, "SHOW search_path").await, json!("pg_catalog"));
    assert_eq!(conn.parameter("application_name"), Some("door test"));
    assert!(conn.parameter("server_version").unwrap().starts_with(char::is_numeric));
}
