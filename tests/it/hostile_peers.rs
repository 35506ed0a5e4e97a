//! Peers that lie: forwarded headers from a peer that is not a trusted proxy
//! change nothing, the `/connect` limiter counts the real client (the
//! right-most hop a trusted proxy appended, IPv6 by /64) in bounded memory,
//! a session answers only the identity that opened it, and one address can
//! neither hold many connections nor keep one open by sending slowly.

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "peer-token";

/// An IPv4 address of this machine that is not loopback: connections from
/// it reach pgdoor from a peer that is not 127.0.0.1.
fn outside_address() -> String {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let ip = socket.connect("192.0.2.254:9").ok().and_then(|()| socket.local_addr().ok()).map(|a| a.ip());
    match ip {
        Some(IpAddr::V4(v4)) if !v4.is_loopback() && !v4.is_unspecified() => v4.to_string(),
        _ => panic!("this test needs a non-loopback IPv4 address with a route on the machine (ip addr add … dev eth0)"),
    }
}

fn backend() -> Backend {
    let c = tls_cluster();
    let db = c.create_database(roles::SCRAM.0);
    Backend::builder(TOKEN)
        .resource("acme", &c.url_in(&db, roles::SCRAM.0, Some(roles::SCRAM.1), "sslmode=require"))
        .require_header("x-forwarded-email")
        .start()
}

fn door_on(host: &str, backend: &Backend, extra: &[&str]) -> Door {
    let mut args = door_args(backend);
    args.extend_from_slice(extra);
    Door::start_on(host, &args, &[])
}

/// The flags every door here runs with: a connect backend and an identity header.
fn door_args(backend: &Backend) -> Vec<&str> {
    vec![
        "--sessions",
        "--connect-backend",
        backend.url.as_str(),
        "--connect-token",
        TOKEN,
        "--connect-headers",
        "X-Forwarded-Email",
        "--identity-header",
        "X-Forwarded-Email",
    ]
}

#[tokio::test]
async fn forwarded_headers_are_believed_from_loopback_only_by_default() {
    let backend = backend();
    let door = door_on("0.0.0.0", &backend, &[]);
    let port = door.base.rsplit(':').next().unwrap().to_owned();
    let ann = [("X-Forwarded-Email", "ann@example.com")];

    let outside = format!("http://{}:{port}", outside_address());
    let forged = Browser::new(&outside).connect("acme", &ann).await;
    assert_eq!(forged.status(), 403, "the backend saw no identity from an untrusted peer");
    let asked: Value = serde_json::from_str(backend.requests()[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(asked["headers"]["x-forwarded-email"], "", "{asked}");

    let gateway = Browser::new(&format!("http://127.0.0.1:{port}")).connect("acme", &ann).await;
    assert_eq!(gateway.status(), 302, "loopback is trusted when --trusted-proxies is unset");
}

#[tokio::test]
async fn the_connect_limit_counts_the_real_client() {
    let backend = backend();
    let door = door_on("0.0.0.0", &backend, &["--connect-rate", "3"]);
    let port = door.base.rsplit(':').next().unwrap().to_owned();
    let http = client();
    let connect = |base: String, forwarded: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/connect/acme"))
                .header("x-forwarded-for", forwarded)
                .header("x-forwarded-email", "ann@example.com")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // An untrusted peer's own X-Forwarded-For is not believed: a new value each time does not help.
    let outside = format!("http://{}:{port}", outside_address());
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(connect(outside.clone(), format!("198.51.100.{i}")).await);
    }
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");

    // Through the trusted gateway, the hop it appended counts, not what the client put before it.
    let local = format!("http://127.0.0.1:{port}");
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(connect(local.clone(), format!("10.9.9.{i}, 203.0.113.7")).await);
    }
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
    assert_eq!(connect(local.clone(), "203.0.113.8".into()).await, 302, "another client has its own budget");

    // IPv6 clients by their /64.
    let mut statuses = Vec::new();
    for i in 1..=5 {
        statuses.push(connect(local.clone(), format!("2001:db8:7:7::{i:x}")).await);
    }
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
}

