//! TLS with libpq's sslmode semantics on rustls (ring provider).
//!
//! | sslmode | certificate checks |
//! |---|---|
//! | allow, prefer, require | none, unless trust anchors are configured: then as verify-ca (libpq does the same) |
//! | verify-ca | chain to a trusted CA, any name |
//! | verify-full | chain to a trusted CA and the host name or IP address |

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest;

use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::{Config, Host, RootCert, SslMode};
use super::error::Error;
use super::stream::Stream;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Not at all: the connection is encrypted but not authenticated.
    None,
    /// The chain must lead to a trusted CA.
    Chain,
    /// The chain and the host name.
    Full,
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verification::None => "not verified",
            Verification::Chain => "verified (CA only, not the host name)",
            Verification::Full => "verified (CA and host name)",
        })
    }
}

/// What the client needs to start TLS for one connection string.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    pub verification: Verification,
}

impl TlsSetup {
    /// Builds the rustls configuration, or `None` for `sslmode=disable`.
    pub fn new(config: &Config) -> Result<Option<Self>, Error> {
        if config.sslmode == SslMode::Disable {
            return Ok(None);
        }
        let Host::Tcp(host) = &config.host else {
            // Unix sockets never use TLS; libpq skips it too.
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verification = match (config.sslmode, &config.sslrootcert) {
            (SslMode::VerifyFull, _) => Verification::Full,
            (_, Some(_)) => Verification::Chain,
            (_, None) => Verification::None,
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsSetup(e.to_string()))?;
        let builder = match verification {
            Verification::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider.signature_verification_algorithms))),
            Verification::Chain | Verification::Full => {
                let roots = Arc::new(load_roots(config.sslrootcert.as_ref())?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| Error::TlsSetup(e.to_string()))?;
                if verification == Verification::Full {
                    builder.with_webpki_verifier(webpki)
                } else {
                    builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
                }
            }
        };
        let mut client = match (&config.sslcert, &config.sslkey) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| Error::TlsSetup(format!("sslcert {}: {e}", cert.display())))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| Error::TlsSetup(format!("sslkey {}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::TlsSetup(format!("client certificate: {e}")))?
            }
            (Some(_), None) => {
                return Err(Error::TlsSetup("sslcert is set but sslkey is not".into()));
            }
            _ => builder.with_no_client_auth(),
        };
        client.resumption = rustls::client::Resumption::disabled();
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| Error::TlsSetup(format!("\"{host}\" is not a valid TLS server name")))?;
        Ok(Some(TlsSetup { config: Arc::new(client), server_name, verification }))
    }
}

fn load_roots(source: Option<&RootCert>) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    match source {
        Some(RootCert::File(path)) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Error::TlsSetup(format!("sslrootcert {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::TlsSetup(format!("sslrootcert {} holds no usable CA certificate", path.display())));
            }
        }
        Some(RootCert::System) => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(Error::TlsSetup(
                    "sslrootcert=system, but the OS trust store is empty (install ca-certificates)".into(),
                ));
            }
        }
        None => {}
    }
    Ok(roots)
}

/// Accepts any certificate but still checks the handshake signatures, so the
/// connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// verify-ca: the full WebPKI check, except that a name mismatch is accepted.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The `tls-server-end-point` channel binding data (RFC 5929): the server
/// certificate hashed with its signature's hash, MD5 and SHA-1 raised to
/// SHA-256. `None` when the algorithm defines no hash (Ed25519) or is unknown.
pub(crate) fn server_end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    let oid = parsed.signature_algorithm.algorithm.to_id_string();
    let hash = match oid.as_str() {
        // md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsa-with-SHA1, ecdsa-with-SHA256, dsa-with-SHA256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2"
        | "2.16.840.1.101.3.4.3.2" => sha2::Sha256::digest(cert).to_vec(),
        // sha384WithRSA, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => sha2::Sha384::digest(cert).to_vec(),
        // sha512WithRSA, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => sha2::Sha512::digest(cert).to_vec(),
        _ => return None,
    };
    Some(hash)
}

