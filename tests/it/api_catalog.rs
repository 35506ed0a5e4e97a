//! The catalog and row-browsing routes against a seeded database: exact
//! shapes, every filter operator, sort and paging, injection attempts that
//! stay data, and catalog reads answering while the editor is busy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::door::{Browser, Door, on_database};
use crate::support::pg::{roles, tls_cluster};

const ODD_TABLE: &str = "Ödd \"tab\" <img src=x onerror=alert(1)>";

fn seeded() -> String {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         CREATE SCHEMA shop;
         CREATE TABLE shop.customers(id serial PRIMARY KEY, name text NOT NULL, email varchar(80) UNIQUE, score int DEFAULT 0);
         COMMENT ON COLUMN shop.customers.name IS 'full name';
         INSERT INTO shop.customers(name, email, score) SELECT 'customer ' || g, 'c' || g || '@example.com', g % 10 FROM generate_series(1, 250) g;
         UPDATE shop.customers SET email = NULL WHERE id = 7;
         CREATE TABLE shop.orders(id serial PRIMARY KEY, customer_id int REFERENCES shop.customers(id), total numeric(10,2));
         CREATE INDEX orders_customer ON shop.orders(customer_id);
         CREATE VIEW shop.big_spenders AS SELECT * FROM shop.customers WHERE score > 8;
         CREATE MATERIALIZED VIEW shop.score_counts AS SELECT score, count(*) FROM shop.customers GROUP BY score;
         CREATE SEQUENCE shop.invoice_no;
         CREATE FUNCTION shop.double_it(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';
         CREATE TABLE public.\"Ödd \"\"tab\"\" <img src=x onerror=alert(1)>\"(\"we\"\"ird col\" text);
         INSERT INTO public.\"Ödd \"\"tab\"\" <img src=x onerror=alert(1)>\" VALUES ('<b>v</b>');",
    );
    c.admin_sql_in(&db, "ANALYZE");
    db
}

async fn tab_for(db: &str) -> (Door, Browser) {
    on_database(db, &[]).await
}

/// Percent-encodes like the browser's encodeURIComponent (space as %20, which paths need).
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

#[tokio::test]
async fn schemas_and_objects() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    assert_eq!(tab.get("schemas").await.body, json!(["public", "shop"]));
    let objects = tab.get("objects").await.body;
    let shop = &objects["shop"];
    let names = |kind: &str| {
        shop[kind].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(names("table"), ["customers", "orders"]);
    assert_eq!(names("view"), ["big_spenders"]);
    assert_eq!(names("materialized_view"), ["score_counts"]);
    assert_eq!(names("sequence"), ["customers_id_seq", "invoice_no", "orders_id_seq"]);
    assert_eq!(names("function"), ["double_it"]);
    assert!(shop["table"][0]["oid"].as_str().unwrap().parse::<u32>().is_ok(), "oid is a string");
    assert_eq!(objects["public"]["table"][0]["name"], ODD_TABLE);
    for kind in ["table", "view", "materialized_view", "function", "sequence"] {
        assert!(objects["public"][kind].is_array(), "{kind} always present");
    }

    let empty = tls_cluster().create_database(roles::TRUST);
    let (_door, tab) = tab_for(&empty).await;
    assert_eq!(tab.get("objects").await.body, json!({}));
    assert_eq!(tab.get("schemas").await.body, json!(["public"]));
}

