//! What every HTTP connection passes before pingora reads a request from it:
//! a cap on the connections one client address may hold open, and a total
//! deadline for a request's headers, so a client that sends a request one
//! byte at a time cannot hold a connection (and its buffers) for as long as
//! it likes. pingora's own timeout restarts at every byte.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::peer;

/// Open connections per address key; an address with none has no entry.
type OpenCounts = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// The limits [`Intake`] enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections per client address (IPv6 by /64); trusted proxies
    /// are not counted. `None`: no cap.
    pub per_address: Option<u32>,
    /// From a connection's accept, or a later request's first byte, to the
    /// end of that request's headers.
    pub header_timeout: Duration,
    /// Peers that carry many clients' connections (`--trusted-proxies`).
    pub trusted: Vec<IpNet>,
}

/// A pingora app in front of another: admits a connection, then hands each
/// request on it to the inner app with the header deadline armed.
pub struct Intake<A> {
    inner: Arc<A>,
    limits: Limits,
    open: OpenCounts,
}

impl<A> Intake<A> {
    /// `inner` behind `limits`.
    pub fn new(inner: A, limits: Limits) -> Self {
        Intake { inner: Arc::new(inner), limits, open: Arc::default() }
    }

    /// A slot for a connection from `ip`, or `None` when that address is at its cap.
    fn admit(&self, ip: Option<IpAddr>) -> Option<Slot> {
        let (Some(cap), Some(ip)) = (self.limits.per_address, ip) else { return Some(Slot(None)) };
        if peer::is_trusted(ip, &self.limits.trusted) {
            return Some(Slot(None));
        }
        let key = peer::rate_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot(Some((key, self.open.clone()))))
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Intake<A> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let ip = stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let Some(_slot) = self.admit(ip) else {
            tracing::debug!("connection refused: its address holds the most open connections allowed");
            return None;
        };
        let next_request = Arc::new(AtomicBool::new(false));
        let mut stream: Stream = Box::new(Deadlined::new(stream, self.limits.header_timeout, next_request.clone()));
        // Each round is one request; the stream comes back while it may be reused.
        loop {
            stream = self.inner.process_new(stream, shutdown).await?;
            next_request.store(true, Ordering::Relaxed);
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// One admitted connection, counted (by its address's key) until it is dropped.
struct Slot(Option<(IpAddr, OpenCounts)>);

impl Drop for Slot {
    fn drop(&mut self) {
        let Some((key, open)) = &self.0 else { return };
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                open.remove(key);
            }
        }
    }
}

/// Where a connection is in reading a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the keep-alive timeout governs.
    Idle,
    /// Inside the headers; `blank` when the current line is empty so far.
    Headers { blank: bool },
    /// Past the headers: the handler's own limits govern.
    Past,
}

/// A stream whose reads fail once a request's headers take longer than the
/// deadline. The end of the headers is an empty line (`\n\n` or `\n\r\n`);
/// HTTP/2's connection preface ends with one too, after which the deadline
/// no longer applies (HTTP/2 frames its headers and limits them itself).
#[derive(Debug)]
struct Deadlined {
    inner: Stream,
    phase: Phase,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    next_request: Arc<AtomicBool>,
}

impl Deadlined {
    fn new(inner: Stream, timeout: Duration, next_request: Arc<AtomicBool>) -> Self {
        // A new connection's clock starts at accept: sending nothing counts too.
        let deadline = Box::pin(tokio::time::sleep(timeout));
        Deadlined { inner, phase: Phase::Headers { blank: false }, timeout, deadline, next_request }
    }
}

/// Follows bytes just read through a header block, to its empty line.
fn scan(mut phase: Phase, bytes: &[u8]) -> Phase {
    for &byte in bytes {
        let Phase::Headers { blank } = phase else { break };
        phase = match byte {
            b'\n' if blank => Phase::Past,
            b'\n' => Phase::Headers { blank: true },
            b'\r' => Phase::Headers { blank },
            _ => Phase::Headers { blank: false },
        };
    }
    phase
}

impl AsyncRead for Deadlined {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.next_request.swap(false, Ordering::Relaxed) {
            this.phase = Phase::Idle;
        }
        if matches!(this.phase, Phase::Headers { .. }) && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request's headers did not arrive within the header timeout",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let fresh = &buf.filled()[before..];
        if this.phase == Phase::Idle && !fresh.is_empty() {
            // A later request's clock starts at its first byte.
            this.deadline.as_mut().reset(Instant::now() + this.timeout);
            this.phase = Phase::Headers { blank: false };
        }
        this.phase = scan(this.phase, fresh);
        polled
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Deadlined {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for Deadlined {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Deadlined {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Deadlined {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Deadlined {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Deadlined {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Deadlined {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(chunks: &[&[u8]]) -> Phase {
        chunks.iter().fold(Phase::Headers { blank: false }, |phase, chunk| scan(phase, chunk))
    }

    #[test]
    fn the_headers_end_at_the_first_empty_line_however_the_bytes_are_split() {
        assert_eq!(scanned(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]), Phase::Past);
        assert_eq!(scanned(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n\r", b"\n"]), Phase::Past);
        assert_eq!(scanned(&[b"GET / HTTP/1.1\nHost: a\n\n"]), Phase::Past);
        assert_eq!(scanned(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]), Phase::Past);
        assert!(matches!(scanned(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]), Phase::Headers { blank: true }));
        assert!(matches!(scanned(&[b"GET / HTTP/1.1\r\nX: \r\n\t\r"]), Phase::Headers { blank: false }));
    }
}
