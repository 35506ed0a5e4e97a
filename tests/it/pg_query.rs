//! Queries: several statements and result sets, errors with every field,
//! parameters, JSON values by type, cancel and timeout, the message-size cap,
//! lost connections, and a connection staying usable after callers give up.

use std::future::{Future, ready};
use std::time::{Duration, Instant};

use pgdoor_proxy::pg::{
    BinaryCodec, ClientOptions, Collector, Column, Completion, Connection, Error, Row, Sink, SinkError,
    TransactionStatus, connect_with,
};
use serde_json::{Value, json};

use crate::support::pg::{roles, tls_cluster};
use crate::support::{config, open, rows, scalar, simple};

async fn trust() -> Connection {
    open(&tls_cluster().url(roles::TRUST, None, "sslmode=disable")).await.unwrap()
}

async fn over_tls() -> Connection {
    let (user, pw) = roles::SCRAM;
    open(&tls_cluster().url(user, Some(pw), "sslmode=require")).await.unwrap()
}

#[tokio::test]
async fn several_statements_with_an_error_in_the_middle() {
    let mut conn = trust().await;
    let mut out = Collector::unbounded();
    let sql =
        "CREATE TEMP TABLE t(x int); INSERT INTO t VALUES (1), (2); SELECT x FROM t ORDER BY x; SELECT 1/0; SELECT 2";
    let err = conn.simple_query(sql, &mut out).await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code, "22012");
    assert_eq!(db.message, "division by zero");

    let tags: Vec<_> = out.results.iter().map(|r| r.completion.as_ref().unwrap().tag.as_str()).collect();
    assert_eq!(tags, ["CREATE TABLE", "INSERT 0 2", "SELECT 2"]);
    assert_eq!(out.results[1].completion.as_ref().unwrap().rows_affected, Some(2));
    assert_eq!(out.results[2].columns[0].name, "x");
    assert_eq!(out.results[2].rows, vec![vec![json!(1)], vec![json!(2)]]);

    // The text was one implicit transaction: the error undid the CREATE.
    let err = simple(&mut conn, "SELECT * FROM t").await.unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test]
async fn an_error_after_some_rows_keeps_the_rows() {
    let mut conn = over_tls().await;
    let mut out = Collector::unbounded();
    let err = conn.simple_query("SELECT 10/(g-3) AS v FROM generate_series(1,5) g", &mut out).await.unwrap_err();
    assert_eq!(err.code(), Some("22012"));
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.results[0].rows, vec![vec![json!(-5)], vec![json!(-10)]]);
    assert!(out.results[0].completion.is_none());
    assert_eq!(scalar(&mut conn, "SELECT 'still usable'").await, json!("still usable"));
}

#[tokio::test]
async fn errors_and_notices_keep_every_field() {
    let mut conn = trust().await;
    simple(&mut conn, "CREATE TEMP TABLE u(x int CONSTRAINT u_pkey PRIMARY KEY); INSERT INTO u VALUES (5)")
        .await
        .unwrap();
    let err = simple(&mut conn, "INSERT INTO u VALUES (5)").await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!((db.severity.as_str(), db.code.as_str()), ("ERROR", "23505"));
    assert_eq!(db.detail.as_deref(), Some("Key (x)=(5) already exists."));
    assert_eq!(db.table.as_deref(), Some("u"));
    assert_eq!(db.constraint.as_deref(), Some("u_pkey"));
    assert!(db.schema.as_deref().unwrap().starts_with("pg_temp"));
    assert!(db.file.is_some() && db.line.is_some() && db.routine.is_some());

    let err = simple(&mut conn, "SELECT nosuchfn(1)").await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code, "42883");
    assert_eq!(db.position, Some(8));
    assert!(db.hint.as_deref().unwrap().contains("No function matches"));

    let mut out = Collector::unbounded();
    conn.simple_query(
        "DO $$BEGIN RAISE WARNING 'careful' USING DETAIL = 'some detail', HINT = 'a hint'; END$$",
        &mut out,
    )
    .await
    .unwrap();
    let notice = &out.notices[0];
    assert_eq!(
        (notice.severity.as_str(), notice.code.as_str(), notice.message.as_str()),
        ("WARNING", "01000", "careful")
    );
    assert_eq!(notice.detail.as_deref(), Some("some detail"));
    assert_eq!(notice.hint.as_deref(), Some("a hint"));
    assert!(notice.where_.as_deref().unwrap().contains("PL/pgSQL"));
}