#[tokio::test]
async fn table_structure_info_indexes_constraints() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let columns = tab.get("tables/shop.customers").await.body;
    assert_eq!(
        columns["columns"],
        json!([
            "column_name",
            "data_type",
            "is_nullable",
            "character_maximum_length",
            "character_set_catalog",
            "column_default",
            "comment"
        ])
    );
    assert_eq!(columns["rows"][1], json!(["name", "text", "NO", null, null, null, "full name"]));
    assert_eq!(columns["rows"][2], json!(["email", "character varying(80)", "YES", 80, null, null, null]));
    assert_eq!(columns["rows"][3][5], "0");
    let view = tab.get("tables/shop.score_counts?type=materialized_view").await.body;
    assert_eq!(view["rows"][0][0], "score");

    let odd = tab.get(&format!("tables/{}", encode(ODD_TABLE))).await.body;
    assert_eq!(odd["rows"][0][0], "we\"ird col");

    let info = tab.get("tables/shop.customers/info").await.body;
    assert_eq!(info["rows_count"], 250);
    assert!(info["total_size"].as_str().unwrap().ends_with("kB"), "{info}");
    let indexes = tab.get("tables/shop.orders/indexes").await.body;
    assert_eq!(indexes["columns"], json!(["index_name", "index_size", "index_definition"]));
    assert_eq!(indexes["rows"][0][0], "orders_customer");
    let constraints = tab.get("tables/shop.orders/constraints").await.body;
    let definitions: Vec<&str> =
        constraints["rows"].as_array().unwrap().iter().map(|r| r[1].as_str().unwrap()).collect();
    assert!(definitions.contains(&"PRIMARY KEY (id)"), "{definitions:?}");
    assert!(
        definitions.iter().any(|d| d.starts_with("FOREIGN KEY (customer_id) REFERENCES shop.customers(id)")),
        "{definitions:?}"
    );

    let objects = tab.get("objects").await.body;
    let oid = objects["shop"]["function"][0]["oid"].as_str().unwrap().to_owned();
    let function = tab.get(&format!("functions/{oid}")).await.body;
    assert_eq!(function["rows"][0][1], "double_it");
    assert!(function["rows"][0][4].as_str().unwrap().contains("SELECT x * 2"));
    assert_eq!(tab.get(&format!("tables/{oid}?type=function")).await.body["rows"][0][1], "double_it");
    assert_eq!(tab.get("functions/1;DROP").await.status, 400);

    let activity = tab.get("activity").await.body;
    assert!(activity["columns"].as_array().unwrap().contains(&json!("pid")));
    let settings = tab.get("server_settings").await.body;
    assert_eq!(settings["columns"][0], "name");
    assert!(settings["rows"].as_array().unwrap().len() > 100);
}

/// Rows kept and rows counted for `score <op> value`.
async fn count(tab: &Browser, op: &str, value: &str) -> (usize, Value) {
    let path = format!(
        "tables/shop.customers/rows?limit=1000&filter_column=score&filter_op={op}&filter_value={}",
        encode(value)
    );
    let answer = tab.get(&path).await;
    assert_eq!(answer.status, 200, "{op}: {}", answer.body);
    (answer.body["rows"].as_array().unwrap().len(), answer.body["pagination"]["rows_count"].clone())
}

#[tokio::test]
async fn rows_page_sort_and_filter_with_every_operator() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let page = tab.get("tables/shop.customers/rows?limit=10&offset=20&sort_column=id&sort_order=desc").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body["pagination"],
        json!({
            "rows_count": 250, "estimated": false, "page": 3, "pages_count": 25, "per_page": 10,
            "has_more": true, "has_previous": true,
            "keyset": {"columns": ["id"], "first": ["230"], "last": ["221"]},
            "indexed_columns": ["email", "id"], "table_estimate": 250,
        })
    );
    let last = tab.get("tables/shop.customers/rows?limit=10&offset=240&sort_column=id").await;
    assert_eq!(last.body["pagination"]["has_more"], false, "{}", last.body["pagination"]);
    assert_eq!(last.body["rows"].as_array().unwrap().len(), 10);
    assert_eq!(last.body["stats"]["rows_count"], 10);
    assert_eq!(page.body["rows"][0][0], 230);
    assert_eq!(page.body["rows"].as_array().unwrap().len(), 10);

    assert_eq!(count(&tab, "equal", "3").await, (25, json!(25)));
    assert_eq!(count(&tab, "not_equal", "3").await, (225, json!(225)));
    assert_eq!(count(&tab, "greater", "7").await, (50, json!(50)));
    assert_eq!(count(&tab, "greater_eq", "7").await, (75, json!(75)));
    assert_eq!(count(&tab, "less", "2").await, (50, json!(50)));
    assert_eq!(count(&tab, "less_eq", "2").await, (75, json!(75)));
    assert_eq!(count(&tab, "like", "1%").await, (25, json!(25)));
    let email = "tables/shop.customers/rows?filter_column=email&filter_value=C1%40EXAMPLE.COM&filter_op=";
    assert_eq!(tab.get(&format!("{email}ilike")).await.body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(tab.get(&format!("{email}like")).await.body["rows"].as_array().unwrap().len(), 0);
    let nulls = tab.get("tables/shop.customers/rows?filter_column=email&filter_op=null").await.body;
    assert_eq!(nulls["rows"][0][0], 7);
    let not_null = tab.get("tables/shop.customers/rows?filter_column=email&filter_op=not_null&limit=1").await.body;
    assert_eq!(not_null["pagination"]["rows_count"], 249);
    assert_eq!(tab.get("tables/shop.customers/rows?filter_column=score&filter_op=regex").await.status, 400);
    assert_eq!(tab.get("tables/shop.customers/rows?limit=0").await.body["error"], "limit must be greater than 0");
    assert_eq!(tab.get("tables/shop.customers/rows?limit=ten").await.body["error"], "limit must be a number");

    // pgweb's raw where still works, as typed SQL.
    let raw = tab.get(&format!("tables/shop.customers/rows?where={}", encode("score = 3 AND id < 20"))).await.body;
    assert_eq!(raw["pagination"]["rows_count"], 2);
}

