//! Streaming exports: a million rows in each format, errors before and after
//! the first byte, and a client that leaves mid-way.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};

const MILLION: &str = "SELECT g, md5(g::text) AS md5 FROM generate_series(1, 1000000) g";

async fn tab() -> (Door, Browser, String) {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    let door = Door::start(&["--url", &c.url_in(&db, roles::TRUST, None, "sslmode=disable")]);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;
    (door, tab, db)
}

fn export_request(tab: &Browser, format: &str, sql: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/api/query?format={format}&filename=rows.{format}", tab.base))
        .header("x-session-id", tab.session.clone().unwrap())
        .header("cookie", tab.cookie.clone().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(url::form_urlencoded::Serializer::new(String::new()).append_pair("query", sql).finish())
}

#[tokio::test]
async fn a_million_rows_in_each_format() {
    let (_door, tab, db) = tab().await;
    let c = tls_cluster();
    let response = export_request(&tab, "csv", MILLION).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"rows.csv\"");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(response.headers().get("content-length").is_none(), "streamed, not buffered");
    let csv = response.bytes().await.unwrap();
    let psql = Command::new("psql")
        .arg(format!("host=127.0.0.1 port={} user=postgres dbname={db} sslmode=disable", c.port))
        .args(["-X", "-c", &format!("\\copy ({MILLION}) to stdout csv header")])
        .output()
        .unwrap();
    assert_eq!(csv.len(), psql.stdout.len());
    assert!(csv == psql.stdout, "the CSV matches psql's byte for byte");

    let json = export_request(&tab, "json", MILLION).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 1_000_002);
    assert_eq!(lines[0], "[");
    let first: serde_json::Value = serde_json::from_str(lines[1].trim_end_matches(',')).unwrap();
    assert_eq!(first, serde_json::json!({"g": 1, "md5": "c4ca4238a0b923820dcc509a6f75849b"}));
    let whole: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(whole.as_array().unwrap().len(), 1_000_000);

    let xml = export_request(&tab, "xml", MILLION).send().await.unwrap().text().await.unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Result>\n<Columns><Column>g</Column><Column>md5</Column></Columns>"));
    assert_eq!(xml.matches("<Row>").count(), 1_000_000);
    assert!(xml.ends_with("</Rows>\n</Result>\n"));
    assert_eq!(tab.get("history").await.body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn nulls_and_markup_survive_xml_and_json() {
    let (_door, tab, _) = tab().await;
    let sql = "SELECT NULL::text AS \"a<b\", '<x>&\"' AS b, 9007199254740993::int8 AS big";
    let xml = export_request(&tab, "xml", sql).send().await.unwrap().text().await.unwrap();
    assert!(xml.contains("<Column>a&lt;b</Column>"), "{xml}");
    assert!(
        xml.contains("<Row><Value null=\"true\"/><Value>&lt;x&gt;&amp;\"</Value><Value>9007199254740993</Value></Row>"),
        "{xml}"
    );
    let json = export_request(&tab, "json", sql).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(json, serde_json::json!([{"a<b": null, "b": "<x>&\"", "big": "9007199254740993"}]));
    let csv = export_request(&tab, "csv", sql).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv, "a<b,b,big\n,\"<x>&\"\"\",9007199254740993\n");
}

#[tokio::test]
async fn errors_before_and_after_the_first_byte() {
    let (_door, tab, _) = tab().await;
    let early = export_request(&tab, "csv", "SELECT nosuchcolumn").send().await.unwrap();
    assert_eq!(early.status(), 400);
    let body: serde_json::Value = early.json().await.unwrap();
    assert_eq!(body["db_error"]["code"], "42703");
    assert_eq!(export_request(&tab, "yaml", "SELECT 1").send().await.unwrap().status(), 400);

    // Fails at row 500,000, long after streaming began: the download must not look complete.
    let late =
        export_request(&tab, "csv", "SELECT 1 / (g - 500000) FROM generate_series(1, 1000000) g").send().await.unwrap();
    assert_eq!(late.status(), 200);
    assert!(late.bytes().await.is_err(), "a broken export must end in an error, not a short file");
    assert_eq!(tab.query("SELECT 'usable'").await.scalar(), "usable");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_statement() {
    let (_door, tab, db) = tab().await;
    let c = tls_cluster();
    let sql = "SELECT g, repeat('x', 100) FROM generate_series(1, 200000000) g";
    let mut response = export_request(&tab, "csv", sql).send().await.unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(10);
    let active = || {
        c.admin_sql(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state = 'active' AND query LIKE '%200000000%'"))
    };
    while active() != "0" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(active(), "0", "the export's statement still runs");
    assert_eq!(tab.query("SELECT 'next'").await.scalar(), "next");
}

#[tokio::test]
async fn pgweb_download_links_carry_the_query_as_url_safe_base64() {
    let (_door, tab, _) = tab().await;
    // What pgweb's frontend builds: base64 of the UTF-8 query with + / = written as - _ .
    let sql = "SELECT 'ü>?' AS \"a b\", 62 AS n";
    let encoded: String = base64_url(sql.as_bytes());
    assert!(encoded.contains(['-', '_', '.']), "the sample exercises the substitutions: {encoded}");
    let link = |query: &str| {
        client()
            .get(format!(
                "{}/api/query?format=csv&query={query}&_session_id={}",
                tab.base,
                tab.session.clone().unwrap()
            ))
            .header("cookie", tab.cookie.clone().unwrap())
    };
    let decoded = link(&encoded).send().await.unwrap();
    assert_eq!(decoded.status(), 200);
    assert_eq!(decoded.text().await.unwrap(), "a b,n\nü>?,62\n");
    // Plain text still works, and words that happen to fit the alphabet are left alone.
    assert_eq!(link("SELECT%2042%20AS%20x").send().await.unwrap().text().await.unwrap(), "x\n42\n");
    let rollback = link("ROLLBACK").send().await.unwrap();
    assert_eq!(rollback.status(), 200, "ROLLBACK ran as SQL");
    // The JSON route never decodes: base64 there is just (invalid) SQL.
    let plain = tab.get(&format!("query?query={encoded}")).await;
    assert_eq!(plain.status, 400);
    assert_eq!(plain.body["code"], "sql_error");
}

/// pgweb's encoding: standard base64, then + / = replaced by - _ .
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes).replace('+', "-").replace('/', "_").replace('=', ".")
}
