//! The structure route: keys, references both ways, defaults and comments
//! of a table; a view's definition; a sequence's settings; names that need
//! quoting; and what the role may not read.

use serde_json::{Value, json};

use crate::support::door::on_database;
use crate::support::pg::{roles, tls_cluster};

fn seeded() -> String {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         CREATE SCHEMA \"Ünï\";
         CREATE TABLE \"Ünï\".\"re\"\"gion\"(code text, n int, name text NOT NULL, PRIMARY KEY (code, n), UNIQUE (name));
         COMMENT ON TABLE \"Ünï\".\"re\"\"gion\" IS 'sales regions';
         COMMENT ON COLUMN \"Ünï\".\"re\"\"gion\".name IS 'shown to people';
         CREATE TABLE public.shops(id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, region_code text, region_n int,
           opened date DEFAULT current_date, label text GENERATED ALWAYS AS (upper(region_code)) STORED,
           CONSTRAINT shop_region FOREIGN KEY (region_code, region_n) REFERENCES \"Ünï\".\"re\"\"gion\"(code, n),
           CONSTRAINT positive CHECK (region_n > 0), UNIQUE (region_code, opened));
         CREATE TABLE public.audits(shop int REFERENCES shops);
         CREATE VIEW public.north AS SELECT code, name FROM \"Ünï\".\"re\"\"gion\" WHERE code = 'n';
         CREATE MATERIALIZED VIEW public.counts AS SELECT count(*) FROM shops WITH NO DATA;
         CREATE SEQUENCE public.tickets AS int INCREMENT 5 START 100 MINVALUE 10 MAXVALUE 1000 CACHE 2 CYCLE;
         SELECT nextval('tickets');",
    );
    // A table the session's role may not read.
    c.admin_sql_in(&db, "CREATE TABLE public.secret_refs(region_code text, region_n int, FOREIGN KEY (region_code, region_n) REFERENCES \"Ünï\".\"re\"\"gion\"(code, n))");
    db
}

fn column<'a>(structure: &'a Value, name: &str) -> &'a Value {
    structure["columns"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn a_table_shows_its_keys_references_both_ways_defaults_and_comments() {
    let db = seeded();
    let (_door, tab) = on_database(&db, &[]).await;
    let region = tab.get("tables/%22%C3%9Cn%C3%AF%22.%22re%22%22gion%22/structure").await;
    assert_eq!(region.status, 200, "{}", region.body);
    let region = region.body;
    assert_eq!((region["schema"].as_str(), region["name"].as_str()), (Some("Ünï"), Some("re\"gion")));
    assert_eq!(region["kind"], "table");
    assert_eq!(region["comment"], "sales regions");
    assert_eq!(column(&region, "code")["primary_key"], 1);
    assert_eq!(column(&region, "n")["primary_key"], 2);
    assert_eq!(column(&region, "n")["nullable"], false, "a key column is NOT NULL");
    let name = column(&region, "name");
    assert_eq!(
        (&name["primary_key"], &name["unique"], &name["nullable"]),
        (&Value::Null, &json!([["name"]]), &json!(false))
    );
    assert_eq!(name["comment"], "shown to people");
    // Both referencing tables, the unreadable one said so.
    let referenced: Vec<_> = region["referenced_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["table"].as_str().unwrap(), r["columns"].clone(), r["target_columns"].clone(), r["readable"].clone())
        })
        .collect();
    assert_eq!(
        referenced,
        [
            ("secret_refs", json!(["region_code", "region_n"]), json!(["code", "n"]), json!(false)),
            ("shops", json!(["region_code", "region_n"]), json!(["code", "n"]), json!(true)),
        ]
    );

    let shops = tab.get("tables/shops/structure").await.body;
    let id = column(&shops, "id");
    assert_eq!((&id["primary_key"], &id["identity"], &id["default"]), (&json!(1), &json!("always"), &Value::Null));
    assert_eq!(column(&shops, "opened")["default"], "CURRENT_DATE");
    assert_eq!(column(&shops, "label")["generated"], "upper(region_code)");
    assert_eq!(column(&shops, "opened")["unique"], json!([["region_code", "opened"]]));
    // A composite foreign key: each column names its own target column.
    assert_eq!(
        column(&shops, "region_n")["references"],
        json!([{"constraint": "shop_region", "schema": "Ünï", "table": "re\"gion", "column": "n"}])
    );
    assert_eq!(
        shops["foreign_keys"],
        json!([{"name": "shop_region", "schema": "Ünï", "table": "re\"gion", "columns": ["region_code", "region_n"], "target_columns": ["code", "n"]}])
    );
    let kinds: Vec<_> = shops["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("primary_key", "shops_pkey"),
            ("unique", "shops_region_code_opened_key"),
            ("foreign_key", "shop_region"),
            ("check", "positive")
        ]
    );
    assert_eq!(shops["constraints"][3]["definition"], "CHECK (region_n > 0)");
    assert_eq!(shops["referenced_by"][0]["table"], "audits");
    assert_eq!(shops["definition"], Value::Null);
}

#[tokio::test]
async fn views_show_their_definition_and_sequences_their_settings() {
    let db = seeded();
    let (_door, tab) = on_database(&db, &[]).await;
    let north = tab.get("tables/north/structure").await.body;
    assert_eq!(north["kind"], "view");
    let definition = north["definition"].as_str().unwrap();
    assert!(definition.contains("FROM \"Ünï\".\"re\"\"gion\"") && definition.contains("WHERE"), "{definition}");
    assert_eq!(north["columns"].as_array().unwrap().len(), 2);

    let counts = tab.get("tables/counts/structure").await.body;
    assert_eq!((&counts["kind"], &counts["populated"]), (&json!("materialized_view"), &json!(false)));
    assert!(counts["definition"].as_str().unwrap().contains("count(*)"));

    let tickets = tab.get("tables/tickets/structure").await.body;
    assert_eq!(tickets["kind"], "sequence");
    // One nextval with a cache of 2 wrote 105 to disk: the value a second
    // session would start after, which is what `last_value` says.
    assert_eq!(
        tickets["sequence"],
        json!({"data_type": "integer", "start": 100, "increment": 5, "min": 10, "max": 1000, "cache": 2, "cycle": true,
               "last_value": 105, "owned_by": null})
    );
    // A serial's sequence says which column owns it.
    tab.query("CREATE TABLE numbered(id serial)").await;
    let owned = tab.get("tables/numbered_id_seq/structure").await.body;
    assert_eq!(owned["sequence"]["owned_by"], json!({"schema": "public", "table": "numbered", "column": "id"}));
    assert_eq!(owned["sequence"]["last_value"], Value::Null, "never used");

    let missing = tab.get("tables/public.nothing_here/structure").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    // A name is data: a quote in it reaches no SQL.
    let hostile = tab.get("tables/public.x'%3B%20DROP%20TABLE%20shops%3B--/structure").await;
    assert_eq!(hostile.status, 404, "{}", hostile.body);
    assert_eq!(tab.get("tables/shops/structure").await.status, 200);
}
