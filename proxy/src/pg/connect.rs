//! Opening a connection: resolve the host, open TCP (or the Unix socket),
//! negotiate TLS as the sslmode says, send the startup message, authenticate,
//! and read the session parameters and cancel key.

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::auth;
use super::cancel::CancelToken;
use super::config::{Config, SslMode};
use super::connection::{Connection, ConnectionInfo};
use super::error::{DbError, Error};
use super::framed::Framed;
use super::socket::{Target, open, targets};
use super::stream::Stream;
use super::tls::{TlsSetup, negotiate_tls};

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
    for target in targets(config).await? {
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

/// Plays `server` as everything a server says to a new connection and to
/// the statements that follow (a query with parameters, a read-only query
/// and a script), for fuzzing: whatever the bytes, the client must fail
/// with an error, never panic or hang.
#[cfg(feature = "fuzzing")]
pub async fn replay(server: Vec<u8>) {
    use super::query::Collector;
    use super::stream::Replay;
    use super::value::BinaryCodec;
    let Ok(config) = Config::parse_with("postgres://fuzz:secret@127.0.0.1/db?sslmode=disable", &super::Isolated) else {
        return;
    };
    let mut framed = Framed::new(Stream::Replay(Replay(std::io::Cursor::new(server))), 1 << 20);
    let connected = async {
        startup(&mut framed, &config)?;
        framed.flush().await?;
        let auth = auth::authenticate(&mut framed, &config, false, None).await?;
        read_until_ready(&mut framed).await.map(|ready| (ready, auth))
    };
    let Ok(((params, pid, secret), auth)) = connected.await else { return };
    let target = Target::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 5432)));
    let info = ConnectionInfo { address: target.to_string(), tls: None, auth, connect_time: std::time::Duration::ZERO };
    let mut conn = Connection::new(framed, params, CancelToken::new(target, None, pid, secret), info);
    let mut rows = Collector::new(BinaryCodec::None, 100).with_max_bytes(1 << 16);
    let _ = conn.query("SELECT $1", &[Some("x")], &mut rows).await;
    let _ = conn.query_read_only("SELECT 1", &[], &mut rows, true).await;
    let _ = conn.simple_query("SELECT 1; SELECT 2", &mut rows).await;
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

#[cfg(test)]
mod tests {
    use super::super::fake_server::{serve, started};
    use super::*;

    #[tokio::test]
    async fn a_startup_error_is_the_servers_own_message() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.send(b'E', b"SFATAL\0C28000\0Mno pg_hba.conf entry for host \"127.0.0.1\"\0\0").await;
        })
        .await;
        match connect(&config).await {
            Err(Error::Db(db)) => {
                assert_eq!(db.code, "28000");
                assert!(db.message.contains("no pg_hba.conf entry"), "{}", db.message);
            }
            other => panic!("expected the server's error, got {:?}", other.err()),
        }
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_message_out_of_order_after_authentication_is_a_protocol_error() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.auth(0, &[]).await;
            peer.send(b'C', b"SELECT 1\0").await;
        })
        .await;
        let error = connect(&config).await.err().expect("an out-of-order message must fail");
        assert!(matches!(&error, Error::Protocol(m) if m.contains("after authentication")), "{error}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn parameters_and_the_cancel_key_are_read_before_ready() {
        let (config, server) = serve("sslmode=disable&application_name=probe", |mut server| async move {
            let mut peer = server.next().await;
            let startup = peer.read_startup().await;
            let text = String::from_utf8_lossy(&startup).into_owned();
            assert!(
                text.contains("user\0u\0database\0db\0client_encoding\0UTF8\0application_name\0probe\0"),
                "{text:?}"
            );
            peer.auth(0, &[]).await;
            peer.send(b'S', b"server_version\x0016.4\0").await;
            peer.send(b'N', b"SNOTICE\0C00000\0Mwelcome\0\0").await;
            let mut keys = 77i32.to_be_bytes().to_vec();
            keys.extend_from_slice(&5i32.to_be_bytes());
            peer.send(b'K', &keys).await;
            peer.send(b'Z', b"I").await;
        })
        .await;
        let conn = connect(&config).await.unwrap();
        assert_eq!(conn.parameter("server_version"), Some("16.4"));
        assert_eq!(conn.cancel_token().process_id(), 77);
        server.await.unwrap();
    }
}
