//! The contract check: schemathesis generates requests for every operation
//! of proxy/openapi.json and checks pgdoor's answers against it (status
//! codes, content types, response schemas, no server errors, missing and
//! wrong credentials, undeclared methods), on a live pgdoor in front of the
//! example connect backend and a seeded database.

use std::path::Path;
use std::process::Command;

use crate::support::backend::Backend;
use crate::support::door::{Browser, Door};
use crate::support::pg::{roles, tls_cluster};

const TOKEN: &str = "contract-token";

#[tokio::test]
async fn schemathesis_finds_no_failure() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         CREATE SCHEMA shop;
         CREATE TABLE shop.customers(id serial PRIMARY KEY, name text NOT NULL, tags text[], data jsonb);
         INSERT INTO shop.customers(name, tags, data) SELECT 'c' || g, ARRAY['a', 'b'], jsonb_build_object('n', g) FROM generate_series(1, 50) g;
         CREATE VIEW shop.named AS SELECT name FROM shop.customers;
         CREATE FUNCTION shop.twice(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';",
    );
    // Read-only: generated SQL can never change the database under test.
    let backend = Backend::builder(TOKEN)
        .resources_toml(&format!(
            "[shop]\ndatabase_url = \"{}\"\nreadonly = true\n",
            c.url_in(&db, roles::TRUST, None, "sslmode=disable")
        ))
        .start();
    let door = Door::start_with_env(
        &["--sessions", "--connect-backend", &backend.url, "--connect-rate", "100000", "--query-timeout", "10"],
        &[("PGDOOR_CONNECT_TOKEN", TOKEN)],
    );
    let mut tab = Browser::new(&door.base);
    assert_eq!(tab.connect("shop", &[]).await.status(), 302);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("schemathesis")
        .arg("--config-file")
        .arg(root.join("tests/contract/schemathesis.toml"))
        .arg("run")
        .arg(root.join("proxy/openapi.json"))
        .args(["--url", &door.base, "--workers", "1", "--max-examples", "25", "--seed", "1", "--no-color"])
        .arg("--header")
        .arg(format!("X-Session-ID: {}", tab.session.as_deref().unwrap()))
        .arg("--header")
        .arg(format!("Cookie: {}", tab.cookie.as_deref().unwrap()))
        // Disconnect ends the session every other operation needs; it is tested on its own.
        .args(["--exclude-path", "/api/disconnect", "--request-timeout", "30"])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("schemathesis is needed: run tests/install-deps (pip install schemathesis)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found failures:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    let tested: usize =
        report.lines().find_map(|l| l.trim().strip_prefix("Tested: ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(tested >= 35, "only {tested} operations were tested:\n{report}");
}
