//! pgweb's Connect Backend protocol: `POST` the request as JSON to the
//! operator's API; only HTTP 200 with a non-empty `database_url` counts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use secrecy::SecretString;
use serde_json::Value;

use crate::credential::{Credential, redact_url};
use crate::error::{BuildError, ResolveError};
use crate::{ResolveRequest, Resolver};

/// The largest answer read from a backend; a credential is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The HTTP backend's settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Where to POST.
    pub url: url::Url,
    /// `--connect-token`, sent as `token`.
    pub token: SecretString,
    /// `--connect-headers`, lower-cased; `headers` is sent only when non-empty.
    pub headers: Vec<String>,
    /// Limit on the whole exchange.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM) besides the OS store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Asks an HTTP(S) connect backend. Holds one pooled client.
pub struct HttpResolver {
    options: HttpOptions,
    client: reqwest::Client,
    /// The URL as shown in errors and diagnostics, without any password in it.
    shown: String,
}

impl HttpResolver {
    /// Builds the client: rustls with the OS roots plus `ca_file`, no
    /// redirects, no proxy, a User-Agent naming pgdoor.
    pub fn new(options: HttpOptions) -> Result<Self, BuildError> {
        let tls = client_tls(&options)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(options.timeout)
            .user_agent(concat!("pgdoor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::Tls(format!("cannot build the HTTP client: {e}")))?;
        let shown = redact_url(options.url.as_str());
        Ok(HttpResolver { options, client, shown })
    }

    async fn exchange(&self, request: &ResolveRequest) -> Result<Credential, ResolveError> {
        let body = request.to_json(Some(&self.options.token), !self.options.headers.is_empty());
        let mut response = self
            .client
            .post(self.options.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let declared =
            response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_ANSWER_BYTES) {
            return Err(too_large());
        }
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(&e))? {
            answer.extend_from_slice(&chunk);
            if answer.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
        }
        if status != 200 {
            return Err(ResolveError::Refused { status: Some(status), reason: refusal_reason(status, &answer) });
        }
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| ResolveError::Invalid(format!("the answer is not JSON ({e})")))?;
        let object =
            answer.as_object().ok_or_else(|| ResolveError::Invalid("the answer is not a JSON object".into()))?;
        Credential::from_answer(object).map_err(ResolveError::Invalid)
    }

    fn transport_error(&self, e: &reqwest::Error) -> ResolveError {
        if e.is_timeout() {
            return ResolveError::TimedOut(self.options.timeout);
        }
        // The innermost cause says what happened (refused, certificate, DNS).
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        ResolveError::Unreachable(format!("{}: {cause}", self.shown))
    }
}

#[async_trait::async_trait]
impl Resolver for HttpResolver {
    async fn resolve(&self, request: &ResolveRequest) -> Result<Credential, ResolveError> {
        self.exchange(request).await
    }

    fn describe_request(&self, request: &ResolveRequest) -> String {
        let mut body = request.to_json(None, !self.options.headers.is_empty());
        body["token"] = Value::from("REDACTED");
        format!("POST {} (content-type: application/json)\n{body}", self.shown)
    }
}

fn too_large() -> ResolveError {
    ResolveError::Invalid(format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"))
}

/// `HTTP 403`, plus the backend's `error` field when it sent one (seed style).
fn refusal_reason(status: u16, body: &[u8]) -> String {
    let said = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
    match said {
        Some(message) => format!("HTTP {status}: {}", message.chars().take(200).collect::<String>()),
        None => format!("HTTP {status}"),
    }
}

fn client_tls(options: &HttpOptions) -> Result<ClientConfig, BuildError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &options.ca_file {
        let certs = read_certs(path, "--connect-ca")?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(BuildError::Tls(format!("--connect-ca {}: no usable CA certificate in it", path.display())));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match &options.client_cert {
        Some((cert, key)) => {
            let chain = read_certs(cert, "--connect-cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| BuildError::Tls(format!("--connect-key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| BuildError::Tls(format!("--connect-cert/--connect-key: {e}")))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

fn read_certs(path: &std::path::Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| BuildError::Tls(format!("{flag} {}: {e}", path.display())))
}
