//! A runnable connect backend for pgdoor: pgweb's Connect Backend protocol
//! served from a resource map. See README.md beside this file; run it with
//! `cargo run --example connect-backend -- --token T --resource acme=postgres://...`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use pgdoor_resolver::ResourceMap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// An example connect backend: answers pgdoor's POST with the database URL of a resource.
#[derive(Debug, Parser)]
#[command(name = "pgdoor-connect-backend", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the first line printed says which).
    #[arg(long, default_value = "127.0.0.1:4567")]
    listen: SocketAddr,
    /// The API token pgdoor must send (pgdoor's --connect-token).
    #[arg(long, env = "CONNECT_BACKEND_TOKEN", hide_env_values = true)]
    token: String,
    /// A TOML resource map, the same format as pgdoor's file:// resolver.
    #[arg(long)]
    resources: Option<PathBuf>,
    /// A resource given inline, NAME=DATABASE_URL (repeatable).
    #[arg(long = "resource", value_parser = parse_resource)]
    inline: Vec<(String, String)>,
    /// Refuse (403) requests whose `headers` lack this header or have it empty, e.g. x-forwarded-email.
    #[arg(long)]
    require_header: Option<String>,
    /// Refuse (403) requests without an `identity` pgdoor verified (its --identity-jwt).
    /// A resource table may also list `allow_emails` and `allow_groups`: only a verified
    /// identity with one of those emails or groups gets it (the lists are not sent back).
    #[arg(long)]
    require_verified: bool,
    /// Serve HTTPS with this certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Append every request received to this file, one JSON object per line.
    #[arg(long)]
    record: Option<PathBuf>,
}

fn parse_resource(s: &str) -> Result<(String, String), String> {
    let (name, url) = s.split_once('=').ok_or("expected NAME=DATABASE_URL")?;
    Ok((name.to_owned(), url.to_owned()))
}

struct Backend {
    token: String,
    resources: ResourceMap,
    require_header: Option<String>,
    require_verified: bool,
    record: Option<Mutex<std::fs::File>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut text = match &args.resources {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => String::new(),
    };
    for (name, url) in &args.inline {
        text.push_str(&format!("\n{} = {}\n", toml_string(name), toml_string(url)));
    }
    let resources = ResourceMap::parse(&text)?;
    let record = match &args.record {
        Some(path) => Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?)),
        None => None,
    };
    let backend = Arc::new(Backend {
        token: args.token.clone(),
        resources,
        require_header: args.require_header.as_ref().map(|h| h.to_ascii_lowercase()),
        require_verified: args.require_verified,
        record,
    });
    let app = Router::new().fallback(handle).with_state(backend);
    let tcp = TcpListener::bind(args.listen).await?;
    let addr = tcp.local_addr()?;
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = TlsAcceptor::from(Arc::new(server_tls(cert, key, args.client_ca.as_ref())?));
            println!("listening on https://{addr}");
            axum::serve(TlsListener { tcp, acceptor }, app).await?;
        }
        _ => {
            println!("listening on http://{addr}");
            axum::serve(tcp, app).await?;
        }
    }
    Ok(())
}

/// Quotes a string for TOML.
fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

async fn handle(
    State(backend): State<Arc<Backend>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    backend.record(&method, &uri, &headers, &body);
    if method != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body must be JSON");
    };
    let token = request.get("token").and_then(Value::as_str).unwrap_or_default();
    if !bool::from(token.as_bytes().ct_eq(backend.token.as_bytes())) {
        return error(StatusCode::UNAUTHORIZED, "invalid token");
    }
    if let Some(name) = &backend.require_header {
        let value = request.get("headers").and_then(|h| h.get(name)).and_then(Value::as_str).unwrap_or_default();
        if value.is_empty() {
            return error(StatusCode::FORBIDDEN, &format!("header {name} is required"));
        }
    }
    // Only an identity pgdoor verified counts; `headers` could say anything.
    let verified = request.get("identity").filter(|who| who.get("verified") == Some(&Value::Bool(true)));
    if backend.require_verified && verified.is_none() {
        return error(StatusCode::FORBIDDEN, "a verified identity is required");
    }
    let resource = request.get("resource").and_then(Value::as_str).unwrap_or_default();
    let Some(answer) = backend.resources.answer(resource) else {
        return error(StatusCode::NOT_FOUND, "unknown resource");
    };
    if !allowed(answer, verified) {
        return error(StatusCode::FORBIDDEN, "this identity may not open this resource");
    }
    let mut answer = answer.clone();
    answer.retain(|field, _| !field.starts_with("allow_"));
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// A resource with `allow_emails` or `allow_groups` is for a verified
/// identity with one of those emails or groups; one without is for anyone.
fn allowed(answer: &serde_json::Map<String, Value>, verified: Option<&Value>) -> bool {
    let list = |field: &str| answer.get(field).and_then(Value::as_array);
    let (emails, groups) = (list("allow_emails"), list("allow_groups"));
    if emails.is_none() && groups.is_none() {
        return true;
    }
    let Some(who) = verified else { return false };
    let email = who.get("email").filter(|e| e.is_string());
    let in_emails = emails.is_some_and(|emails| email.is_some_and(|e| emails.contains(e)));
    let theirs = who.get("groups").and_then(Value::as_array);
    let in_groups = groups.is_some_and(|groups| theirs.is_some_and(|t| t.iter().any(|g| groups.contains(g))));
    in_emails || in_groups
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

impl Backend {
    fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
        let Some(file) = &self.record else { return };
        let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let line = json!({
            "method": method.as_str(),
            "path": uri.path(),
            "content_type": header(header::CONTENT_TYPE),
            "user_agent": header(header::USER_AGENT),
            "body": String::from_utf8_lossy(body),
        });
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(file, "{line}");
    }
}

fn server_tls(
    cert: &PathBuf,
    key: &PathBuf,
    client_ca: Option<&PathBuf>,
) -> Result<rustls::ServerConfig, Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(CertificateDer::pem_file_iter(ca)?.collect::<Result<Vec<_>, _>>()?);
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(chain, key)?)
}

/// Accepts TCP connections and completes the TLS handshake before handing them to axum.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(e) => eprintln!("TLS handshake with {addr} failed: {e}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