/// The rows route's path for `filters` (a JSON array of conditions).
fn filtered(filters: Value) -> String {
    format!("tables/shop.customers/rows?limit=1000&sort_column=id&filters={}", encode(&filters.to_string()))
}

#[tokio::test]
async fn several_filter_conditions_are_joined_by_and() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let both = tab
        .get(&filtered(json!([
            {"column": "score", "op": "equal", "value": "3"},
            {"column": "id", "op": "less", "value": "100"},
            {"column": "email", "op": "not_null"},
        ])))
        .await;
    assert_eq!(both.status, 200, "{}", both.body);
    let ids: Vec<i64> = both.body["rows"].as_array().unwrap().iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(ids, [3, 13, 23, 33, 43, 53, 63, 73, 83, 93]);
    assert_eq!(both.body["pagination"]["rows_count"], 10);
    // The same column twice: a range.
    let range = tab
        .get(&filtered(json!([
            {"column": "id", "op": "greater_eq", "value": "5"},
            {"column": "id", "op": "less_eq", "value": "8"},
            {"column": "email", "op": "null"},
        ])))
        .await;
    assert_eq!(range.body["rows"].as_array().unwrap().len(), 1, "{}", range.body);
    assert_eq!(range.body["rows"][0][0], 7);
    // The export of the same selection holds exactly those rows.
    let csv = tab
        .get(&format!(
            "{}&format=csv",
            filtered(
                json!([{"column": "score", "op": "equal", "value": "3"}, {"column": "id", "op": "less", "value": "30"}])
            )
        ))
        .await;
    assert_eq!(csv.status, 200);
    let text = csv.body.as_str().unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.lines().nth(1).unwrap().starts_with("3,customer 3,"), "{text}");

    for (bad, says) in [
        ("[]", "1 to 20 conditions"),
        ("{\"column\": \"id\"}", "JSON array"),
        ("[{\"column\": \"id\", \"op\": \"regex\", \"value\": \"1\"}]", "\"regex\" is unknown"),
        ("[{\"column\": \"\", \"op\": \"null\"}]", "needs a column"),
        ("[{\"column\": \"id\", \"op\": \"null\", \"sql\": \"1=1\"}]", "unknown field"),
    ] {
        let answer = tab.get(&format!("tables/shop.customers/rows?filters={}", encode(bad))).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap().contains(says), "{bad}: {}", answer.body);
    }
    let many = json!((0..21).map(|_| json!({"column": "id", "op": "not_null"})).collect::<Vec<_>>());
    assert_eq!(tab.get(&filtered(many)).await.status, 400);
    let mixed = format!("{}&filter_column=id&filter_op=null", filtered(json!([{"column": "id", "op": "not_null"}])));
    assert!(tab.get(&mixed).await.body["error"].as_str().unwrap().contains("not both"));
}

