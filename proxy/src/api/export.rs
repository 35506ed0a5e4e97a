//! Streaming downloads of a query's rows as CSV (RFC 4180), JSON (an array of
//! objects) or XML (one element per row, NULLs kept), for `format=` on
//! `/api/query`, `/api/explain` and `/api/analyze`. Rows go out as they
//! arrive, in 64 KiB chunks through a bounded channel: memory stays flat and
//! there is no row cap. A client that leaves makes the next send fail, which
//! cancels the statement on the server.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::access;
use super::error::ApiError;
use crate::door::Door;
use crate::http::{Chunk, Request, Response};
use crate::observe::Recorder;
use crate::pg::{BinaryCodec, Column, Completion, Row, Sink, SinkError, to_json};
use crate::session::Session;

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 64 * 1024;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects keyed by column name.
    Json,
    /// `<Result><Columns>…</Columns><Rows><Row><Value>…</Value></Row>…</Rows></Result>`.
    Xml,
}

impl Format {
    /// Reads `format`; `None` when absent.
    pub fn from_request(request: &Request) -> Result<Option<Format>, ApiError> {
        match request.param("format").as_deref() {
            None | Some("") => Ok(None),
            Some("csv") => Ok(Some(Format::Csv)),
            Some("json") => Ok(Some(Format::Json)),
            Some("xml") => Ok(Some(Format::Xml)),
            Some(other) => Err(ApiError::BadParam(format!("invalid format \"{other}\" (csv, json or xml)"))),
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xml => "xml",
        }
    }

    /// The Content-Type of a download.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// Starts the download of `sql`'s rows; the statement runs in its own task
/// holding the session's editor connection until the last row is sent.
pub async fn start(
    door: &Door,
    session: &Arc<Session>,
    request: &Request,
    sql: String,
    format: Format,
) -> Result<Response, ApiError> {
    let (mut editor, _) = access::editor(door, session, request).await?;
    let (tx, rx) = mpsc::channel(4);
    let codec = door.config.binary_codec;
    let timeout = door.config.query_timeout;
    let session = session.clone();
    let recorder = door.recorder();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let Some(conn) = editor.as_mut() else { return };
        let token = conn.cancel_token().clone();
        let mut sink = Encoder {
            tx: tx.clone(),
            format,
            codec,
            columns: Vec::new(),
            csv: csv::Writer::from_writer(Vec::with_capacity(CHUNK)),
            buf: Vec::with_capacity(CHUNK),
            rows: 0,
            recorder: recorder.clone(),
        };
        let run = async {
            if session.readonly {
                conn.query_read_only(&sql, &mut sink).await
            } else {
                conn.simple_query(&sql, &mut sink).await
            }
        };
        let result = token.run_with_timeout(timeout, run).await;
        let outcome = match result {
            Ok(()) => {
                session.remember(&sql);
                let _ = sink.finish().await;
                Ok(Some(sink.rows))
            }
            // The client went away; the statement was cancelled on the server.
            Err(crate::pg::Error::Sink(_)) => Err(format!("the download was abandoned after {} rows", sink.rows)),
            Err(e) => {
                if e.is_connection_lost() {
                    *editor = None;
                }
                let error = ApiError::from_query(e, session.readonly);
                let _ = tx.send(Chunk::Failed(Box::new(error.response()))).await;
                Err(error.to_string())
            }
        };
        recorder.record(&session, "export", &sql, started.elapsed(), outcome);
    });
    let filename = request
        .query_param("filename")
        .map(|name| name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect::<String>())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| {
            format!("pgdoor-{}.{}", time::OffsetDateTime::now_utc().unix_timestamp(), format.extension())
        });
    Ok(Response::stream(format.content_type(), rx)
        .header("content-disposition", format!("attachment; filename=\"{filename}\"")))
}

/// Encodes rows into the format and sends full chunks.
struct Encoder {
    tx: mpsc::Sender<Chunk>,
    format: Format,
    codec: BinaryCodec,
    columns: Vec<Column>,
    /// CSV output so far (RFC 4180 quoting by the csv crate).
    csv: csv::Writer<Vec<u8>>,
    /// JSON and XML output so far.
    buf: Vec<u8>,
    rows: u64,
    recorder: Recorder,
}