#[tokio::test]
async fn parameters_with_null_unicode_and_long_values() {
    let mut conn = over_tls().await;
    let long = "x".repeat(1_000_000);
    let got = rows(
        &mut conn,
        "SELECT $1::text IS NULL, $2::text, length($3::text), $3::text = repeat('x', 1000000), $4",
        &[None, Some("zoë 👋 日本語 'quoted' \"double\" \\"), Some(&long), Some("untyped")],
    )
    .await;
    assert_eq!(
        got,
        vec![vec![
            json!(true),
            json!("zoë 👋 日本語 'quoted' \"double\" \\"),
            json!(1_000_000),
            json!(true),
            json!("untyped")
        ]]
    );

    // A value that does not fit its type is an error, and the connection goes on.
    let mut out = Collector::unbounded();
    let err = conn.query("SELECT $1::int", &[Some("abc")], &mut out).await.unwrap_err();
    assert_eq!(err.code(), Some("22P02"));
    let err = conn.query("SELECT $1::int", &[], &mut out).await.unwrap_err();
    assert_eq!(err.code(), Some("08P01"));
    assert_eq!(rows(&mut conn, "SELECT $1::int + 1", &[Some("41")]).await, vec![vec![json!(42)]]);
}

#[tokio::test]
async fn values_become_json_by_type() {
    let mut conn = trust().await;
    simple(&mut conn, "SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'").await.unwrap();
    let sql = "SELECT 1::int2, 2::int4, 9007199254740991::int8, 9007199254740992::int8, '-9223372036854775808'::int8,
        1.5::float8, 1.1::float4, 'NaN'::float8, 'Infinity'::float8, '-Infinity'::float4,
        123456789012345678901234567890.12::numeric, true, false, 'text'::text, '{\"a\": [1, 2]}'::json,
        '{\"b\": 1}'::jsonb, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '2024-01-02'::date,
        '2024-01-02 03:04:05.678+00'::timestamptz, '1 day 02:00:00'::interval, ARRAY[1,2,NULL]::int[],
        '\\x00ff'::bytea, NULL::text, 26::oid";
    let got = rows(&mut conn, sql, &[]).await.remove(0);
    let want = vec![
        json!(1),
        json!(2),
        json!(9007199254740991_i64),
        json!("9007199254740992"),
        json!("-9223372036854775808"),
        json!(1.5),
        json!(1.1),
        json!("NaN"),
        json!("Infinity"),
        json!("-Infinity"),
        json!("123456789012345678901234567890.12"),
        json!(true),
        json!(false),
        json!("text"),
        json!("{\"a\": [1, 2]}"),
        json!("{\"b\": 1}"),
        json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        json!("2024-01-02"),
        json!("2024-01-02 03:04:05.678+00"),
        json!("1 day 02:00:00"),
        json!("{1,2,NULL}"),
        json!("\\x00ff"),
        Value::Null,
        json!(26),
    ];
    assert_eq!(got, want);
}

#[tokio::test]
async fn bytea_under_each_codec() {
    let mut conn = trust().await;
    for (codec, want) in [
        (BinaryCodec::None, "\\x0001ff"),
        (BinaryCodec::Hex, "0001ff"),
        (BinaryCodec::Base64, "AAH/"),
        (BinaryCodec::Base58, "19p"),
    ] {
        let mut out = Collector::new(codec, 10);
        conn.query("SELECT '\\x0001ff'::bytea", &[], &mut out).await.unwrap();
        assert_eq!(out.into_last().rows[0][0], json!(want), "{codec}");
    }
}