#[tokio::test]
async fn injection_through_every_parameter_stays_data() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let attack = "x'; DROP TABLE shop.orders; --";
    let by_value = tab
        .get(&format!("tables/shop.customers/rows?filter_column=name&filter_op=equal&filter_value={}", encode(attack)))
        .await;
    assert_eq!(by_value.status, 200);
    assert_eq!(by_value.body["pagination"]["rows_count"], 0);
    let by_column = tab
        .get(&format!(
            "tables/shop.customers/rows?filter_column={}&filter_op=null",
            encode("id\" IS NULL OR 1=1; DROP TABLE shop.orders; --")
        ))
        .await;
    assert_eq!(by_column.status, 400);
    let through_filters = tab
        .get(&filtered(json!([
            {"column": "name", "op": "equal", "value": attack},
            {"column": "id\" IS NULL OR 1=1; DROP TABLE shop.orders; --", "op": "null"},
        ])))
        .await;
    assert_eq!(through_filters.status, 400, "{}", through_filters.body);
    let values = tab
        .get(&filtered(json!([{"column": "name", "op": "like", "value": attack}, {"column": "id", "op": "less", "value": "1) OR (1=1"}])))
        .await;
    assert_eq!(values.status, 400, "a value is one typed parameter: {}", values.body);
    assert_eq!(values.body["db_error"]["code"], "22P02", "{}", values.body);
    assert_eq!(by_column.body["db_error"]["code"], "42703");
    let by_sort = tab
        .get(&format!("tables/shop.customers/rows?sort_column={}", encode("id\"; DROP TABLE shop.orders; --")))
        .await;
    assert_eq!(by_sort.status, 400);
    assert_eq!(
        tab.get(&format!(
            "tables/shop.customers/rows?sort_column=id&sort_order={}",
            encode("ASC; DROP TABLE shop.orders")
        ))
        .await
        .status,
        400
    );
    let by_table = tab.get(&format!("tables/{}/rows", encode("shop.orders; DROP TABLE shop.orders"))).await;
    assert_eq!(by_table.status, 404, "the whole text is one table name, and there is none: {}", by_table.body);
    assert_eq!(by_table.body["code"], "not_found");
    // A raw where fragment is one statement: a second one is refused by the server.
    let by_where =
        tab.get(&format!("tables/shop.customers/rows?where={}", encode("1=1; DROP TABLE shop.orders"))).await;
    assert_eq!(by_where.status, 400, "{}", by_where.body);
    let by_filter_info = tab.get(&format!("tables/{}/info", encode("x' OR '1'='1"))).await;
    assert_eq!(by_filter_info.status, 404, "the whole text is one table name, and there is none");
    assert_eq!(by_filter_info.body["code"], "not_found");
    assert_eq!(tls_cluster().admin_sql_in(&db, "SELECT count(*) FROM shop.orders"), "0", "orders still exists");

    let odd = tab.get(&format!("tables/{}/rows?sort_column={}", encode(ODD_TABLE), encode("we\"ird col"))).await;
    assert_eq!(odd.status, 200, "{}", odd.body);
    assert_eq!(odd.body["rows"][0][0], "<b>v</b>");
}

#[tokio::test]
async fn explain_analyze_and_catalog_reads_while_a_query_runs() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let plan = tab.post("explain", &[("query", "SELECT * FROM shop.customers WHERE id = 5")]).await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert_eq!(plan.body["columns"], json!(["QUERY PLAN"]));
    let analyzed = tab.post("analyze", &[("query", "SELECT count(*) FROM shop.customers")]).await.body;
    let text: String = analyzed["rows"].as_array().unwrap().iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(text.contains("actual time"), "{text}");

    let (slow, reads) = tokio::join!(tab.query("SELECT pg_sleep(3)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let objects = tab.get("objects").await;
        let rows = tab.get("tables/shop.customers/rows?limit=5").await;
        (objects.status, rows.status, started.elapsed())
    });
    assert_eq!(slow.status, 200);
    let (objects, rows, elapsed) = reads;
    assert_eq!((objects, rows), (200, 200));
    assert!(elapsed < Duration::from_secs(2), "catalog reads waited for the editor: {elapsed:?}");
    let _: Value = slow.body;
}

