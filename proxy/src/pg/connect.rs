//! Opening a connection: resolve the host, open TCP (or the Unix socket),
//! negotiate TLS as the sslmode says, send the startup message, authenticate,
//! and read the session parameters and cancel key.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::auth::{self, AuthMethod};
use super::cancel::CancelToken;
use super::config::{Config, Host, SslMode};
use super::connection::Connection;
use super::error::{DbError, Error};
use super::framed::Framed;
use super::stream::Stream;
use super::tls::{self, TlsInfo, TlsSetup};

/// Settings of the client itself, beside the connection string.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The largest single message accepted from the server, in bytes. A bigger
    /// one fails the query and closes the connection.
    pub max_message_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { max_message_size: 64 * 1024 * 1024 }
    }
}

/// Where one connection attempt goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    #[cfg_attr(not(unix), allow(dead_code))]
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// How a connection was made, for diagnostics (`pgdoor check`, the UI).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The address actually used.
    pub address: String,
    /// TLS parameters, `None` for plaintext.
    pub tls: Option<TlsInfo>,
    /// The authentication method used.
    pub auth: AuthMethod,
    /// Time from the first packet to ReadyForQuery.
    pub connect_time: Duration,
}

/// Opens a connection with the default [`ClientOptions`].
pub async fn connect(config: &Config) -> Result<Connection, Error> {
    connect_with(config, &ClientOptions::default()).await
}

/// Opens a connection, bounded by the config's `connect_timeout`.
pub async fn connect_with(config: &Config, options: &ClientOptions) -> Result<Connection, Error> {
    match config.connect_timeout {
        Some(limit) => {
            tokio::time::timeout(limit, connect_any(config, options)).await.map_err(|_| Error::ConnectTimeout(limit))?
        }
        None => connect_any(config, options).await,
    }
}

/// Tries each address of the host in turn, moving on only when the socket cannot be opened.
async fn connect_any(config: &Config, options: &ClientOptions) -> Result<Connection, Error> {
    let tls = TlsSetup::new(config)?;
    let mut last_error = None;
    for target in resolve(config).await? {
        match connect_target(config, options, target, tls.as_ref()).await {
            Err(e @ Error::Connect { .. }) => last_error = Some(e),
            other => return other,
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Dns {
        host: config.host.to_string(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}

async fn resolve(config: &Config) -> Result<Vec<Target>, Error> {
    match &config.host {
        Host::Unix(dir) => Ok(vec![Target::Unix(dir.join(format!(".s.PGSQL.{}", config.port)))]),
        Host::Tcp(name) => {
            if let Ok(ip) = name.parse::<IpAddr>() {
                return Ok(vec![Target::Tcp(SocketAddr::new(ip, config.port))]);
            }
            let addrs = tokio::net::lookup_host((name.as_str(), config.port))
                .await
                .map_err(|source| Error::Dns { host: name.clone(), source })?;
            Ok(addrs.map(Target::Tcp).collect())
        }
    }
}

/// Applies the sslmode's order of attempts: `allow` tries plaintext then TLS,
/// `prefer` TLS then plaintext (when the server refuses the first with an
/// error, as libpq does), the others one way only.
async fn connect_target(
    config: &Config,
    options: &ClientOptions,
    target: Target,
    tls: Option<&TlsSetup>,
) -> Result<Connection, Error> {
    match (config.sslmode, tls) {
        (_, None) | (SslMode::Disable, _) => attempt(config, options, &target, None).await,
        (SslMode::Allow, Some(tls)) => match attempt(config, options, &target, None).await {
            Err(Error::Db(_)) => attempt(config, options, &target, Some(tls)).await,
            other => other,
        },
        (SslMode::Prefer, Some(tls)) => match attempt(config, options, &target, Some(tls)).await {
            Err(Error::Db(_) | Error::TlsHandshake(_)) => attempt(config, options, &target, None).await,
            other => other,
        },
        (_, Some(tls)) => attempt(config, options, &target, Some(tls)).await,
    }
}

async fn attempt(
    config: &Config,
    options: &ClientOptions,
    target: &Target,
    tls: Option<&TlsSetup>,
) -> Result<Connection, Error> {
    let started = Instant::now();
    let socket = open(target).await?;
    let (stream, tls_info, end_point_hash) = match (socket, tls) {
        (Stream::Tcp(tcp), Some(tls)) => negotiate_tls(tcp, tls, config.sslmode).await?,
        (socket, _) => (socket, None, None),
    };
    let mut framed = Framed::new(stream, options.max_message_size);
    startup(&mut framed, config)?;
    framed.flush().await?;
    let auth = auth::authenticate(&mut framed, config, tls_info.is_some(), end_point_hash).await?;
    let (params, pid, secret) = read_until_ready(&mut framed).await?;
    let used_tls = tls.filter(|_| tls_info.is_some()).cloned();
    let info = ConnectionInfo { address: target.to_string(), tls: tls_info, auth, connect_time: started.elapsed() };
    let cancel = CancelToken::new(target.clone(), used_tls, pid, secret);
    Ok(Connection::new(framed, params, cancel, info))
}

/// Opens the socket, with TCP_NODELAY (Nagle would add ~40 ms to small exchanges).
pub(crate) async fn open(target: &Target) -> Result<Stream, Error> {
    let failed = |source| Error::Connect { addr: target.to_string(), source };
    match target {
        Target::Tcp(addr) => {
            let tcp = TcpStream::connect(addr).await.map_err(failed)?;
            tcp.set_nodelay(true).map_err(failed)?;
            Ok(Stream::Tcp(tcp))
        }
        #[cfg(unix)]
        Target::Unix(path) => Ok(Stream::Unix(tokio::net::UnixStream::connect(path).await.map_err(failed)?)),
        #[cfg(not(unix))]
        Target::Unix(_) => Err(failed(io::Error::other("Unix sockets are not available here"))),
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
    let hash =
        session.peer_certificates().and_then(|certs| certs.first()).and_then(|leaf| tls::server_end_point_hash(leaf));
    Ok((Stream::Tls(Box::new(stream)), Some(info), hash))
}

/// Separates certificate rejections from other handshake failures.
fn handshake_error(e: io::Error) -> Error {
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

fn startup(framed: &mut Framed, config: &Config) -> Result<(), Error> {
    let mut params =
        vec![("user", config.user.as_str()), ("database", config.dbname.as_str()), ("client_encoding", "UTF8")];
    if let Some(name) = &config.application_name {
        params.push(("application_name", name));
    }
    if let Some(options) = &config.options {
        params.push(("options", options));
    }
    frontend::startup_message(params, &mut framed.wbuf).map_err(Error::protocol)
}

/// Reads ParameterStatus and BackendKeyData until the first ReadyForQuery.
async fn read_until_ready(framed: &mut Framed) -> Result<(HashMap<String, String>, i32, i32), Error> {
    let mut params = HashMap::new();
    let mut key = (0, 0);
    loop {
        match framed.read().await? {
            Message::ParameterStatus(body) => {
                let name = body.name().map_err(Error::protocol)?;
                let value = body.value().map_err(Error::protocol)?;
                params.insert(name.to_owned(), value.to_owned());
            }
            Message::BackendKeyData(body) => key = (body.process_id(), body.secret_key()),
            Message::ReadyForQuery(_) => return Ok((params, key.0, key.1)),
            Message::ErrorResponse(body) => return Err(Error::Db(Box::new(DbError::parse(body.fields())?))),
            Message::NoticeResponse(_) => {}
            _ => return Err(Error::protocol("unexpected message after authentication")),
        }
    }
}
