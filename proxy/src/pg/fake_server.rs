//! A scripted PostgreSQL server on port 0 for unit tests: it plays what a
//! real server never sends (a forged SCRAM signature, messages out of
//! order, an oversized frame) and records what the client sent.

use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::config::{Config, Isolated};

/// One accepted client connection, read and written message by message.
pub struct Peer(pub TcpStream);

impl Peer {
    /// Reads the untyped startup-phase packet (startup, SSL or cancel request).
    pub async fn read_startup(&mut self) -> Vec<u8> {
        let len = self.0.read_i32().await.unwrap() as usize;
        let mut body = vec![0; len - 4];
        self.0.read_exact(&mut body).await.unwrap();
        body
    }

    /// Reads one typed message: its tag and body.
    pub async fn read(&mut self) -> (u8, Vec<u8>) {
        let tag = self.0.read_u8().await.unwrap();
        let len = self.0.read_i32().await.unwrap() as usize;
        let mut body = vec![0; len - 4];
        self.0.read_exact(&mut body).await.unwrap();
        (tag, body)
    }

    /// Everything the client sends until it closes the connection.
    pub async fn until_closed(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        self.0.read_to_end(&mut rest).await.unwrap();
        rest
    }

    /// Sends one typed message.
    pub async fn send(&mut self, tag: u8, body: &[u8]) {
        let mut frame = vec![tag];
        frame.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        frame.extend_from_slice(body);
        self.0.write_all(&frame).await.unwrap();
    }

    /// Sends raw bytes.
    pub async fn raw(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.unwrap();
    }

    /// An `R` message: the auth code and its data.
    pub async fn auth(&mut self, code: i32, data: &[u8]) {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(data);
        self.send(b'R', &body).await;
    }

    /// AuthenticationOk, a BackendKeyData of (`pid`, `key`) and ReadyForQuery(idle).
    pub async fn accept(&mut self, pid: i32, key: i32) {
        self.auth(0, &[]).await;
        let mut keys = pid.to_be_bytes().to_vec();
        keys.extend_from_slice(&key.to_be_bytes());
        self.send(b'K', &keys).await;
        self.send(b'Z', b"I").await;
    }
}

/// The listening side: hands out connections as clients open them.
pub struct Server(TcpListener);

impl Server {
    /// The next client connection.
    pub async fn next(&mut self) -> Peer {
        Peer(self.0.accept().await.unwrap().0)
    }
}

/// Runs `script` on a server at port 0; returns the config that reaches it
/// (user `u`, password `pw`, then `params`, e.g. `sslmode=disable`) and
/// the script's task, whose panics the test sees when it awaits it.
pub async fn serve<F, Fut>(params: &str, script: F) -> (Config, JoinHandle<()>)
where
    F: FnOnce(Server) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(script(Server(listener)));
    let url = format!("postgres://u:pw@127.0.0.1:{port}/db?connect_timeout=5&{params}");
    (Config::parse_with(&url, &Isolated).unwrap(), task)
}

/// The startup (or first) client connection, its startup packet read.
pub async fn started(server: &mut Server) -> Peer {
    let mut peer = server.next().await;
    peer.read_startup().await;
    peer
}
