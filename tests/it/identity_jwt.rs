//! Verified identity (`--identity-jwt`): real tokens signed in the test with
//! keys openssl makes, a JWKS served over HTTP on 127.0.0.1, the example
//! connect backend recording what pgdoor tells it. A token that does not
//! verify reaches no backend and gets a page saying why; later requests must
//! still carry a token that verifies and names the same person.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door};
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "jwt-backend-token";
const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "pgdoor-test";
const HEADER: &str = "x-identity-token";

/// A signing key and its public half as a JWK.
struct Signer {
    alg: Algorithm,
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
    pem: Vec<u8>,
}

impl Signer {
    /// A fresh key made by openssl: `EC` (P-256), `RSA` (2048) or `ED25519`.
    fn new(kind: &str, kid: &str) -> Signer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let mut cmd = Command::new("openssl");
        cmd.args(["genpkey", "-algorithm", kind, "-out"]).arg(&path);
        match kind {
            "EC" => cmd.args(["-pkeyopt", "ec_paramgen_curve:P-256"]),
            "RSA" => cmd.args(["-pkeyopt", "rsa_keygen_bits:2048"]),
            _ => &mut cmd,
        };
        let out = cmd.output().expect("the identity tests make keys with openssl: apt-get install -y openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let pem = std::fs::read(&path).unwrap();
        let (alg, key) = match kind {
            "EC" => (Algorithm::ES256, EncodingKey::from_ec_pem(&pem).unwrap()),
            "RSA" => (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem).unwrap()),
            _ => (Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem).unwrap()),
        };
        let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Signer { alg, kid: kid.to_owned(), key, jwk, pem }
    }

    /// A token with these claims on top of valid defaults (an hour left).
    fn token(&self, claims: Value) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let mut all = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "email": "ann@example.com",
            "groups": ["analysts"], "iat": now, "exp": now + 3600,
        });
        for (k, v) in claims.as_object().unwrap() {
            all[k] = v.clone();
        }
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &all, &self.key).unwrap()
    }
}

/// A JWKS on 127.0.0.1:0 whose keys the test can change, counting fetches.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    hits: Arc<AtomicUsize>,
}

