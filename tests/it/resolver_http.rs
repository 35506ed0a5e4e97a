//! The HTTP(S) connect backend resolver against the example backend and a
//! scripted server: the exact request, every kind of answer, TLS and mTLS.

use std::time::{Duration, Instant};

use pgdoor_resolver::{Credential, HttpOptions, HttpResolver, ResolveError, ResolveRequest, Resolver};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::support::backend::Backend;
use crate::support::pg::tls_cluster;
use crate::support::scripted::Scripted;

const TOKEN: &str = "api-token-123";

fn options(url: &str) -> HttpOptions {
    HttpOptions {
        url: url.parse().unwrap(),
        token: SecretString::from(TOKEN),
        headers: vec![],
        timeout: Duration::from_secs(5),
        ca_file: None,
        client_cert: None,
    }
}

async fn resolve(options: HttpOptions, request: &ResolveRequest) -> Result<Credential, ResolveError> {
    HttpResolver::new(options).unwrap().resolve(request).await
}

fn gateway_request(resource: &str, names: &[String]) -> ResolveRequest {
    // As set by the SSO gateway: mixed-case names, a value whose case must survive.
    let sent = [("X-Forwarded-Email", "Ann.Lee@Example.COM"), ("X-Forwarded-Groups", "admins, devs")];
    ResolveRequest::with_headers(resource, names, |name| {
        sent.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_string())
    })
}

#[tokio::test]
async fn sends_exactly_the_seed_protocol() {
    let backend = Backend::builder(TOKEN).resource("acme", "postgres://acme@db/acme").start();
    let mut opts = options(&backend.url);
    opts.headers = vec!["x-forwarded-email".into(), "x-forwarded-user".into(), "x-forwarded-groups".into()];
    let credential = resolve(
        opts,
        &gateway_request("acme", &["X-Forwarded-Email".into(), "X-Forwarded-User".into(), "X-Forwarded-Groups".into()]),
    )
    .await
    .unwrap();
    assert_eq!(credential.database_url.expose_secret(), "postgres://acme@db/acme");

    let requests = backend.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/connect");
    assert_eq!(request["content_type"], "application/json");
    assert_eq!(request["user_agent"], concat!("pgdoor/", env!("CARGO_PKG_VERSION")));
    let body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "resource": "acme",
            "token": TOKEN,
            "headers": {
                "x-forwarded-email": "Ann.Lee@Example.COM",
                "x-forwarded-user": "",
                "x-forwarded-groups": "admins, devs"
            }
        })
    );
}

#[tokio::test]
async fn no_headers_key_without_connect_headers() {
    let backend = Backend::builder(TOKEN).resource("acme", "postgres://acme@db/acme").start();
    resolve(options(&backend.url), &gateway_request("acme", &[])).await.unwrap();
    let body: Value = serde_json::from_str(backend.requests()[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"resource": "acme", "token": TOKEN}));
}

#[tokio::test]
async fn optional_fields_are_read_and_extra_ones_ignored() {
    let backend = Backend::builder(TOKEN)
        .resources_toml(
            "[acme]\ndatabase_url = \"postgres://acme@db/acme\"\nreadonly = true\nlabel = \"Acme <prod>\"\n\
             expires_at = \"2999-12-31T23:59:59Z\"\nowner = \"team-a\"\n[acme.extra]\nnested = 1\n",
        )
        .start();
    let credential = resolve(options(&backend.url), &ResolveRequest::new("acme")).await.unwrap();
    assert!(credential.readonly);
    assert_eq!(credential.label.as_deref(), Some("Acme <prod>"));
    assert_eq!(credential.expires_at.unwrap().year(), 2999);
}

#[tokio::test]
async fn refusals_carry_the_backend_status() {
    let backend =
        Backend::builder(TOKEN).resource("acme", "postgres://acme@db/acme").require_header("x-forwarded-email").start();
    let mut opts = options(&backend.url);
    opts.headers = vec!["x-forwarded-email".into()];

    let err = resolve(opts.clone(), &ResolveRequest::with_headers("nope", &opts.headers, |_| Some("a@b".into())))
        .await
        .unwrap_err();
    assert_eq!(err, ResolveError::Refused { status: Some(404), reason: "HTTP 404: unknown resource".into() });
    assert!(err.is_not_found());

    let err = resolve(opts.clone(), &ResolveRequest::with_headers("acme", &opts.headers, |_| None)).await.unwrap_err();
    assert!(matches!(err, ResolveError::Refused { status: Some(403), .. }), "{err}");
    assert!(err.to_string().contains("header x-forwarded-email is required"), "{err}");

    let mut wrong = opts.clone();
    wrong.token = SecretString::from("not-the-token");
    let err =
        resolve(wrong, &ResolveRequest::with_headers("acme", &opts.headers, |_| Some("a@b".into()))).await.unwrap_err();
    assert_eq!(err, ResolveError::Refused { status: Some(401), reason: "HTTP 401: invalid token".into() });

    let failing = Scripted::start("500 Internal Server Error", "", "oops", Duration::ZERO);
    let err = resolve(options(&failing.url), &ResolveRequest::new("acme")).await.unwrap_err();
    assert_eq!(err, ResolveError::Refused { status: Some(500), reason: "HTTP 500".into() });
}

