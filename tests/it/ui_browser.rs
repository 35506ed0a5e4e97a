//! The embedded UI in real headless Chromium: pgdoor with the example
//! connect backend, a seeded PostgreSQL, and the scenarios of
//! `tests/e2e/ui.mjs` (playwright-core driving Debian's chromium). Also the
//! asset serving itself: ETags, compression, caching, the page's CSP.

use std::io::Read;
use std::process::Command;
use std::sync::OnceLock;

use crate::support::backend::Backend;
use crate::support::door::{Door, client};
use crate::support::e2e;
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "ui-token";
const EVIL: &str = "<img src=x onerror=alert(1)>";

/// Two databases: `shop` (customers, orders, a table with markup in its
/// names) and `other`, seeded once for every test here.
struct Fixture {
    shop_db: String,
    other_db: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let c = tls_cluster();
        let shop = c.create_database(roles::TRUST);
        c.admin_sql_in(
            &shop,
            &format!(
                "SET ROLE trust_user;
                 CREATE SCHEMA shop;
                 CREATE TABLE shop.customers(id serial PRIMARY KEY, name text NOT NULL, email varchar(80), score int);
                 INSERT INTO shop.customers(name, email, score) SELECT 'customer ' || g, 'c' || g || '@example.com', g % 10 FROM generate_series(1, 250) g;
                 UPDATE shop.customers SET email = NULL WHERE id = 7;
                 CREATE TABLE shop.orders(id serial PRIMARY KEY, customer_id int REFERENCES shop.customers(id), total numeric(10,2));
                 INSERT INTO shop.orders(customer_id, total) VALUES (1, 9.99), (2, 120), (2, 0.5);
                 CREATE VIEW shop.big_spenders AS SELECT * FROM shop.customers WHERE score > 8;
                 CREATE FUNCTION shop.double_it(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';
                 CREATE TABLE public.\"{EVIL}\"(\"{EVIL}\" text);
                 INSERT INTO public.\"{EVIL}\" VALUES ('{EVIL}');
                 CREATE SCHEMA \"Ünï schema\";
                 CREATE TYPE \"Ünï schema\".mood AS ENUM ('sad', 'ok', 'happy');
                 CREATE TABLE \"Ünï schema\".\"Odd \"\"kinds\"\"\" (
                   region text NOT NULL, num int NOT NULL, \"näme\" text, mood \"Ünï schema\".mood, doc jsonb,
                   tags text[], flag boolean, born date, PRIMARY KEY (region, num));
                 INSERT INTO \"Ünï schema\".\"Odd \"\"kinds\"\"\" VALUES
                   ('eu', 1, 'Ann', 'ok', '{{\"a\": 1}}', '{{x,y}}', true, '2020-01-02'),
                   ('eu', 2, 'Dee', 'sad', NULL, NULL, NULL, NULL),
                   ('us', 1, NULL, NULL, NULL, '{{solo}}', NULL, NULL),
                   ('us', 2, 'Cy', 'sad', '[]', '{{}}', false, '1999-12-31');
                 CREATE TABLE \"Ünï schema\".sites(code text, n int, \"näme\" text NOT NULL UNIQUE, note text, PRIMARY KEY (code, n));
                 COMMENT ON TABLE \"Ünï schema\".sites IS 'Where trips go';
                 COMMENT ON COLUMN \"Ünï schema\".sites.note IS 'free text, may span lines';
                 INSERT INTO \"Ünï schema\".sites VALUES
                   ('eu', 1, 'Wien', E'first line\\nsecond line\\nthird line'), ('eu', 2, 'Graz', 'one line'), ('us', 1, 'Ohio', NULL);
                 CREATE TABLE \"Ünï schema\".trips(id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, site_code text, site_n int,
                   customer int REFERENCES shop.customers(id), day date DEFAULT '2024-01-01',
                   FOREIGN KEY (site_code, site_n) REFERENCES \"Ünï schema\".sites(code, n));
                 INSERT INTO \"Ünï schema\".trips(site_code, site_n, customer) VALUES ('eu', 1, 3), ('eu', 1, 4), ('eu', 2, 3), ('us', 1, NULL);
                 CREATE VIEW \"Ünï schema\".eu_sites AS SELECT code, n, \"näme\" FROM \"Ünï schema\".sites WHERE code = 'eu';
                 CREATE MATERIALIZED VIEW \"Ünï schema\".trip_counts AS
                   SELECT site_code, site_n, count(*) AS trips FROM \"Ünï schema\".trips GROUP BY 1, 2 WITH NO DATA;
                 CREATE SEQUENCE \"Ünï schema\".tickets INCREMENT 5 START 100;
                 CREATE TABLE public.grown AS SELECT g AS id FROM generate_series(1, 100000) g;
                 ALTER TABLE public.grown SET (autovacuum_enabled = false);
                 ANALYZE public.grown;
                 INSERT INTO public.grown SELECT g FROM generate_series(100001, 105000) g;
                 CREATE TABLE public.ledger(id int PRIMARY KEY, amount int);
                 INSERT INTO public.ledger SELECT g, g * 7919 % 1000 FROM generate_series(1, 120000) g;
                 ANALYZE public.ledger;"
            ),
        );
        let other = c.create_database(roles::TRUST);
        c.admin_sql_in(
            &other,
            "SET ROLE trust_user; CREATE TABLE notes(id int, body text);
             CREATE VIEW ten_million AS SELECT g AS id, g * 2 AS twice, 'row ' || g AS label FROM generate_series(1, 10000000) g;
             CREATE VIEW breaks_early AS SELECT g AS id, 1 / (200 - g) AS x FROM generate_series(1, 1000) g;
             CREATE MATERIALIZED VIEW frozen AS SELECT 1 AS one;
             CREATE VIEW breaks_late AS SELECT g AS id, 1 / (500000 - g) AS x FROM generate_series(1, 1000000) g;",
        );
        Fixture { shop_db: shop, other_db: other }
    })
}