#[tokio::test]
async fn two_hundred_thousand_forged_addresses_cost_no_memory() {
    let backend = backend();
    // mimalloc asks for transparent huge pages, and one faulted in steps RSS
    // by 2 MiB whatever the addresses; without them RSS moves a 4 KiB page at a time.
    let mut args = door_args(&backend);
    args.extend(["--connect-rate", "5"]);
    let door = Door::start_on("127.0.0.1", &args, &[("MIMALLOC_ALLOW_THP", "0")]);
    let http = client();
    // 16 connections at a time; `distinct` forges a new first hop for every
    // request, else every request forges the same one.
    let send = |from: u32, to: u32, distinct: bool| {
        let workers: Vec<_> = (0..16)
            .map(|worker| {
                let (http, url) = (http.clone(), format!("{}/connect/acme", door.base));
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    for i in (from + worker..to).step_by(16) {
                        let i = if distinct { i } else { 0 };
                        let forged = format!("10.{}.{}.{}, 203.0.113.9", i >> 16, (i >> 8) & 255, i & 255);
                        let response = http.get(&url).header("x-forwarded-for", forged).send().await.unwrap();
                        statuses.push(response.status().as_u16());
                    }
                    statuses
                })
            })
            .collect();
        async move {
            let mut all = Vec::new();
            for worker in workers {
                all.extend(worker.await.unwrap());
            }
            all
        }
    };
    let started = std::time::Instant::now();
    let first = send(0, 20_000, true).await;
    // The one real client's budget of 5, plus what its refill (5 a minute)
    // allowed while the 20,000 ran; a budget per forged address would let them all through.
    let allowed = 5 + (started.elapsed().as_secs_f64() * 5.0 / 60.0).floor() as usize;
    let through = first.iter().filter(|s| **s != 429).count();
    assert!((5..=allowed).contains(&through), "{through} of 20,000 got through: only the real client's {allowed}");

    // The allocator warms up whatever the addresses: chunks of one forged
    // address, interleaved with chunks of new ones, tell its growth from the limiter's.
    let (mut same, mut distinct, mut escaped) = (0i64, 0i64, 0);
    for chunk in 0..4u32 {
        let from = 20_000 + chunk * 45_000;
        let before = door.rss_kib() as i64;
        escaped += send(from, from + 22_500, false).await.iter().filter(|s| **s != 429).count();
        let middle = door.rss_kib() as i64;
        escaped += send(from + 22_500, from + 45_000, true).await.iter().filter(|s| **s != 429).count();
        let after = door.rss_kib() as i64;
        same += middle - before;
        distinct += after - middle;
    }
    // The one real client's budget refills at 5 a minute meanwhile; nothing more gets through.
    let refilled = (started.elapsed().as_secs_f64() * 5.0 / 60.0).ceil() as usize + 1;
    assert!(escaped <= refilled, "{escaped} of 180,000 forged requests got through (the refill allows {refilled})");
    assert!(
        distinct - same < 1024,
        "90,000 new forged addresses grew RSS by {distinct} KiB, 90,000 of one address by {same} KiB"
    );
}

#[tokio::test]
async fn a_session_answers_only_the_identity_that_opened_it() {
    let backend = backend();
    let door = door_on("127.0.0.1", &backend, &[]);
    let mut tab = Browser::new(&door.base);
    assert_eq!(tab.connect("acme", &[("X-Forwarded-Email", "ann@example.com")]).await.status(), 302);
    assert_eq!(tab.query("SELECT 1").await.status, 200);

    tab.gateway = vec![("X-Forwarded-Email".into(), "bob@example.com".into())];
    let other = tab.query("SELECT 1").await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert_eq!(other.body["code"], "other_identity");
    tab.gateway.clear();
    assert_eq!(tab.query("SELECT 1").await.status, 403, "no identity is not the same identity");
}

/// How long until the server closes `stream` while `trickle` sends one more
/// byte of a request every 300 ms; `None` when it stays open past `limit`.
async fn closed_after(stream: &mut TcpStream, trickle: bool, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let request = b"GET /healthz HTTP/1.1\r\nHost: pgdoor\r\nX-Slow: ";
    let mut sent = 0;
    let mut buf = [0u8; 512];
    while started.elapsed() < limit {
        if trickle {
            let byte = request.get(sent).copied().unwrap_or(b'a');
            if stream.write_all(&[byte]).await.is_err() {
                return Some(started.elapsed());
            }
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(n)) => panic!("an answer to a request that never ended: {}", String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    None
}

#[tokio::test]
async fn a_request_trickled_a_byte_at_a_time_is_cut_at_the_header_timeout() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let door = Door::start(&["--url", &url, "--header-timeout", "2s"]);
    let addr = door.base.trim_start_matches("http://").to_owned();

    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let cut = closed_after(&mut slow, true, Duration::from_secs(8)).await;
    assert!(cut.is_some_and(|t| t < Duration::from_secs(4)), "a trickled request stayed open: {cut:?}");

    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let cut = closed_after(&mut silent, false, Duration::from_secs(8)).await;
    assert!(cut.is_some_and(|t| t < Duration::from_secs(4)), "a connection that sent nothing stayed open: {cut:?}");

    // Between requests the keep-alive timeout governs: an idle connection
    // longer than the header timeout still takes its next request.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    for round in 0..2 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: pgdoor\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut buf)).await.unwrap().unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "round {round}: {}", String::from_utf8_lossy(&buf[..n]));
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

#[tokio::test]
async fn one_address_holds_a_bounded_number_of_connections() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let url = c.url_in(&db, roles::TRUST, None, "sslmode=disable");
    let door = Door::start_on("0.0.0.0", &["--url", &url, "--max-connections-per-address", "4"], &[]);
    let port = door.base.rsplit(':').next().unwrap().to_owned();
    let outside = format!("{}:{port}", outside_address());
    let healthy = |mut stream: TcpStream| async move {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: pgdoor\r\n\r\n").await.ok()?;
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.ok()?.ok()?;
        buf[..n].starts_with(b"HTTP/1.1 200").then_some(stream)
    };

    let mut held = Vec::new();
    for i in 0..4 {
        let stream = TcpStream::connect(&outside).await.unwrap();
        held.push(healthy(stream).await.unwrap_or_else(|| panic!("connection {i} of 4 was refused")));
    }
    let fifth = TcpStream::connect(&outside).await.unwrap();
    assert!(healthy(fifth).await.is_none(), "a fifth connection from one address was served");

    // A trusted proxy (loopback, by default) carries many clients: not capped.
    let mut local = Vec::new();
    for i in 0..10 {
        let stream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).await.unwrap();
        local.push(healthy(stream).await.unwrap_or_else(|| panic!("loopback connection {i} was refused")));
    }

    // A closed connection gives its slot back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = TcpStream::connect(&outside).await.unwrap();
    assert!(healthy(again).await.is_some(), "a freed slot was not given back");
}