#[tokio::test]
async fn tables_stats_as_json_csv_and_xml() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let stats = tab.get("tables_stats").await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert_eq!(
        stats.body["columns"],
        json!([
            "schema_name",
            "table_name",
            "total_size",
            "data_size",
            "index_size",
            "estimated_rows_count",
            "estimated_rows",
            "index_to_data_ratio",
            "indexes_count",
            "columns_count"
        ])
    );
    let rows = stats.body["rows"].as_array().unwrap();
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap())).collect();
    assert_eq!(names, [("public", ODD_TABLE), ("shop", "customers"), ("shop", "orders")]);
    let customers = &rows[1];
    assert_eq!(customers[5], 250, "estimated_rows_count is a number");
    assert_eq!(customers[6], "250", "estimated_rows is text");
    assert_eq!(customers[7], Value::Null, "no ratio below 1000 rows");
    assert_eq!((&customers[8], &customers[9]), (&json!(2), &json!(4)), "pkey + unique; four columns");
    assert!(customers[2].as_str().unwrap().ends_with("kB"), "{}", customers[2]);

    let csv = tab.get("tables_stats?format=csv").await;
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.headers.get("content-disposition").is_none(), "a download only with export=true");
    let text = csv.body.as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "schema_name,table_name,total_size,data_size,index_size,estimated_rows_count,estimated_rows,index_to_data_ratio,indexes_count,columns_count"
    );
    assert!(lines[1].starts_with("public,\"Ödd \"\"tab\"\" <img src=x onerror=alert(1)>\","), "{}", lines[1]);
    assert!(lines[2].starts_with("shop,customers,") && lines[2].ends_with(",250,250,,2,4"), "{}", lines[2]);

    let xml = tab.get("tables_stats?format=xml&export=true").await;
    let today = time::OffsetDateTime::now_utc().date();
    assert_eq!(
        xml.headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"pgweb-dbstats-{db}-{today}.xml\"")
    );
    let text = xml.body.as_str().unwrap();
    assert!(text.contains("<Row><Value>shop</Value><Value>customers</Value>"), "{text}");
    assert!(text.contains("Ödd \"tab\" &lt;img src=x onerror=alert(1)&gt;"), "{text}");
    assert_eq!(text.matches("<Row>").count(), 3);

    let bad = tab.get("tables_stats?format=yaml").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"].as_str().unwrap().contains("invalid format"), "{}", bad.body);
}

#[tokio::test]
async fn big_tables_page_on_the_planners_estimate_and_say_so() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user; CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 150000) g; ANALYZE big;",
    );
    let (_door, tab) = tab_for(&db).await;
    let unfiltered = tab.get("tables/big/rows?limit=100").await.body;
    assert_eq!(unfiltered["pagination"]["estimated"], true);
    let estimate = unfiltered["pagination"]["rows_count"].as_i64().unwrap();
    assert!((140_000..=160_000).contains(&estimate), "{estimate}");
    let filtered = tab.get("tables/big/rows?filter_column=id&filter_op=less&filter_value=1001").await.body;
    assert_eq!(filtered["pagination"]["estimated"], false);
    assert_eq!(filtered["pagination"]["rows_count"], 1000);
}

#[tokio::test]
async fn a_low_estimate_never_hides_the_real_last_page() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    // Analyzed at 100,000 rows, then 5,000 more: the planner still says 100,000.
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user; CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 100000) g;
         ALTER TABLE big SET (autovacuum_enabled = false); ANALYZE big;
         INSERT INTO big SELECT g FROM generate_series(100001, 105000) g;",
    );
    let (_door, tab) = tab_for(&db).await;
    let first = tab.get("tables/public.big/rows?limit=100").await.body;
    assert_eq!(first["pagination"]["estimated"], true, "{}", first["pagination"]);
    assert_eq!(first["pagination"]["rows_count"], 100000);
    // The page the estimate calls last has a next one, and so on to the real end.
    let at_estimate = tab.get("tables/public.big/rows?limit=100&offset=99900&sort_column=id").await.body;
    assert_eq!(at_estimate["pagination"]["has_more"], true);
    assert_eq!(at_estimate["pagination"]["pages_count"], 1001);
    let real_last = tab.get("tables/public.big/rows?limit=100&offset=104900&sort_column=id").await.body;
    assert_eq!(real_last["rows"].as_array().unwrap().len(), 100);
    assert_eq!(real_last["rows"][99][0], 105000);
    assert_eq!(real_last["pagination"]["has_more"], false);
    assert_eq!(real_last["pagination"]["page"], 1050);
    assert_eq!(real_last["pagination"]["pages_count"], 1050);
    // Asked for, the count is exact, and the pages follow it.
    let exact = tab.get("tables/public.big/rows?limit=100&count=exact").await.body;
    assert_eq!(exact["pagination"]["estimated"], false, "{}", exact["pagination"]);
    assert_eq!(exact["pagination"]["rows_count"], 105000);
    assert_eq!(exact["pagination"]["pages_count"], 1050);
}

/// The rows of a page, as JSON arrays.
fn rows_of(page: &Value) -> Vec<Value> {
    page["rows"].as_array().unwrap().clone()
}

