//! A tiny HTTP server that answers every request with one scripted response,
//! optionally after a delay: for the backend behaviours the example backend
//! never shows (500s, garbage, huge bodies, redirects, slowness).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A running scripted server. It lives until the test process ends.
pub struct Scripted {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl Scripted {
    /// Answers with `status`, extra header lines, and `body` (Content-Length set).
    pub fn start(status: &str, headers: &str, body: &str, delay: Duration) -> Scripted {
        let response =
            format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        Scripted::raw(response.into_bytes(), delay)
    }

    /// Answers with exactly these bytes.
    pub fn raw(response: Vec<u8>, delay: Duration) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                    let _ = stream.read(&mut buf);
                    std::thread::sleep(delay);
                    let _ = stream.write_all(&response);
                });
            }
        });
        Scripted { url, hits }
    }

    /// How many connections it has accepted.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