/// The example connect backend serving `shop`, `other` (read-only) and
/// `guarded` (shop again, as production with no downloads and 50 rows at
/// most), and pgdoor asking it. Both stop when dropped.
fn start_door(extra: &[&str]) -> (Door, Backend) {
    let f = fixture();
    let url = |db: &str| tls_cluster().url_in(db, roles::TRUST, None, "sslmode=disable");
    let backend = Backend::builder(TOKEN)
        .resources_toml(&format!(
            "[shop]\ndatabase_url = \"{}\"\nlabel = \"Shop (demo)\"\n\
             [other]\ndatabase_url = \"{}\"\nlabel = \"Other (read-only)\"\nreadonly = true\n\
             [guarded]\ndatabase_url = \"{}\"\nlabel = \"Shop\"\nenvironment = \"production\"\n\
             downloads = false\nmax_rows = 50\nstatement_timeout = \"30s\"\n",
            url(&f.shop_db),
            url(&f.other_db),
            url(&f.shop_db)
        ))
        .start();
    (door_for(&backend, extra), backend)
}

/// pgdoor asking `backend`, with `extra` flags.
fn door_for(backend: &Backend, extra: &[&str]) -> Door {
    let mut args = vec!["--sessions", "--connect-backend", backend.url.as_str()];
    args.extend_from_slice(extra);
    Door::start_with_env(&args, &[("PGDOOR_CONNECT_TOKEN", TOKEN)])
}

/// Runs one scenario against `base`, which may read the shop database's name.
fn scenario(name: &str, base: &str, env: &[(&str, &str)]) -> String {
    let mut all = vec![("SHOP_DB", fixture().shop_db.as_str())];
    all.extend_from_slice(env);
    e2e::scenario(name, base, &all)
}

#[test]
fn connect_to_rows_sort_page_filter_and_a_query() {
    let (door, _backend) = start_door(&[]);
    scenario("flow", &door.base, &[]);
}