#[tokio::test]
async fn pages_on_the_primary_key_are_found_by_key_to_the_last_one() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         CREATE TABLE pairs(a int, b text, note text, PRIMARY KEY (a, b));
         INSERT INTO pairs SELECT g / 3, 'k' || (g % 3), 'n' || g FROM generate_series(249, 0, -1) g;
         CREATE INDEX ON pairs (note);
         CREATE INDEX ON pairs (lower(b));
         CREATE TABLE ids(id bigint PRIMARY KEY, score int);
         INSERT INTO ids SELECT g, g % 7 FROM generate_series(1, 95) g;
         CREATE TABLE loose(x int);
         INSERT INTO loose VALUES (1);
         ANALYZE;",
    );
    let (_door, tab) = tab_for(&db).await;
    let everything: Vec<Value> = (0..250).map(|g| json!([g / 3, format!("k{}", g % 3), format!("n{g}")])).collect();

    // Unsorted, a table with a key is read in key order (rows went in backwards).
    let first = tab.get("tables/pairs/rows?limit=10").await.body;
    assert_eq!(rows_of(&first), everything[..10]);
    let p = &first["pagination"];
    assert_eq!(p["keyset"], json!({"columns": ["a", "b"], "first": ["0", "k0"], "last": ["3", "k0"]}));
    assert_eq!(
        (p["page"].clone(), p["has_previous"].clone(), p["has_more"].clone()),
        (json!(1), json!(false), json!(true))
    );
    assert_eq!(p["indexed_columns"], json!(["a", "note"]), "an expression index leads with no column");

    // Forward by key, page after page, to the end: every row once, in order.
    let mut seen = rows_of(&first);
    let mut page = first;
    let mut number = 1;
    while page["pagination"]["has_more"] == true {
        let key = page["pagination"]["keyset"]["last"].to_string();
        page = tab.get(&format!("tables/pairs/rows?limit=10&offset={}&after={}", number * 10, encode(&key))).await.body;
        number += 1;
        assert_eq!(page["pagination"]["page"], number, "{}", page["pagination"]);
        seen.extend(rows_of(&page));
    }
    assert_eq!(seen, everything);
    assert_eq!(number, 25);

    // The last page directly, in the order on screen, then back by key.
    let last = tab.get("tables/pairs/rows?limit=10&page=last").await.body;
    assert_eq!(rows_of(&last), everything[240..]);
    let p = &last["pagination"];
    assert_eq!((p["page"].clone(), p["pages_count"].clone()), (json!(25), json!(25)));
    assert_eq!((p["has_previous"].clone(), p["has_more"].clone()), (json!(true), json!(false)));
    let key = p["keyset"]["first"].to_string();
    let back = tab.get(&format!("tables/pairs/rows?limit=10&offset=230&before={}", encode(&key))).await.body;
    assert_eq!(rows_of(&back), everything[230..240]);
    assert_eq!(back["pagination"]["page"], 24);
    let to_start = tab.get(&format!("tables/pairs/rows?limit=10&offset=0&before={}", encode("[3,\"k1\"]"))).await.body;
    assert_eq!(rows_of(&to_start), everything[..10]);
    assert_eq!(to_start["pagination"]["has_previous"], false);
    assert_eq!(to_start["pagination"]["page"], 1);

    // A filter holds with the key: its values and the key's are bound in turn.
    let filters = encode(r#"[{"column":"b","op":"equal","value":"k2"},{"column":"a","op":"less","value":"40"}]"#);
    let filtered =
        tab.get(&format!("tables/pairs/rows?limit=5&filters={filters}&after={}", encode("[10,\"k2\"]"))).await.body;
    let a: Vec<Value> = rows_of(&filtered).iter().map(|r| r[0].clone()).collect();
    assert_eq!(a, [json!(11), json!(12), json!(13), json!(14), json!(15)]);
    assert!(rows_of(&filtered).iter().all(|r| r[1] == "k2"));

    // Sorted down a one-column key: keys go down too, and the last page is the lowest ids.
    let down = tab
        .get(&format!("tables/ids/rows?limit=10&sort_column=id&sort_order=desc&after={}", encode("[\"50\"]")))
        .await
        .body;
    let ids: Vec<i64> = rows_of(&down).iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(ids, (40..50).rev().collect::<Vec<_>>());
    let lowest = tab.get("tables/ids/rows?limit=10&sort_column=id&sort_order=desc&page=last").await.body;
    let ids: Vec<i64> = rows_of(&lowest).iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(ids, (1..=5).rev().collect::<Vec<_>>(), "95 rows: the last page holds five");
    assert_eq!(lowest["pagination"]["page"], 10);

    // Where no key orders the rows, paging is by offset, and a key is refused, saying why.
    let by_score = tab.get("tables/ids/rows?limit=10&sort_column=score").await.body;
    assert_eq!(by_score["pagination"]["keyset"], Value::Null);
    for refused in [
        "tables/ids/rows?sort_column=score&page=last".to_owned(),
        "tables/loose/rows?page=last".to_owned(),
        format!("tables/pairs/rows?after={}", encode("[1]")),
        format!("tables/pairs/rows?after={}&before={}", encode("[1,\"k0\"]"), encode("[1,\"k0\"]")),
        format!("tables/pairs/rows?where=a%3E1&after={}", encode("[1,\"k0\"]")),
    ] {
        let answer = tab.get(&refused).await;
        assert_eq!(answer.status, 400, "{refused}: {}", answer.body);
        assert_eq!(answer.body["code"], "bad_request", "{refused}: {}", answer.body);
    }
    // A hostile key is data, bound as a parameter.
    let hostile = tab.get(&format!("tables/ids/rows?after={}", encode("[\"1) OR (1=1\"]"))).await;
    assert_eq!(hostile.status, 400, "{}", hostile.body);
    assert_eq!(hostile.body["db_error"]["code"], "22P02", "{}", hostile.body);
}

