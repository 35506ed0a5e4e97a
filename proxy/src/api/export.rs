//! Streaming downloads of a query's rows as CSV (RFC 4180), JSON (an array of
//! objects) or XML (one element per row, NULLs kept), for `format=` on
//! `/api/query`, `/api/explain`, `/api/analyze` and a table's rows. Rows go
//! out as they arrive, in 64 KiB chunks through bounded channels: memory
//! stays flat and there is no row cap. A client that leaves closes the
//! channel, and the session cancels the statement on the server.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::{access, downloads};
use crate::app::App;
use crate::http::{Chunk, Request, Response};
use crate::pg::{BinaryCodec, Column, Row, to_json};
use crate::rescue;
use crate::session::{CHUNK, Mode, Output, RowEncoder, Session, Statement};

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

/// Starts the download of `sql`'s rows: the statement runs read-only on the
/// session's editor connection (a statement that writes is refused, never
/// run again), its rows encoded as they arrive. `kind` names it in the audit
/// log. `table` is the table a table export reads: its absence is then a 404.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    app: &App,
    session: &Arc<Session>,
    request: &Request,
    sql: String,
    params: Vec<Option<String>>,
    format: Format,
    kind: &'static str,
    table: Option<String>,
) -> Result<Response, ApiError> {
    let progress = downloads::claim(session, request)?;
    let renewal = access::renewal(app, session, request).await?;
    let (bytes, mut chunks) = mpsc::channel::<Bytes>(4);
    let (tx, rx) = mpsc::channel(4);
    let encoder = Box::new(Encoder::new(format, app.config.binary_codec));
    let statement = Statement {
        sql: sql.clone(),
        params,
        mode: Mode::Single,
        read_only: true,
        output: Output::Stream { encoder, chunks: bytes },
        history: kind != "rows",
    };
    let session = session.clone();
    let recorder = app.recorder();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let run = session.run(statement, renewal);
        tokio::pin!(run);
        // Chunks go out as they come; the statement's outcome ends the download.
        let mut ran = None;
        let mut abandoned = false;
        loop {
            tokio::select! {
                chunk = chunks.recv() => match chunk {
                    Some(chunk) => {
                        let len = chunk.len();
                        recorder.metrics.exported(len);
                        if tx.send(Chunk::Data(chunk)).await.is_err() {
                            // The client went away: a closed channel makes the session cancel the statement.
                            abandoned = true;
                            break;
                        }
                        progress.sent(len);
                    }
                    // The statement is over and every chunk is out.
                    None => break,
                },
                result = &mut run, if ran.is_none() => ran = Some(result),
                // The client left before the first (or next) chunk.
                () = tx.closed(), if ran.is_none() => {
                    abandoned = true;
                    break;
                }
            }
        }
        drop(chunks);
        // An abandoned run is not awaited: dropping it with the task cancels
        // the statement on the server.
        let outcome = if abandoned {
            Err(("the download was abandoned by the browser".to_owned(), "abandoned"))
        } else {
            let ran = match ran {
                Some(ran) => ran,
                None => run.await,
            };
            match ran {
                Ok(ran) => Ok(Some(ran.rows_streamed)),
                Err(e) => {
                    let error = ApiError::from_session(e, true);
                    let error = match &table {
                        Some(table) => error.in_table(table),
                        None => error,
                    };
                    let _ = tx.send(Chunk::Failed(Box::new(rescue::api(&error)))).await;
                    Err((error.to_string(), rescue::api_code(&error)))
                }
            }
        };
        match &outcome {
            Ok(rows) => progress.done(*rows),
            Err((error, code)) => progress.failed(error, code),
        }
        let outcome = outcome.map_err(|(error, _)| error);
        recorder.record(&session.subject(), kind, &sql, started.elapsed(), outcome);
    });
    let filename = request
        .param("filename")
        .map(|name| name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect::<String>())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| {
            format!("pgdoor-{}.{}", time::OffsetDateTime::now_utc().unix_timestamp(), format.extension())
        });
    Ok(Response::stream(format.content_type(), rx)
        .header("content-disposition", format!("attachment; filename=\"{filename}\""))
        .header("cache-control", "no-store"))
}

/// Encodes rows into a download format.
struct Encoder {
    format: Format,
    codec: BinaryCodec,
    columns: Vec<Column>,
    /// CSV output so far (RFC 4180 quoting by the csv crate).
    csv: csv::Writer<Vec<u8>>,
    /// JSON and XML output so far.
    buf: Vec<u8>,
    rows: u64,
}

impl Encoder {
    fn new(format: Format, codec: BinaryCodec) -> Self {
        Encoder {
            format,
            codec,
            columns: Vec::new(),
            csv: csv::Writer::from_writer(Vec::with_capacity(CHUNK)),
            buf: Vec::with_capacity(CHUNK),
            rows: 0,
        }
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
}

impl RowEncoder for Encoder {
    fn columns(&mut self, columns: &[Column]) {
        // Only the first result set with columns is exported.
        if self.columns.is_empty() && self.rows == 0 {
            self.columns = columns.to_vec();
            self.begin();
        }
    }

    fn row(&mut self, row: &Row<'_>) {
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
        self.rows += 1;
    }

    fn finish(&mut self) {
        if self.columns.is_empty() && self.rows == 0 {
            self.begin();
        }
        match self.format {
            Format::Csv => {}
            Format::Json => self.buf.extend_from_slice(b"\n]\n"),
            Format::Xml => self.buf.extend_from_slice(XML_TAIL.as_bytes()),
        }
    }

    fn pending(&self) -> usize {
        self.csv.get_ref().len() + self.buf.len()
    }

    fn take(&mut self) -> Bytes {
        match self.format {
            Format::Csv => {
                let done = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::with_capacity(CHUNK)));
                Bytes::from(done.into_inner().unwrap_or_default())
            }
            Format::Json | Format::Xml => Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK))),
        }
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
