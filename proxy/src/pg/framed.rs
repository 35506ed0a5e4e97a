//! Message framing: reads whole backend messages off the stream (with a size
//! cap checked from the header, before the body is read) and batches
//! frontend messages into one write.

use bytes::BytesMut;
use postgres_protocol::message::backend::{Header, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::Error;
use super::stream::Stream;

/// Spare room kept in the read buffer so each read syscall can take a large chunk.
const READ_CHUNK: usize = 64 * 1024;

/// A stream with its read and write buffers.
pub(crate) struct Framed {
    pub stream: Stream,
    rbuf: BytesMut,
    /// Messages waiting for [`Framed::flush`].
    pub wbuf: BytesMut,
    max_message: usize,
}

impl Framed {
    pub fn new(stream: Stream, max_message: usize) -> Self {
        Framed { stream, rbuf: BytesMut::with_capacity(READ_CHUNK), wbuf: BytesMut::with_capacity(1024), max_message }
    }

    /// Reads the next whole message.
    ///
    /// A message over the cap fails with [`Error::MessageTooLarge`] before its
    /// body is read; the caller must then drop the connection.
    pub async fn read(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(header) = Header::parse(&self.rbuf).map_err(Error::protocol)? {
                // The length counts itself but not the tag byte.
                let len = header.len() as usize + 1;
                if len > self.max_message {
                    return Err(Error::MessageTooLarge { len, limit: self.max_message });
                }
                if let Some(message) = Message::parse(&mut self.rbuf).map_err(Error::protocol)? {
                    return Ok(message);
                }
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 8 {
                self.rbuf.reserve(READ_CHUNK);
            }
            let n = self.stream.read_buf(&mut self.rbuf).await.map_err(Error::lost)?;
            if n == 0 {
                return Err(Error::Lost("the server closed the connection".into()));
            }
        }
    }

    /// Writes everything buffered in `wbuf`.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.stream.write_all(&self.wbuf).await.map_err(Error::lost)?;
        self.wbuf.clear();
        self.stream.flush().await.map_err(Error::lost)
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    async fn pair(max_message: usize) -> (Framed, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Framed::new(Stream::Tcp(client), max_message), server)
    }

    #[tokio::test]
    async fn a_message_split_across_reads_is_whole_when_read() {
        let (mut framed, mut server) = pair(1024).await;
        let reader = tokio::spawn(async move { framed.read().await.map(|m| matches!(m, Message::ReadyForQuery(_))) });
        server.write_all(b"Z\0\0").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        server.write_all(b"\0\x05I").await.unwrap();
        assert!(reader.await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn a_header_over_the_cap_fails_before_its_body_arrives() {
        let (mut framed, mut server) = pair(1024).await;
        // Claims 1 MiB and sends none of it: the cap must not wait for (or buffer) the body.
        server.write_all(b"D\0\x10\0\0").await.unwrap();
        match framed.read().await {
            Err(Error::MessageTooLarge { len, limit }) => assert_eq!((len, limit), (1024 * 1024 + 1, 1024)),
            other => panic!("expected MessageTooLarge, got {:?}", other.err()),
        }
    }

    #[tokio::test]
    async fn a_close_is_a_lost_connection() {
        let (mut framed, server) = pair(1024).await;
        drop(server);
        assert!(matches!(framed.read().await, Err(Error::Lost(_))));
    }
}