#[tokio::test]
async fn a_slow_backend_times_out() {
    let slow = Scripted::start("200 OK", "", "{\"database_url\":\"postgres://x@y/z\"}", Duration::from_secs(4));
    let mut opts = options(&slow.url);
    opts.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = resolve(opts, &ResolveRequest::new("acme")).await.unwrap_err();
    assert_eq!(err, ResolveError::TimedOut(Duration::from_secs(1)));
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let err = resolve(options(&url), &ResolveRequest::new("acme")).await.unwrap_err();
    assert!(matches!(&err, ResolveError::Unreachable(m) if m.contains("Connection refused")), "{err}");
}

#[tokio::test]
async fn a_password_in_the_backend_url_is_never_shown() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://pgdoor:b4ckend-pw@{}/connect", closed.local_addr().unwrap());
    drop(closed);
    let resolver = HttpResolver::new(options(&url)).unwrap();
    let err = resolver.resolve(&ResolveRequest::new("acme")).await.unwrap_err().to_string();
    let described = resolver.describe_request(&ResolveRequest::new("acme"));
    for shown in [&err, &described] {
        assert!(!shown.contains("b4ckend-pw") && shown.contains("pgdoor:REDACTED@"), "{shown}");
    }
}

#[tokio::test]
async fn unusable_answers_are_invalid() {
    let cases = [
        ("this is not json", "the answer is not JSON"),
        ("[1, 2]", "the answer is not a JSON object"),
        ("{\"database_url\": \"\"}", "database_url is empty"),
        ("{\"other\": 1}", "database_url is missing"),
        ("{\"database_url\": \"postgres://x@y/z\", \"readonly\": \"yes\"}", "readonly must be true or false"),
    ];
    for (body, want) in cases {
        let server = Scripted::start("200 OK", "Content-Type: application/json\r\n", body, Duration::ZERO);
        let err = resolve(options(&server.url), &ResolveRequest::new("acme")).await.unwrap_err();
        assert!(matches!(&err, ResolveError::Invalid(m) if m.contains(want)), "{body}: {err}");
    }
}

#[tokio::test]
async fn an_oversized_answer_is_refused_with_or_without_a_length() {
    let big = format!("{{\"database_url\": \"postgres://x@y/z\", \"pad\": \"{}\"}}", "x".repeat(200_000));
    let declared = Scripted::start("200 OK", "", &big, Duration::ZERO);
    let err = resolve(options(&declared.url), &ResolveRequest::new("acme")).await.unwrap_err();
    assert!(matches!(&err, ResolveError::Invalid(m) if m.contains("larger than 65536 bytes")), "{err}");

    let chunked = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let streamed = Scripted::raw(chunked.into_bytes(), Duration::ZERO);
    let err = resolve(options(&streamed.url), &ResolveRequest::new("acme")).await.unwrap_err();
    assert!(matches!(&err, ResolveError::Invalid(m) if m.contains("larger than")), "{err}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Scripted::start("200 OK", "", "{\"database_url\": \"postgres://evil@y/z\"}", Duration::ZERO);
    let redirect = Scripted::start("302 Found", &format!("Location: {}\r\n", target.url), "", Duration::ZERO);
    let err = resolve(options(&redirect.url), &ResolveRequest::new("acme")).await.unwrap_err();
    assert!(matches!(err, ResolveError::Refused { status: Some(302), .. }), "{err}");
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn https_needs_a_trusted_ca() {
    let certs = &tls_cluster().certs;
    let backend = Backend::builder(TOKEN)
        .resource("acme", "postgres://acme@db/acme")
        .tls(&certs.server_cert, &certs.server_key)
        .start();
    let url = backend.url.replace("127.0.0.1", "localhost");
    assert!(url.starts_with("https://localhost:"));

    let err = resolve(options(&url), &ResolveRequest::new("acme")).await.unwrap_err();
    assert!(matches!(&err, ResolveError::Unreachable(m) if m.contains("UnknownIssuer")), "{err}");

    let mut trusted = options(&url);
    trusted.ca_file = Some(certs.ca.clone());
    let credential = resolve(trusted, &ResolveRequest::new("acme")).await.unwrap();
    assert_eq!(credential.database_url.expose_secret(), "postgres://acme@db/acme");
}

#[tokio::test]
async fn mutual_tls_when_the_backend_requires_it() {
    let certs = &tls_cluster().certs;
    let backend = Backend::builder(TOKEN)
        .resource("acme", "postgres://acme@db/acme")
        .tls(&certs.server_cert, &certs.server_key)
        .client_ca(&certs.ca)
        .start();
    let mut opts = options(&backend.url.replace("127.0.0.1", "localhost"));
    opts.ca_file = Some(certs.ca.clone());

    let err = resolve(opts.clone(), &ResolveRequest::new("acme")).await.unwrap_err();
    assert!(matches!(err, ResolveError::Unreachable(_)), "{err}");
    assert!(backend.requests().is_empty());

    opts.client_cert = Some((certs.client_cert.clone(), certs.client_key.clone()));
    resolve(opts, &ResolveRequest::new("acme")).await.unwrap();
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn a_missing_ca_file_is_a_startup_error() {
    let mut opts = options("https://localhost/");
    opts.ca_file = Some("/nonexistent/ca.pem".into());
    let err = HttpResolver::new(opts).err().unwrap();
    assert!(err.to_string().starts_with("--connect-ca /nonexistent/ca.pem"), "{err}");
}
