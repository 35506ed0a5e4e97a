//! A minimal relay: `relay <listen addr> <database url> <sessions>` opens
//! that many connections, prints one session id per line, then answers
//! `POST /api/query` (form field `query`, header `X-Session-ID`) with
//! `{"columns": [...], "rows": [[...]]}` from `simple_query` on the
//! session's own connection. Anything else is a 404; an unknown session a
//! 404; an SQL error a 400 with the message.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Session id to its connection; one statement at a time per session, as in pgdoor.
type Sessions = HashMap<String, Mutex<Client>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, url, count] = args.as_slice() else {
        return Err("usage: relay <listen addr> <database url> <sessions>".into());
    };
    let mut sessions = Sessions::new();
    for i in 0..count.parse::<usize>()? {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(connection);
        let id = format!("relay-session-{i}");
        println!("{id}");
        sessions.insert(id, Mutex::new(client));
    }
    let sessions = Arc::new(sessions);
    let listener = TcpListener::bind(listen.as_str()).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let sessions = sessions.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(sessions.clone(), request));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(sessions: Arc<Sessions>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() != hyper::Method::POST || request.uri().path() != "/api/query" {
        return Ok(reply(StatusCode::NOT_FOUND, json!({"error": "not found"})));
    }
    let id = request.headers().get("x-session-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = request.into_body().collect().await?.to_bytes();
    let Some(client) = sessions.get(&id) else {
        return Ok(reply(StatusCode::NOT_FOUND, json!({"error": "no such session"})));
    };
    let query = form_urlencoded::parse(&body).find(|(k, _)| k == "query").map(|(_, v)| v.into_owned());
    let Some(query) = query else {
        return Ok(reply(StatusCode::BAD_REQUEST, json!({"error": "query is required"})));
    };
    let messages = match client.lock().await.simple_query(&query).await {
        Ok(messages) => messages,
        Err(e) => return Ok(reply(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}))),
    };
    let (mut columns, mut rows) = (Vec::new(), Vec::new());
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(described) => {
                columns = described.iter().map(|c| c.name().to_owned()).collect();
                rows.clear();
            }
            SimpleQueryMessage::Row(row) => {
                rows.push((0..row.len()).map(|i| row.get(i).map_or(Value::Null, Value::from)).collect::<Vec<_>>());
            }
            _ => {}
        }
    }
    Ok(reply(StatusCode::OK, json!({"columns": columns, "rows": rows})))
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    response
}
