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