#[test]
fn an_sql_error_is_marked_at_its_position() {
    let (door, _backend) = start_door(&[]);
    scenario("error", &door.base, &[]);
}

#[test]
fn cancel_stops_a_running_query() {
    let (door, _backend) = start_door(&[]);
    scenario("cancel", &door.base, &[]);
}

#[test]
fn exports_download_the_right_content() {
    let (door, _backend) = start_door(&[]);
    scenario("export", &door.base, &[]);
}

#[test]
fn an_open_transaction_shows_in_the_header_and_warns_before_the_tab_closes() {
    let (door, _backend) = start_door(&[]);
    scenario("transaction", &door.base, &[]);
}

#[test]
fn two_tabs_keep_two_sessions_apart() {
    let (door, _backend) = start_door(&[]);
    scenario("tabs", &door.base, &[]);
}

#[test]
fn a_closed_tab_ends_its_session_and_a_reload_keeps_it() {
    let (door, _backend) = start_door(&["--connect-rate", "100"]);
    scenario("leave", &door.base, &[]);
}

#[test]
fn a_duplicated_tab_opens_its_own_session_and_closing_it_ends_nothing_of_the_first() {
    let (door, _backend) = start_door(&[]);
    scenario("duplicate", &door.base, &[]);
}

#[test]
fn a_ten_million_row_csv_streams_to_disk_as_psql_writes_it() {
    let (door, _backend) = start_door(&[]);
    let dir = tempfile::tempdir().unwrap();
    let from_ui = dir.path().join("ui.csv");
    let out = scenario("bigexport", &door.base, &[("DOWNLOAD_TO", from_ui.to_str().unwrap())]);
    println!("{}", out.lines().filter(|line| line.starts_with("measure ")).collect::<Vec<_>>().join("\n"));
    let from_psql = dir.path().join("psql.csv");
    let c = tls_cluster();
    let out = Command::new("psql")
        .arg(format!("host=127.0.0.1 port={} user=postgres dbname={} sslmode=disable", c.port, fixture().other_db))
        .args(["-X", "-c", &format!("\\copy (SELECT * FROM ten_million) to '{}' csv header", from_psql.display())])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&from_ui).unwrap().len(), std::fs::metadata(&from_psql).unwrap().len());
    let (mut ui, mut psql) = (std::fs::File::open(&from_ui).unwrap(), std::fs::File::open(&from_psql).unwrap());
    let (mut a, mut b) = (vec![0; 1 << 20], vec![0; 1 << 20]);
    loop {
        let n = ui.read(&mut a).unwrap();
        psql.read_exact(&mut b[..n]).unwrap();
        assert!(a[..n] == b[..n], "the UI's file matches psql's byte for byte");
        if n == 0 {
            break;
        }
    }
}