impl Encoder {
    fn pending(&self) -> usize {
        self.csv.get_ref().len() + self.buf.len()
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let chunk = match self.format {
            Format::Csv => {
                let done = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::with_capacity(CHUNK)));
                Bytes::from(done.into_inner().map_err(|e| e.to_string())?)
            }
            Format::Json | Format::Xml => Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK))),
        };
        self.recorder.metrics.exported(chunk.len());
        self.tx.send(Chunk::Data(chunk)).await.map_err(|_| "the client went away".into())
    }

    /// Closes the document (and starts it, when no result set came).
    async fn finish(&mut self) -> Result<(), SinkError> {
        if self.columns.is_empty() && self.rows == 0 {
            self.begin();
        }
        match self.format {
            Format::Csv => {}
            Format::Json => self.buf.extend_from_slice(b"\n]\n"),
            Format::Xml => self.buf.extend_from_slice(XML_TAIL.as_bytes()),
        }
        self.flush().await
    }

    fn begin(&mut self) {
        match self.format {
            Format::Csv => {
                let _ = self.csv.write_record(self.columns.iter().map(|c| c.name.as_bytes()));
            }
            Format::Json => self.buf.push(b'['),
            Format::Xml => {
                self.buf.extend_from_slice(xml_head(self.columns.iter().map(|c| c.name.as_str())).as_bytes())
            }
        }
    }

    fn encode(&mut self, row: &Row<'_>) {
        match self.format {
            Format::Csv => {
                let _ = self.csv.write_record(row.values().map(Option::unwrap_or_default));
            }
            Format::Json => {
                let object: Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(row.values())
                    .map(|(c, v)| (c.name.clone(), to_json(c.type_oid, v, self.codec)))
                    .collect();
                let separator: &[u8] = if self.rows == 0 { b"\n" } else { b",\n" };
                self.buf.extend_from_slice(separator);
                let _ = serde_json::to_writer(&mut self.buf, &object);
            }
            Format::Xml => {
                let values = self.columns.iter().zip(row.values()).map(|(c, v)| to_json(c.type_oid, v, self.codec));
                self.buf.extend_from_slice(xml_row(values).as_bytes());
            }
        }
    }
}

impl Sink for Encoder {
    fn columns(&mut self, columns: &[Column]) -> impl Future<Output = Result<(), SinkError>> + Send {
        // Only the first result set with columns is exported.
        if self.columns.is_empty() && self.rows == 0 {
            self.columns = columns.to_vec();
            self.begin();
        }
        std::future::ready(Ok(()))
    }

    async fn row(&mut self, row: &Row<'_>) -> Result<(), SinkError> {
        self.encode(row);
        self.rows += 1;
        if self.pending() >= CHUNK { self.flush().await } else { Ok(()) }
    }

    fn complete(&mut self, _: &Completion) -> impl Future<Output = Result<(), SinkError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// Renders rows already in memory (small results such as `tables_stats`)
/// the way the streaming export writes them.
pub fn render(format: Format, columns: &[String], rows: &[Vec<Value>]) -> Vec<u8> {
    match format {
        Format::Csv => {
            let mut out = csv::Writer::from_writer(Vec::new());
            let _ = out.write_record(columns);
            for row in rows {
                let _ = out.write_record(row.iter().map(|value| match value {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }));
            }
            out.into_inner().unwrap_or_default()
        }
        Format::Json => {
            let objects: Vec<Map<String, Value>> =
                rows.iter().map(|row| columns.iter().cloned().zip(row.iter().cloned()).collect()).collect();
            serde_json::to_vec(&objects).unwrap_or_default()
        }
        Format::Xml => {
            let mut out = xml_head(columns.iter().map(String::as_str));
            for row in rows {
                out.push_str(&xml_row(row.iter().cloned()));
            }
            out.push_str(XML_TAIL);
            out.into_bytes()
        }
    }
}

/// The end of an XML export.
const XML_TAIL: &str = "</Rows>\n</Result>\n";

/// The start of an XML export: the declaration and the column names.
fn xml_head<'a>(columns: impl Iterator<Item = &'a str>) -> String {
    let mut head = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Result>\n<Columns>");
    for column in columns {
        head.push_str(&format!("<Column>{}</Column>", xml_text(column)));
    }
    head.push_str("</Columns>\n<Rows>\n");
    head
}

/// One `<Row>`; a NULL is `<Value null="true"/>`.
fn xml_row(values: impl Iterator<Item = Value>) -> String {
    let mut element = String::from("<Row>");
    for value in values {
        match value {
            Value::Null => element.push_str("<Value null=\"true\"/>"),
            Value::String(s) => element.push_str(&format!("<Value>{}</Value>", xml_text(&s))),
            other => element.push_str(&format!("<Value>{other}</Value>")),
        }
    }
    element.push_str("</Row>\n");
    element
}

/// Text escaped for XML, without the characters XML 1.0 cannot hold.
fn xml_text(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).collect();
    html_escape::encode_text(&clean).into_owned()
}
