//! Cancelling a running statement: a CancelRequest over a fresh socket, with
//! the same transport (and TLS) as the connection it belongs to.

use std::time::Duration;

use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::config::SslMode;
use super::error::Error;
use super::socket::{Target, open};
use super::stream::Stream;
use super::tls::{TlsSetup, negotiate_tls};

/// How long a cancel request may take before it is given up.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle that cancels whatever its connection is running. Cheap to clone
/// and usable while the connection itself is busy.
#[derive(Clone)]
pub struct CancelToken {
    target: Target,
    tls: Option<TlsSetup>,
    process_id: i32,
    secret_key: i32,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key is a credential for cancelling: keep it out of logs.
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("process_id", &self.process_id)
            .finish_non_exhaustive()
    }
}

impl CancelToken {
    pub(crate) fn new(target: Target, tls: Option<TlsSetup>, process_id: i32, secret_key: i32) -> Self {
        CancelToken { target, tls, process_id, secret_key }
    }

    /// The server process id of the connection.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// Asks the server to cancel the connection's current statement. Returns
    /// once the server has taken the request; the statement then ends with
    /// SQLSTATE 57014 on its own connection.
    pub async fn cancel(&self) -> Result<(), Error> {
        tokio::time::timeout(CANCEL_TIMEOUT, self.send()).await.map_err(|_| Error::ConnectTimeout(CANCEL_TIMEOUT))?
    }

    async fn send(&self) -> Result<(), Error> {
        let socket = open(&self.target).await?;
        let mut stream = match (socket, &self.tls) {
            (Stream::Tcp(tcp), Some(tls)) => negotiate_tls(tcp, tls, SslMode::Require).await?.0,
            (socket, _) => socket,
        };
        let mut buf = bytes::BytesMut::with_capacity(16);
        frontend::cancel_request(self.process_id, self.secret_key, &mut buf);
        stream.write_all(&buf).await.map_err(Error::lost)?;
        stream.flush().await.map_err(Error::lost)?;
        // The server answers nothing and closes once the request is handled.
        let mut scratch = [0u8; 64];
        while let Ok(n) = stream.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::connect::connect;
    use super::super::fake_server::{serve, started};

    #[tokio::test]
    async fn the_cancel_request_names_the_process_and_its_secret_key() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.accept(4242, -99).await;
            let mut cancel = server.next().await;
            let body = cancel.read_startup().await;
            let expected: Vec<u8> = [80877102i32, 4242, -99].iter().flat_map(|n| n.to_be_bytes()).collect();
            assert_eq!(body, expected);
            drop(peer);
        })
        .await;
        let conn = connect(&config).await.unwrap();
        conn.cancel_token().cancel().await.unwrap();
        server.await.unwrap();
    }
}