#[test]
fn rows_are_edited_in_place_reviewed_as_sql_applied_in_one_transaction_and_conflicts_never_overwrite() {
    let (door, _backend) = start_door(&[]);
    scenario("editing", &door.base, &[]);
    // What the database holds, read over a connection of its own.
    let rows = tls_cluster().admin_sql_in(
        &fixture().shop_db,
        r#"SELECT string_agg(format('%s/%s|%s|%s|%s|%s|%s|%s', region, num, "näme", mood, doc, tags, flag, born), '; ' ORDER BY region, num)
           FROM "Ünï schema"."Odd ""kinds""""#,
    );
    assert_eq!(
        rows,
        "asia/2||||||; eu/1|Theirs|happy|{\"b\": [1, 2]}|{a,\"b c\"}|f|2021-03-04; eu/2||sad||||; us/1|Bob|ok||{solo}||",
        "the edits applied, the deleted row gone, the conflicting edit never written"
    );
}

#[test]
fn foreign_keys_link_both_ways_back_and_forward_move_between_views_and_structure_shows_keys_definitions_and_settings() {
    let (door, _backend) = start_door(&[]);
    scenario("relations", &door.base, &[]);
    // The Refresh the page reported happened in the database.
    let populated = tls_cluster().admin_sql_in(
        &fixture().shop_db,
        "SELECT relispopulated FROM pg_class WHERE oid = '\"Ünï schema\".trip_counts'::regclass",
    );
    assert_eq!(populated, "t");
}

#[test]
fn a_big_table_pages_by_key_to_its_last_page_and_a_slow_sort_warns_and_can_be_cancelled() {
    let (door, _backend) = start_door(&[]);
    scenario("bigtable", &door.base, &[]);
}

#[test]
fn paging_jumps_to_the_real_last_page_columns_keep_their_width_filters_combine_exports_match_psql_and_ddl_refreshes_the_list()
 {
    let (door, _backend) = start_door(&[]);
    let dir = tempfile::tempdir().unwrap();
    let from_ui = dir.path().join("ui.csv");
    scenario("paging", &door.base, &[("DOWNLOAD_TO", from_ui.to_str().unwrap())]);
    let c = tls_cluster();
    let out = Command::new("psql")
        .arg(format!("host=127.0.0.1 port={} user=postgres dbname={} sslmode=disable", c.port, fixture().shop_db))
        .args(["-X", "-At", "-c"])
        .arg("\\copy (SELECT * FROM shop.customers WHERE score = 3 AND id < 100 ORDER BY id DESC) to stdout csv header")
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(std::fs::read(&from_ui).unwrap()).unwrap(), String::from_utf8(out.stdout).unwrap());
}

#[test]
fn the_backends_policy_shows_a_banner_hides_downloads_and_caps_rows() {
    let (door, _backend) = start_door(&[]);
    scenario("policy", &door.base, &[]);
}

#[test]
fn the_editor_works_by_keyboard_with_contrast_that_meets_wcag_in_both_themes() {
    let (door, _backend) = start_door(&[]);
    scenario("keyboard", &door.base, &[]);
}

#[test]
fn query_tabs_and_the_history_last_across_reloads_and_tabs_and_a_failed_run_is_marked() {
    let (door, _backend) = start_door(&[]);
    scenario("workspace", &door.base, &[]);
}

#[test]
fn plans_show_as_a_tree_with_real_times_and_an_analyzed_delete_is_rolled_back() {
    let (door, _backend) = start_door(&[]);
    scenario("plans", &door.base, &[]);
    let orders = tls_cluster().admin_sql_in(&fixture().shop_db, "SELECT count(*) FROM shop.orders");
    assert_eq!(orders, "3", "the DELETE under EXPLAIN ANALYZE left every order");
}

#[test]
fn a_scripts_statements_each_show_their_outcome_and_a_failure_says_what_did_not_run() {
    let (door, _backend) = start_door(&[]);
    scenario("script", &door.base, &[]);
}

#[test]
fn completion_inserts_names_that_run_aliases_joins_and_the_search_path_included() {
    let (door, _backend) = start_door(&[]);
    scenario("completion", &door.base, &[]);
}

#[test]
fn axe_core_finds_no_serious_violation_on_any_screen_in_either_theme() {
    let (door, _backend) = start_door(&[]);
    scenario("a11y", &door.base, &[]);
}

#[test]
fn query_tabs_history_and_saved_queries_outlive_a_pgdoor_restart() {
    let (door, backend) = start_door(&[]);
    let profile = tempfile::tempdir().unwrap();
    let profile = profile.path().to_str().unwrap();
    let out = scenario("restart1", &door.base, &[("PROFILE", profile)]);
    let address = out.lines().find_map(|l| l.strip_prefix("address ")).expect("restart1 prints its address").to_owned();
    let port: u16 = door.base.rsplit(':').next().unwrap().parse().unwrap();
    drop(door);
    let args = ["--sessions", "--connect-backend", backend.url.as_str()];
    let door = Door::start_at("127.0.0.1", port, &args, &[("PGDOOR_CONNECT_TOKEN", TOKEN)]);
    scenario("restart2", &door.base, &[("PROFILE", profile), ("ADDRESS", &address)]);
}

#[test]
fn every_screen_works_by_keyboard_alone() {
    let (door, _backend) = start_door(&[]);
    scenario("keywalk", &door.base, &[]);
}

#[test]
fn a_catalog_too_big_to_read_whole_is_read_a_schema_at_a_time() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         DO $$ BEGIN FOR s IN 1..310 LOOP
           EXECUTE format('CREATE SCHEMA customer_%s', s);
           FOR t IN 1..10 LOOP
             EXECUTE format('CREATE TABLE customer_%s.t%s(id int PRIMARY KEY)', s, t);
             EXECUTE format('INSERT INTO customer_%s.t%s VALUES (1)', s, t);
           END LOOP;
         END LOOP; END $$",
    );
    let backend = Backend::builder(TOKEN)
        .resources_toml(&format!(
            "[big]\ndatabase_url = \"{}\"\n",
            c.url_in(&db, roles::TRUST, None, "sslmode=disable")
        ))
        .start();
    let door = door_for(&backend, &[]);
    scenario("bigcatalog", &door.base, &[]);
}

#[test]
fn a_lost_session_reconnects_keeps_the_editor_text_and_says_the_statement_did_not_run() {
    let (door, _backend) = start_door(&[]);
    scenario("reconnect", &door.base, &[]);
}

#[test]
fn markup_in_names_and_values_stays_text() {
    let (door, _backend) = start_door(&[]);
    scenario("xss", &door.base, &[]);
}

#[test]
fn a_phone_sized_window_works() {
    let (door, _backend) = start_door(&[]);
    scenario("phone", &door.base, &[]);
}

#[test]
fn under_a_prefix_inside_an_iframe() {
    // The host page is on another origin of the same site (another port).
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host.local_addr().unwrap().port();
    let ancestors = format!("'self' http://127.0.0.1:{host_port}");
    let (door, _backend) = start_door(&["--prefix", "/db", "--frame-ancestors", &ancestors]);
    let page = format!(
        "<!doctype html><title>host</title><h1>Operator's app</h1>\
         <iframe src=\"{}/db/connect/shop\" width=\"1200\" height=\"700\"></iframe>",
        door.base
    );
    std::thread::spawn(move || {
        for stream in host.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0; 4096];
            let _ = stream.read(&mut buf);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
        }
    });
    scenario("iframe", &format!("{}/db", door.base), &[("HOST_PAGE", &format!("http://127.0.0.1:{host_port}/"))]);
}

#[tokio::test]
async fn assets_are_compressed_cached_and_revalidated() {
    let (door, _backend) = start_door(&[]);
    let http = client();
    let index = http.get(format!("{}/", door.base)).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let csp = index.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    let etag = index.headers()["etag"].to_str().unwrap().to_owned();
    let html = index.text().await.unwrap();
    let script = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(script.starts_with("assets/") && script.ends_with("/js/main.js"), "{script}");

    let again = http.get(format!("{}/", door.base)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    let url = format!("{}/{script}", door.base);
    let raw = http.get(&url).send().await.unwrap();
    assert_eq!(raw.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(raw.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(raw.headers().get("content-encoding").is_none());
    let raw = raw.bytes().await.unwrap();
    let br = http.get(&url).header("accept-encoding", "gzip, deflate, br").send().await.unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["vary"], "Accept-Encoding");
    let br = br.bytes().await.unwrap();
    assert!(br.len() < raw.len() / 2, "brotli {} of {}", br.len(), raw.len());
    let gz = http.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.bytes().await.unwrap()[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, raw);
    let stale = http.get(format!("{}/assets/000000000000/js/main.js", door.base)).send().await.unwrap();
    assert_eq!(stale.status(), 404);
}
