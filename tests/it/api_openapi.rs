//! The OpenAPI document against a live pgdoor: every documented operation
//! answers with one of the statuses the document gives for it, and the
//! document pgdoor serves is the one in the repository.

use serde_json::Value;

use crate::support::door::{Browser, Door, client};
use crate::support::pg::{roles, tls_cluster};

const DOCUMENT: &str = include_str!("../../proxy/openapi.json");

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let c = tls_cluster();
    let db = c.create_database(roles::TRUST);
    c.admin_sql_in(
        &db,
        "SET ROLE trust_user;
         CREATE TABLE items(id int PRIMARY KEY, name text);
         INSERT INTO items VALUES (1, 'one');
         CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';",
    );
    let function_oid = c.admin_sql_in(&db, "SELECT 'twice'::regproc::oid");
    let door = Door::start(&["--url", &c.url_in(&db, roles::TRUST, None, "sslmode=disable")]);
    let mut tab = Browser::new(&door.base);
    tab.connect("default", &[]).await;

    let document: Value = serde_json::from_str(DOCUMENT).unwrap();
    let served: Value =
        client().get(format!("{}/api/openapi.json", door.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, document);

    let mut operations: Vec<(String, String, Vec<u16>)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let statuses = operation["responses"].as_object().unwrap().keys().map(|s| s.parse().unwrap()).collect();
            operations.push((method.to_uppercase(), path.clone(), statuses));
        }
    }
    // Disconnect ends the session: it goes last.
    operations.sort_by_key(|(_, path, _)| path == "/api/disconnect");
    assert!(operations.len() > 30, "{} operations", operations.len());
    for (method, path, statuses) in operations {
        let id = if path.contains("functions") {
            function_oid.clone()
        } else if path.contains("downloads") {
            tab.post("downloads", &[]).await.body["id"].as_str().unwrap().to_owned()
        } else {
            "1".to_owned()
        };
        let mut url = path.replace("{resource}", "default").replace("{table}", "items").replace("{id}", &id);
        if path.ends_with("/query") || path.ends_with("/explain") || path.ends_with("/analyze") {
            url.push_str("?query=SELECT%201");
        }
        let mut request = client()
            .request(method.parse().unwrap(), format!("{}{url}", door.base))
            .header("x-session-id", tab.session.clone().unwrap())
            .header("cookie", tab.cookie.clone().unwrap());
        if path.ends_with("/changes") {
            request =
                request.json(&serde_json::json!({"changes": [{"op": "insert", "values": {"id": 2}}], "dry_run": true}));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(statuses.contains(&status), "{method} {path}: {status} is not documented ({statuses:?}): {body}");
        if path.starts_with("/api/")
            && !["/api/local_queries/{id}", "/api/connect", "/api/switchdb", "/api/databases"].contains(&path.as_str())
        {
            assert!(status < 300, "{method} {path} failed on a live session: {status} {body}");
        }
    }
}
