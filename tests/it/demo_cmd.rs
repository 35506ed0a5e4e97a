//! `pgdoor demo` as a person runs it: the printed links open the sample
//! database (in Chromium too), the read-only one refuses writes, and Ctrl-C leaves no process
//! and no directory behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::door::Browser;
use crate::support::e2e;

#[tokio::test]
async fn the_demo_serves_the_sample_and_ctrl_c_cleans_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_pgdoor"))
        .args(["demo", "--listen", &port.to_string(), "--log-level", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let started = Instant::now();
    while let Some(Ok(line)) = lines.next() {
        printed.push(line.clone());
        if line.starts_with("Ctrl-C stops") {
            break;
        }
    }
    let printed = printed.join("\n");
    assert!(printed.contains("Ctrl-C stops"), "the demo did not start:\n{printed}");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?} to start", started.elapsed());
    let base = format!("http://127.0.0.1:{port}");
    assert!(printed.contains(&format!("{base}/connect/shop ")), "{printed}");
    assert!(printed.contains(&format!("{base}/connect/shop-readonly ")), "{printed}");
    let dir = printed.rsplit(' ').next().unwrap().to_owned();
    assert!(dir.contains("pgdoor-demo.") && std::path::Path::new(&dir).is_dir(), "{dir}");

    let mut tab = Browser::new(&base);
    assert_eq!(tab.connect("shop", &[]).await.status(), 302);
    assert_eq!(tab.query("SELECT count(*) FROM shop.page_views").await.scalar(), &json!(100000));
    let objects = tab.get("objects").await.body;
    assert_eq!(objects["reporting"]["materialized_view"][0]["name"], "monthly_revenue");
    assert!(objects["reporting"]["function"].as_array().unwrap().len() >= 2);
    assert!(objects["hr"]["table"].as_array().unwrap().len() >= 2);
    let constraints = tab.get("tables/shop.orders/constraints").await.body;
    assert!(constraints.to_string().contains("FOREIGN KEY"), "{constraints}");
    let write = tab.query("UPDATE shop.products SET in_stock = in_stock + 1 WHERE id = 1").await;
    assert_eq!(write.status, 200, "{}", write.body);
    assert_eq!(tab.get("connection").await.body["label"], "Demo shop");

    let mut readonly = Browser::new(&base);
    assert_eq!(readonly.connect("shop-readonly", &[]).await.status(), 302);
    assert_eq!(readonly.get("connection").await.body["readonly"], true);
    let refused = readonly.query("DELETE FROM shop.page_views").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["db_error"]["code"], "25006", "{}", refused.body);
    assert_eq!(readonly.query("SELECT count(*) FROM shop.page_views").await.scalar(), &json!(100000));

    // The same sample in Chromium: relations, structure, an edit in place.
    e2e::scenario("demo", &base, &[]);
    assert_eq!(
        tab.query("SELECT string_agg(name, ', ' ORDER BY id) FROM hr.departments").await.scalar(),
        &json!("Engineering, Support, Sales, Finance & Legal"),
        "the rename the page reported is in the database"
    );
    assert_eq!(
        tab.query("SELECT (SELECT count(*) FROM reporting.monthly_revenue) > 0").await.scalar(),
        &json!(true),
        "the refreshed materialized view holds its rows"
    );

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(demo.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} was left behind");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&dir))
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn without_postgresql_it_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pgdoor")).args(["demo", "--pg-bin"]).arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}
