//! What a query produces: column descriptions, rows, and per-statement
//! completions, pushed into a caller's [`Sink`] as they arrive so that no
//! result is ever buffered whole by the client.

use std::future::{Future, ready};
use std::ops::Range;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::error::DbError;
use super::value::{BinaryCodec, to_json};

/// The error a sink reports; it stops the query (which is then cancelled).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// One column of a result set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Column name (`?column?` when the server made one up).
    pub name: String,
    /// Type OID, which decides how values are converted.
    pub type_oid: u32,
    /// OID of the table the column comes from, or 0.
    pub table_oid: u32,
    /// Attribute number in that table, or 0.
    pub column_id: i16,
    /// Type modifier (`varchar(n)`, `numeric(p,s)`), or -1.
    pub type_modifier: i32,
}

/// One row, borrowed from the message it arrived in. Values are PostgreSQL's
/// text form; `None` is NULL.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) ranges: &'a [Option<Range<usize>>],
}

impl<'a> Row<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The text bytes of value `index`, `None` for NULL (or out of range).
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        let range = self.ranges.get(index)?.clone()?;
        self.buf.get(range)
    }

    /// All values in order.
    pub fn values(&self) -> impl Iterator<Item = Option<&'a [u8]>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// The end of one statement's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completion {
    /// The command tag (`SELECT 3`, `INSERT 0 1`, `CREATE TABLE`); empty for an empty query.
    pub tag: String,
    /// Rows returned or touched, when the tag says.
    pub rows_affected: Option<u64>,
    /// Time from the previous statement's end (or the query's start) to this one's.
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl Completion {
    pub(crate) fn new(tag: &str, duration: Duration) -> Self {
        let mut words = tag.split_whitespace();
        let counted = matches!(
            words.next(),
            Some("SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "MOVE" | "FETCH" | "COPY")
        );
        let rows_affected = if counted { words.last().and_then(|n| n.parse().ok()) } else { None };
        Completion { tag: tag.to_owned(), rows_affected, duration }
    }
}

/// Receives a query's output as it streams in.
///
/// The methods return futures so that a sink can wait for room downstream
/// (backpressure); a sink that only collects returns ready futures.
pub trait Sink: Send {
    /// A result set starts with these columns.
    fn columns(&mut self, columns: &[Column]) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// One row of the current result set.
    fn row(&mut self, row: &Row<'_>) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// A statement finished (with or without a result set before it).
    fn complete(&mut self, done: &Completion) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// A notice or warning from the server.
    fn notice(&mut self, notice: DbError) {
        tracing::debug!(code = %notice.code, "server notice: {}", notice.message);
    }
}

/// One statement's result, with values already converted to JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResultSet {
    /// Columns; empty for statements that return no rows.
    pub columns: Vec<Column>,
    /// Rows kept (at most the collector's cap).
    pub rows: Vec<Vec<Value>>,
    /// Rows the server sent, kept or not.
    pub rows_seen: u64,
    /// True when rows were dropped because of the cap.
    pub truncated: bool,
    /// True when the byte cap, not the row cap, dropped them.
    pub truncated_at_bytes: bool,
    /// How the statement ended; `None` if an error cut it short.
    pub completion: Option<Completion>,
}

/// A sink that keeps every result set in memory, up to `max_rows` rows each;
/// rows past the cap are counted and dropped.
#[derive(Debug)]
pub struct Collector {
    /// Finished and current result sets, in order.
    pub results: Vec<ResultSet>,
    /// Notices and warnings, in order, up to [`MAX_NOTICES`] and [`MAX_NOTICE_BYTES`].
    pub notices: Vec<DbError>,
    /// Notices past the caps, counted and dropped.
    pub notices_dropped: u64,
    codec: BinaryCodec,
    max_rows: usize,
    max_bytes: usize,
    bytes: usize,
    notice_bytes: usize,
    open: bool,
}

/// The most notices one statement keeps.
pub const MAX_NOTICES: usize = 1_000;

/// The most bytes of notice text one statement keeps.
pub const MAX_NOTICE_BYTES: usize = 256 * 1024;

/// What a kept value costs beyond its text (the JSON value and its vector slot).
const VALUE_OVERHEAD: usize = 40;

impl Collector {
    /// A collector that keeps up to `max_rows` rows per result set.
    pub fn new(codec: BinaryCodec, max_rows: usize) -> Self {
        Collector {
            results: Vec::new(),
            notices: Vec::new(),
            notices_dropped: 0,
            codec,
            max_rows,
            max_bytes: usize::MAX,
            bytes: 0,
            notice_bytes: 0,
            open: false,
        }
    }

    /// Also keeps at most about `max_bytes` of values over all result sets;
    /// past it, rows are counted, not kept, as past the row cap.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// A collector without a cap, for pgdoor's own small catalog queries.
    pub fn unbounded() -> Self {
        Collector::new(BinaryCodec::None, usize::MAX)
    }

    /// The last result set, or an empty one when there was none.
    pub fn into_last(mut self) -> ResultSet {
        self.results.pop().unwrap_or_default()
    }

    fn current(&mut self) -> &mut ResultSet {
        if !self.open {
            self.results.push(ResultSet::default());
            self.open = true;
        }
        self.results.last_mut().expect("a result set was just opened")
    }
}

impl Sink for Collector {
    fn columns(&mut self, columns: &[Column]) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.open = false;
        self.current().columns = columns.to_vec();
        ready(Ok(()))
    }

    fn row(&mut self, row: &Row<'_>) -> impl Future<Output = Result<(), SinkError>> + Send {
        let (codec, max_rows, max_bytes, used) = (self.codec, self.max_rows, self.max_bytes, self.bytes);
        let size: usize = row.values().map(|v| v.map_or(0, <[u8]>::len) + VALUE_OVERHEAD).sum();
        let result = self.current();
        result.rows_seen += 1;
        if result.truncated {
            // Once a cap is met, later rows are only counted.
        } else if result.rows.len() >= max_rows {
            result.truncated = true;
        } else if used.saturating_add(size) > max_bytes {
            result.truncated = true;
            result.truncated_at_bytes = true;
        } else {
            let values = row.values().zip(&result.columns).map(|(v, c)| to_json(c.type_oid, v, codec)).collect();
            result.rows.push(values);
            self.bytes = used + size;
        }
        ready(Ok(()))
    }

    fn complete(&mut self, done: &Completion) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.current().completion = Some(done.clone());
        self.open = false;
        ready(Ok(()))
    }

    fn notice(&mut self, notice: DbError) {
        let size = notice.message.len()
            + notice.detail.as_ref().map_or(0, String::len)
            + notice.hint.as_ref().map_or(0, String::len);
        if self.notices.len() < MAX_NOTICES && self.notice_bytes + size <= MAX_NOTICE_BYTES {
            self.notice_bytes += size;
            self.notices.push(notice);
        } else {
            self.notices_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_affected_comes_from_counting_tags_only() {
        let d = Duration::ZERO;
        assert_eq!(Completion::new("INSERT 0 2", d).rows_affected, Some(2));
        assert_eq!(Completion::new("UPDATE 7", d).rows_affected, Some(7));
        assert_eq!(Completion::new("SELECT 0", d).rows_affected, Some(0));
        assert_eq!(Completion::new("COPY 1", d).rows_affected, Some(1));
        assert_eq!(Completion::new("CREATE TABLE", d).rows_affected, None);
        assert_eq!(Completion::new("BEGIN", d).rows_affected, None);
    }
}