#[tokio::test]
async fn a_big_table_never_analyzed_pages_on_the_planners_reckoning() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         CREATE TABLE fresh(id int PRIMARY KEY, score int) WITH (autovacuum_enabled = false);
         INSERT INTO fresh SELECT g, g % 100 FROM generate_series(1, 200000) g;",
    );
    let (_door, tab) = tab_for(&db).await;
    let first = tab.get("tables/fresh/rows?limit=100").await.body;
    let p = &first["pagination"];
    assert_eq!(p["estimated"], true, "{p}");
    let estimate = p["rows_count"].as_i64().unwrap();
    assert!((100_000..=400_000).contains(&estimate), "{estimate}");
    assert_eq!(p["table_estimate"], estimate);
    assert_eq!(p["indexed_columns"], json!(["id"]), "score leads no index: a sort on it is slow");
    let last = tab.get("tables/fresh/rows?limit=100&page=last").await.body;
    assert_eq!(last["rows"][99][0], 200000);
    assert_eq!(last["rows"][0][0], 199901);
}

#[tokio::test]
async fn big_catalogs_are_read_by_schema_counted_and_searched() {
    let db = seeded();
    let (_door, tab) = tab_for(&db).await;
    let summary = tab.get("objects?summary=true").await;
    assert_eq!(summary.status, 200, "{}", summary.body);
    assert_eq!(
        summary.body["shop"],
        json!({"table": 2, "view": 1, "materialized_view": 1, "function": 1, "sequence": 3})
    );
    assert_eq!(summary.body["public"]["table"], 1);

    let shop = tab.get("objects?schema=shop").await.body;
    assert_eq!(shop.as_object().unwrap().keys().collect::<Vec<_>>(), ["shop"]);
    assert_eq!(shop["shop"]["table"].as_array().unwrap().len(), 2);
    assert_eq!(tab.get("objects?schema=nope").await.body, json!({}));

    let found = tab.get("objects?search=ORDER").await.body;
    assert_eq!(found["more"], false);
    assert_eq!(found["objects"]["shop"]["table"][0]["name"], "orders", "case does not matter");
    let capped = tab.get(&format!("objects?search={}&limit=2", encode("_"))).await.body;
    // `_` is a letter here, not LIKE's wildcard: only names that hold one.
    let names: Vec<String> = capped["objects"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|kinds| kinds.as_object().unwrap().values().flat_map(|l| l.as_array().unwrap().clone()))
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{capped}");
    assert!(names.iter().all(|n| n.contains('_')), "{names:?}");
    assert_eq!(capped["more"], true);
    for hostile in ["' OR 1=1 --", "%", "\\", "\0"] {
        let answer = tab.get(&format!("objects?search={}", encode(hostile))).await;
        assert_eq!((answer.status, &answer.body["objects"]), (200, &json!({})), "{hostile}: {}", answer.body);
    }
    // A NUL byte names no schema either (PostgreSQL would refuse it as text).
    let nul = tab.get("objects?schema=%00").await;
    assert_eq!((nul.status, &nul.body), (200, &json!({})), "{}", nul.body);
    assert_eq!(tab.get("objects?search=x&limit=501").await.status, 400);
}