/// A TLS session's parameters, for `pgdoor check` and the UI.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// Negotiated protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// Negotiated cipher suite.
    pub cipher: String,
    /// How the server certificate was checked.
    pub verification: Verification,
}

impl TlsInfo {
    pub(crate) fn from_connection(conn: &rustls::ClientConnection, verification: Verification) -> Self {
        let name = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
        TlsInfo {
            version: name(conn.protocol_version().map(|v| format!("{v:?}"))),
            cipher: name(conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()))),
            verification,
        }
    }
}

/// Sends SSLRequest and, on 'S', runs the handshake. On 'N' the connection
/// goes on in plaintext unless the sslmode requires TLS.
pub(crate) async fn negotiate_tls(
    mut tcp: TcpStream,
    tls: &TlsSetup,
    sslmode: SslMode,
) -> Result<(Stream, Option<TlsInfo>, Option<Vec<u8>>), Error> {
    let mut buf = bytes::BytesMut::with_capacity(8);
    frontend::ssl_request(&mut buf);
    tcp.write_all(&buf).await.map_err(Error::lost)?;
    // Exactly one byte: anything after 'S' belongs to the TLS handshake.
    match tcp.read_u8().await.map_err(Error::lost)? {
        b'S' => {}
        b'N' if sslmode <= SslMode::Prefer => return Ok((Stream::Tcp(tcp), None, None)),
        b'N' => return Err(Error::TlsRefused(sslmode)),
        other => return Err(Error::protocol(format!("unexpected answer {other:#x} to SSLRequest"))),
    }
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = connector.connect(tls.server_name.clone(), tcp).await.map_err(handshake_error)?;
    let (_, session) = stream.get_ref();
    let info = TlsInfo::from_connection(session, tls.verification);
    let hash = session.peer_certificates().and_then(|certs| certs.first()).and_then(|leaf| server_end_point_hash(leaf));
    Ok((Stream::Tls(Box::new(stream)), Some(info), hash))
}

/// Separates certificate rejections from other handshake failures.
fn handshake_error(e: std::io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(cert)) => Error::Certificate(describe_certificate_error(cert)),
        Some(other) => Error::TlsHandshake(other.to_string()),
        None => Error::TlsHandshake(e.to_string()),
    }
}

fn describe_certificate_error(e: &rustls::CertificateError) -> String {
    match e {
        rustls::CertificateError::UnknownIssuer => "it is not signed by a CA in sslrootcert (unknown issuer)".into(),
        rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. } => {
            format!("it does not name the host this connection uses ({e})")
        }
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::SslMode;
    use super::super::connect::connect;
    use super::super::error::Error;
    use super::super::fake_server::serve;

    const SSL_REQUEST: [u8; 4] = 80877103i32.to_be_bytes();

    #[tokio::test]
    async fn sslmode_require_fails_when_the_server_refuses_tls() {
        let (config, server) = serve("sslmode=require", |mut server| async move {
            let mut peer = server.next().await;
            assert_eq!(peer.read_startup().await, SSL_REQUEST);
            peer.raw(b"N").await;
        })
        .await;
        let error = connect(&config).await.err().expect("require must not fall back to plaintext");
        assert!(matches!(error, Error::TlsRefused(SslMode::Require)), "{error}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn sslmode_prefer_goes_on_in_plaintext_when_the_server_refuses_tls() {
        let (config, server) = serve("sslmode=prefer", |mut server| async move {
            let mut peer = server.next().await;
            assert_eq!(peer.read_startup().await, SSL_REQUEST);
            peer.raw(b"N").await;
            peer.read_startup().await;
            peer.accept(1, 2).await;
        })
        .await;
        let conn = connect(&config).await.unwrap();
        assert!(conn.info().tls.is_none());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_answer_that_is_neither_yes_nor_no_is_refused() {
        let (config, server) = serve("sslmode=prefer", |mut server| async move {
            let mut peer = server.next().await;
            peer.read_startup().await;
            peer.raw(b"X").await;
        })
        .await;
        let error = connect(&config).await.err().expect("a garbled answer must fail");
        assert!(matches!(&error, Error::Protocol(m) if m.contains("unexpected answer 0x58 to SSLRequest")), "{error}");
        server.await.unwrap();
    }
}