#[tokio::test]
async fn transactions_and_settings_persist_between_requests() {
    let mut conn = trust().await;
    simple(&mut conn, "BEGIN").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    simple(&mut conn, "CREATE TEMP TABLE kept(x int); SET LOCAL work_mem = '8MB'").await.unwrap();
    assert_eq!(scalar(&mut conn, "SHOW work_mem").await, json!("8MB"));
    simple(&mut conn, "SELECT 1/0").await.unwrap_err();
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    let err = simple(&mut conn, "SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Some("25P02"));
    simple(&mut conn, "ROLLBACK").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    simple(&mut conn, "SET application_name = 'renamed'").await.unwrap();
    assert_eq!(conn.parameter("application_name"), Some("renamed"));
}

#[tokio::test]
async fn empty_queries_and_copy() {
    let mut conn = trust().await;
    let results = simple(&mut conn, "").await.unwrap();
    assert_eq!(results[0].completion.as_ref().unwrap().tag, "");

    let results = simple(&mut conn, "COPY (SELECT g, 'a,b' FROM generate_series(1,2) g) TO STDOUT WITH (FORMAT csv)")
        .await
        .unwrap();
    assert_eq!(results[0].rows, vec![vec![json!("1,\"a,b\"")], vec![json!("2,\"a,b\"")]]);
    assert_eq!(results[0].completion.as_ref().unwrap().tag, "COPY 2");

    simple(&mut conn, "CREATE TEMP TABLE c(x int)").await.unwrap();
    let err = simple(&mut conn, "COPY c FROM STDIN").await.unwrap_err();
    assert!(err.to_string().contains("COPY FROM STDIN is not supported"), "{err}");
    assert_eq!(scalar(&mut conn, "SELECT 3").await, json!(3));
}

#[tokio::test]
async fn cancel_stops_a_long_statement_and_the_connection_goes_on() {
    for mut conn in [trust().await, over_tls().await] {
        let token = conn.cancel_token().clone();
        let started = Instant::now();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel().await
        });
        let err = simple(&mut conn, "SELECT pg_sleep(10)").await.unwrap_err();
        canceller.await.unwrap().unwrap();
        assert_eq!(err.code(), Some("57014"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(scalar(&mut conn, "SELECT 'after cancel'").await, json!("after cancel"));
    }
}

#[tokio::test]
async fn a_message_over_the_cap_closes_the_connection_clearly() {
    let c = tls_cluster();
    let options = ClientOptions { max_message_size: 1024 * 1024 };
    let mut conn = connect_with(&config(&c.url(roles::TRUST, None, "sslmode=disable")), &options).await.unwrap();
    assert_eq!(scalar(&mut conn, "SELECT length(repeat('x', 500000))").await, json!(500000));
    assert_eq!(rows(&mut conn, "SELECT repeat('x', 500000)", &[]).await[0][0].as_str().unwrap().len(), 500_000);

    let err = simple(&mut conn, "SELECT repeat('x', 2000000)").await.unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge { limit: 1048576, .. }), "{err}");
    assert!(err.to_string().contains("the connection was closed"), "{err}");
    assert!(conn.is_broken());
    assert!(simple(&mut conn, "SELECT 1").await.unwrap_err().is_connection_lost());
}

#[tokio::test]
async fn a_terminated_backend_is_reported_as_lost() {
    let c = tls_cluster();
    // Idle when killed.
    let mut conn = over_tls().await;
    let pid = conn.cancel_token().process_id();
    c.terminate(pid);
    let err = simple(&mut conn, "SELECT 1").await.unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
    assert!(matches!(err, Error::Lost(_)));
    assert!(conn.is_broken());

    // Busy when killed.
    let mut conn = trust().await;
    let pid = conn.cancel_token().process_id();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tls_cluster().admin_sql(&format!("SELECT pg_terminate_backend({pid})"));
    });
    let err = simple(&mut conn, "SELECT pg_sleep(10)").await.unwrap_err();
    killer.await.unwrap();
    assert!(err.is_connection_lost(), "{err}");
    assert!(err.to_string().contains("terminating connection"), "{err}");
}