impl Jwks {
    async fn serve(keys: Vec<Jwk>) -> Jwks {
        let keys = Arc::new(Mutex::new(keys));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    axum::Json(JwkSet { keys: served.lock().unwrap().clone() })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Jwks { url, keys, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The example backend serving `db`, and pgdoor verifying tokens with `flags`.
fn start(flags: &[&str]) -> (Door, Backend) {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let backend = Backend::builder(TOKEN).resource("db", &c.url_in(&db, roles::TRUST, None, "sslmode=disable")).start();
    let mut args = vec!["--sessions", "--connect-backend", backend.url.as_str(), "--connect-rate", "1000"];
    args.extend_from_slice(flags);
    let door = Door::start_with_env(&args, &[("PGDOOR_CONNECT_TOKEN", TOKEN)]);
    (door, backend)
}

fn verifying(jwks: &Jwks) -> Vec<&str> {
    vec!["--identity-jwt", HEADER, "--jwks-url", jwks.url.as_str(), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE]
}

/// `/connect` with the token in `header`: the status and the page.
async fn connect(tab: &mut Browser, header: &str, value: &str) -> (u16, String) {
    let response = tab.connect("db", &[(header, value)]).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_valid_token_opens_the_session_and_every_later_request_must_still_prove_it() {
    let ec = Signer::new("EC", "ec-1");
    let jwks = Jwks::serve(vec![ec.jwk.clone()]).await;
    let mut flags = verifying(&jwks);
    flags.push("--log-forwarded-user");
    let (door, backend) = start(&flags);
    let mut tab = Browser::new(&door.base);
    // A forged plain header beside the token counts for nothing.
    let response =
        tab.connect("db", &[(HEADER, &ec.token(json!({}))), ("x-forwarded-email", "mallory@example.com")]).await;
    assert_eq!(response.status(), 302);
    // The backend learns what was verified; `headers` is not sent (none configured).
    let asked: Value = serde_json::from_str(backend.requests()[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        asked["identity"],
        json!({"verified": true, "issuer": ISSUER, "subject": "user-1", "email": "ann@example.com", "groups": ["analysts"]})
    );
    assert!(asked.get("headers").is_none());
    assert_eq!(tab.query("SELECT 1").await.status, 200, "the gateway keeps sending the token");

    // Without the token, or with another person's valid token: refused.
    tab.gateway.clear();
    let bare = tab.query("SELECT 1").await;
    assert_eq!(bare.status, 401);
    assert_eq!(bare.body["code"], "identity_missing");
    let bob = ec.token(json!({"email": "bob@example.com", "sub": "user-2"}));
    tab.gateway = vec![(HEADER.to_owned(), bob)];
    let other = tab.query("SELECT 1").await;
    assert_eq!(other.status, 403);
    assert_eq!(other.body["code"], "other_identity");
    // The access log names the verified identity, never the forged header.
    let logs = door.logs();
    assert!(logs.contains("ann@example.com"), "{logs}");
    assert!(!logs.contains("mallory"), "{logs}");
}

#[tokio::test]
async fn each_bad_token_gets_a_page_saying_why_and_reaches_no_backend() {
    let ec = Signer::new("EC", "ec-1");
    let rsa = Signer::new("RSA", "rsa-1");
    let jwks = Jwks::serve(vec![ec.jwk.clone(), rsa.jwk.clone()]).await;
    let (door, backend) = start(&verifying(&jwks));
    let now = jsonwebtoken::get_current_timestamp();
    let b64 = |v: Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "email": "ann@example.com", "exp": now + 3600});
    let none = format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), b64(claims.clone()));
    // HS256 keyed with the RSA public key: what a verifier that trusts the token's alg would accept.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".into());
    let public_pem = {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("k.pem");
        std::fs::write(&private, &rsa.pem).unwrap();
        public_key_pem(&private)
    };
    let hs256 = jsonwebtoken::encode(&hs_header, &claims, &EncodingKey::from_secret(&public_pem).unwrap()).unwrap();
    let mut forged = ec.token(json!({})).into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let cases = [
        ("no token", String::new(), "no identity token"),
        ("garbage", "not-a-jwt".to_owned(), "malformed"),
        ("expired", ec.token(json!({"exp": now - 60})), "expired"),
        ("not yet valid", ec.token(json!({"nbf": now + 600})), "not valid yet"),
        ("wrong issuer", ec.token(json!({"iss": "https://evil.test"})), "another issuer"),
        ("wrong audience", ec.token(json!({"aud": "another-app"})), "another application"),
        ("no email", ec.token(json!({"email": null})), "no \"email\" claim"),
        ("alg none", none, "malformed"),
        ("HS256 with the public key", hs256, "HS256, which pgdoor does not accept"),
        ("bad signature", String::from_utf8(forged).unwrap(), "signature is not valid"),
    ];
    for (what, token, why) in cases {
        let mut tab = Browser::new(&door.base);
        let (status, page) = connect(&mut tab, HEADER, &token).await;
        assert_eq!(status, 401, "{what}: {page}");
        assert!(page.contains(why), "{what}: the page says {why:?}: {page}");
        assert!(page.contains("Sign in again"), "{what}: {page}");
        assert!(tab.session.is_none());
    }
    assert!(backend.requests().is_empty(), "no bad token reached the backend");
    // Within a second of skew, the leeway (5 s) lets a just-expired token through.
    let mut tab = Browser::new(&door.base);
    assert_eq!(connect(&mut tab, HEADER, &rsa.token(json!({"exp": now - 1}))).await.0, 302, "RS256 within the leeway");
}

#[tokio::test]
async fn an_unknown_key_fetches_the_set_once_and_a_rotated_key_is_picked_up() {
    let old = Signer::new("EC", "old");
    let jwks = Jwks::serve(vec![old.jwk.clone()]).await;
    let (door, _backend) = start(&verifying(&jwks));
    let mut tab = Browser::new(&door.base);
    assert_eq!(connect(&mut tab, HEADER, &old.token(json!({}))).await.0, 302);
    assert_eq!(jwks.hits(), 1, "fetched once, on first use");

    // The gateway rotates: the new key is published, tokens name it.
    let new = Signer::new("ED25519", "new");
    jwks.keys.lock().unwrap().push(new.jwk.clone());
    let mut tab = Browser::new(&door.base);
    assert_eq!(connect(&mut tab, HEADER, &new.token(json!({}))).await.0, 302, "EdDSA, after a refresh");
    assert_eq!(jwks.hits(), 2, "the unknown kid fetched the set exactly once");

    // A key nobody published: one more fetch is not due within the minute.
    let stranger = Signer::new("EC", "stranger");
    for _ in 0..3 {
        let mut tab = Browser::new(&door.base);
        let (status, page) = connect(&mut tab, HEADER, &stranger.token(json!({}))).await;
        assert_eq!(status, 401);
        assert!(page.contains("unknown signing key (stranger)"), "{page}");
    }
    assert_eq!(jwks.hits(), 2, "unknown kids cannot make pgdoor hammer the JWKS");
}

#[tokio::test]
async fn each_preset_reads_its_gateways_header() {
    let ec = Signer::new("EC", "ec-1");
    let jwks = Jwks::serve(vec![ec.jwk.clone()]).await;
    let presets = [
        ("cloudflare-access", "https://acme.cloudflareaccess.com", "cf-access-jwt-assertion", false),
        ("google-iap", "https://cloud.google.com/iap", "x-goog-iap-jwt-assertion", false),
        ("pomerium", "db.example.com", "x-pomerium-jwt-assertion", false),
        ("oauth2-proxy", "https://accounts.example.com", "authorization", true),
    ];
    for (preset, issuer, header, bearer) in presets {
        let flags = [
            "--identity-jwt",
            preset,
            "--jwt-issuer",
            issuer,
            "--jwks-url",
            jwks.url.as_str(),
            "--jwt-audience",
            AUDIENCE,
            "--jwt-algorithms",
            "ES256",
        ];
        let (door, _backend) = start(&flags);
        let token = ec.token(json!({"iss": issuer}));
        let value = if bearer { format!("Bearer {token}") } else { token.clone() };
        let mut tab = Browser::new(&door.base);
        let (status, page) = connect(&mut tab, header, &value).await;
        assert_eq!(status, 302, "{preset}: {page}");
        let mut elsewhere = Browser::new(&door.base);
        assert_eq!(connect(&mut elsewhere, HEADER, &token).await.0, 401, "{preset} reads {header} only");
    }
}

#[tokio::test]
async fn the_example_backend_opens_a_resource_only_for_the_verified_people_it_lists() {
    let ec = Signer::new("EC", "ec-1");
    let jwks = Jwks::serve(vec![ec.jwk.clone()]).await;
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let backend = Backend::builder(TOKEN)
        .resources_toml(&format!(
            "[db]\ndatabase_url = \"{url}\"\nallow_groups = [\"support\"]\nallow_emails = [\"ann@example.com\"]\n"
        ))
        .require_verified()
        .start();
    let mut args = vec!["--sessions", "--connect-backend", backend.url.as_str(), "--connect-rate", "1000"];
    args.extend(verifying(&jwks));
    let door = Door::start_with_env(&args, &[("PGDOOR_CONNECT_TOKEN", TOKEN)]);
    for (claims, status) in [
        (json!({}), 302),
        (json!({"email": "bob@example.com", "groups": ["support"]}), 302),
        (json!({"email": "eve@example.com", "groups": ["sales"]}), 403),
    ] {
        let mut tab = Browser::new(&door.base);
        let (got, page) = connect(&mut tab, HEADER, &ec.token(claims.clone())).await;
        assert_eq!(got, status, "{claims}: {page}");
    }
    // Without --identity-jwt, pgdoor sends no verified identity: refused whatever the headers say.
    let plain = Door::start_with_env(
        &["--sessions", "--connect-backend", &backend.url, "--connect-headers", "X-Forwarded-Email"],
        &[("PGDOOR_CONNECT_TOKEN", TOKEN)],
    );
    let mut tab = Browser::new(&plain.base);
    assert_eq!(tab.connect("db", &[("x-forwarded-email", "ann@example.com")]).await.status(), 403);
}

#[test]
fn check_backend_verifies_a_token_and_prints_the_policy() {
    let ec = Signer::new("EC", "ec-1");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, serde_json::to_string(&JwkSet { keys: vec![ec.jwk.clone()] }).unwrap()).unwrap();
    let c = tls_cluster();
    let url = c.url_in("postgres", roles::TRUST, None, "sslmode=disable");
    let backend = Backend::builder(TOKEN)
        .resources_toml(&format!(
            "[db]\ndatabase_url = \"{url}\"\nstatement_timeout = \"30s\"\ndownloads = false\nenvironment = \"staging\"\n"
        ))
        .require_verified()
        .start();
    let run = |token: &str| {
        let file = dir.path().join("token");
        std::fs::write(&file, token).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pgdoor"))
            .args(["check-backend", "--connect-backend", &backend.url, "--identity-jwt", HEADER, "--jwks-file"])
            .arg(&keys)
            .args(["--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE, "--jwt"])
            .arg(&file)
            .arg("db")
            .env("PGDOOR_CONNECT_TOKEN", TOKEN)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&ec.token(json!({})));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Token:   verified: ann@example.com (issuer https://idp.test)"), "{stdout}");
    assert!(
        stdout.contains(r#""identity":{"email":"ann@example.com","groups":["analysts"]"#),
        "the backend is told: {stdout}"
    );
    assert!(stdout.contains("statement_timeout  30s"), "{stdout}");
    assert!(stdout.contains("downloads          false"), "{stdout}");
    assert!(stdout.contains("environment        staging"), "{stdout}");
    let now = jsonwebtoken::get_current_timestamp();
    let (code, _, stderr) = run(&ec.token(json!({"exp": now - 600})));
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");
}

#[test]
fn bad_flags_stop_startup_naming_the_flag() {
    let pgdoor = env!("CARGO_BIN_EXE_pgdoor");
    let custom = ["--identity-jwt", "x-token", "--jwt-audience", "a", "--jwt-issuer", "i"];
    let with = |extra: &[&'static str]| [&custom[..], extra].concat();
    for (flags, says) in [
        (vec!["--identity-jwt", "x-token", "--jwt-issuer", "i", "--jwks-url", "https://k/j"], "--jwt-audience"),
        (with(&["--jwks-url", "http://keys.example.com/"]), "https://"),
        (with(&["--jwks-file", "/nonexistent.json"]), "cannot read"),
        (vec!["--identity-jwt", "cloudflare-access", "--jwt-audience", "a"], "--jwt-issuer"),
        (with(&["--jwks-url", "https://k/j", "--jwt-algorithms", "HS256"]), "never accepted"),
    ] {
        let out = Command::new(pgdoor).args(["--url", "postgres://u@127.0.0.1:9/db"]).args(&flags).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{flags:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

/// The public half of a PEM private key, as PEM bytes.
fn public_key_pem(private: &Path) -> Vec<u8> {
    let out = Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(private).output().unwrap();
    assert!(out.status.success());
    out.stdout
}
