//! One session cannot make pgdoor hold unbounded memory: results are capped
//! in bytes as well as rows, notices and history by count and bytes, each
//! cap saying so in the answer. RSS is measured around each attempt.

use crate::support::door::{Browser, Door, on_database};
use crate::support::pg::{roles, tls_cluster};

async fn tab(extra: &[&str]) -> (Door, Browser) {
    on_database(&tls_cluster().create_database(roles::TRUST), extra).await
}

#[tokio::test]
async fn a_huge_result_is_cut_at_the_byte_cap_and_says_so() {
    let (door, tab) = tab(&[]).await;
    let before = door.rss_kib();
    // 1,500 rows of 100 KB: 150 MB of values, far below the 10,000-row cap.
    let answer = tab.query("SELECT i, repeat('x', 100000) AS wide FROM generate_series(1, 1500) i").await;
    let after = door.rss_kib();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["truncated"], true);
    assert_eq!(answer.body["truncated_by"], "bytes");
    assert_eq!(answer.body["rows_total"], 1500, "every row is still counted");
    let kept = answer.body["rows"].as_array().unwrap().len();
    assert!((35..=42).contains(&kept), "4 MiB holds about 41 rows of 100 KB, kept {kept}");
    assert!(after < before + 64 * 1024, "RSS grew from {before} KiB to {after} KiB");
    assert_eq!(tab.get("info").await.body["pgdoor"]["max_result_bytes"], 4 * 1024 * 1024);

    // The row cap still says it is the row cap.
    let rows = tab.query("SELECT generate_series(1, 20000)").await;
    assert_eq!(rows.body["truncated_by"], "rows");
    assert_eq!(rows.body["rows"].as_array().unwrap().len(), 10_000);
    let small = tab.query("SELECT 1").await;
    assert_eq!(small.body["truncated"], false);
    assert_eq!(small.body["truncated_by"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_flood_of_notices_keeps_the_first_thousand() {
    let (door, tab) = tab(&[]).await;
    let before = door.rss_kib();
    let answer = tab
        .query("DO $$BEGIN FOR i IN 1..100000 LOOP RAISE NOTICE 'notice % %', i, repeat('n', 100); END LOOP; END$$")
        .await;
    let after = door.rss_kib();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let notices = answer.body["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1000);
    assert!(notices[0]["message"].as_str().unwrap().starts_with("notice 1 "));
    assert_eq!(answer.body["notices_dropped"], 99_000);
    assert!(after < before + 32 * 1024, "RSS grew from {before} KiB to {after} KiB");
}

#[tokio::test]
async fn history_is_capped_by_count_and_bytes() {
    let (door, tab) = tab(&["--max-request-body", "2000000"]).await;
    let big = format!("SELECT '{}' AS big", "y".repeat(1_000_000));
    let before = door.rss_kib();
    for _ in 0..60 {
        assert_eq!(tab.query(&big).await.status, 200);
    }
    let history = tab.get("history").await;
    let after = door.rss_kib();
    let entries = history.body.as_array().unwrap();
    let bytes: usize = entries.iter().map(|e| e["query"].as_str().unwrap().len()).sum();
    assert!(bytes <= 1024 * 1024 + 100, "history holds {bytes} bytes");
    let newest = entries.last().unwrap()["query"].as_str().unwrap();
    let note = format!("[pgdoor kept the first 65536 of {} bytes of this statement]", big.len());
    assert!(newest.ends_with(&note), "{}", &newest[newest.len() - 80..]);
    assert!(entries.len() >= 15, "a megabyte holds the last {} statements", entries.len());
    assert!(after < before + 32 * 1024, "RSS grew from {before} KiB to {after} KiB");

    for i in 0..600 {
        tab.query(&format!("SELECT {i}")).await;
    }
    let entries = tab.get("history").await.body.as_array().unwrap().clone();
    assert_eq!(entries.len(), 500);
    assert_eq!(entries.last().unwrap()["query"], "SELECT 599");
}