#[tokio::test]
async fn an_abandoned_request_is_cancelled_before_the_next_one() {
    let mut conn = trust().await;
    let mut out = Collector::unbounded();
    let gave_up =
        tokio::time::timeout(Duration::from_millis(200), conn.simple_query("SELECT pg_sleep(30)", &mut out)).await;
    assert!(gave_up.is_err());
    let started = Instant::now();
    assert_eq!(scalar(&mut conn, "SELECT 'next'").await, json!("next"));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

/// A sink that fails after a few rows, as an HTTP download does when its client goes away.
struct GivesUp {
    rows: usize,
}

impl Sink for GivesUp {
    fn columns(&mut self, _: &[Column]) -> impl Future<Output = Result<(), SinkError>> + Send {
        ready(Ok(()))
    }
    fn row(&mut self, _: &Row<'_>) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.rows += 1;
        ready(if self.rows == 10 { Err("client went away".into()) } else { Ok(()) })
    }
    fn complete(&mut self, _: &Completion) -> impl Future<Output = Result<(), SinkError>> + Send {
        ready(Ok(()))
    }
}

#[tokio::test]
async fn a_failing_sink_stops_the_query_on_the_server() {
    let mut conn = over_tls().await;
    let started = Instant::now();
    let mut sink = GivesUp { rows: 0 };
    let sql = "SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g";
    let err = conn.simple_query(sql, &mut sink).await.unwrap_err();
    assert!(matches!(err, Error::Sink(_)), "{err}");
    assert_eq!(sink.rows, 10);
    assert_eq!(scalar(&mut conn, "SELECT 'fine'").await, json!("fine"));
    // 100,000 rows at 1 ms each would take 100 s; the cancel cut it short.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn rows_stream_into_the_sink_without_a_cap_and_collectors_truncate() {
    let mut conn = trust().await;
    let mut out = Collector::new(BinaryCodec::None, 100);
    conn.simple_query("SELECT g FROM generate_series(1, 250000) g", &mut out).await.unwrap();
    let result = out.into_last();
    assert_eq!(result.rows.len(), 100);
    assert_eq!(result.rows_seen, 250_000);
    assert!(result.truncated);
    assert_eq!(result.completion.unwrap().rows_affected, Some(250_000));
}

#[test]
fn a_connection_made_on_one_runtime_works_on_another() {
    // pingora gives each service its own runtime; sessions move between them.
    let home = tokio::runtime::Runtime::new().unwrap();
    let mut conn = home.block_on(trust());
    let other = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let value = other.block_on(async { scalar(&mut conn, "SELECT 'across runtimes'").await });
    assert_eq!(value, json!("across runtimes"));
    other.block_on(async { drop(conn) });
}

#[tokio::test]
async fn a_nul_in_the_sql_is_refused_and_the_connection_stays_usable() {
    let c = tls_cluster();
    let mut conn = crate::support::open(&c.url(roles::TRUST, None, "sslmode=disable")).await.unwrap();
    let mut out = Collector::new(BinaryCodec::None, 10);
    let err = conn.simple_query("SELECT 1\0", &mut out).await.unwrap_err();
    assert!(matches!(err, Error::NulInSql), "{err}");
    assert!(!err.is_connection_lost());
    let err = conn.query("SELECT $1::text\0", &[Some("x")], &mut out).await.unwrap_err();
    assert!(matches!(err, Error::NulInSql), "{err}");
    let err = conn.query_read_only("SELECT '\0'", &[], &mut out, false).await.unwrap_err();
    assert!(matches!(err, Error::NulInSql), "{err}");
    assert_eq!(crate::support::scalar(&mut conn, "SELECT 'still fine'").await, "still fine");
}
