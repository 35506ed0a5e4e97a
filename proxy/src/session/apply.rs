//! A change set's transaction on one connection: BEGIN, each step, then
//! COMMIT when every step found its row, else ROLLBACK.

use super::work::{Applied, Step};
use crate::pg::{self, BinaryCodec, Collector, Connection};

/// Runs `steps` in a transaction of their own. `commit_sent` turns true
/// once the COMMIT is on its way: a connection lost after that leaves the
/// outcome unknown. Errors are only those that broke the connection (or
/// the BEGIN / ROLLBACK around the steps).
pub(super) async fn transaction(
    conn: &mut Connection,
    steps: &[Step],
    codec: BinaryCodec,
    max_bytes: usize,
    commit_sent: &mut bool,
) -> Result<Applied, pg::Error> {
    conn.simple_query("BEGIN", &mut Collector::unbounded()).await?;
    let mut results = Vec::with_capacity(steps.len());
    let mut conflicts = Vec::new();
    for (at, step) in steps.iter().enumerate() {
        let params: Vec<Option<&str>> = step.params.iter().map(Option::as_deref).collect();
        let mut out = Collector::new(codec, usize::MAX).with_max_bytes(max_bytes);
        match conn.query(&step.sql, &params, &mut out).await {
            Ok(()) => {}
            Err(error) if error.is_connection_lost() => return Err(error),
            Err(error) => {
                roll_back(conn).await?;
                return Ok(Applied::Failed { at, error });
            }
        }
        let result = out.into_last();
        if step.needs_row && result.completion.as_ref().and_then(|c| c.rows_affected) == Some(0) {
            conflicts.push(at);
        }
        results.push(result);
    }
    if !conflicts.is_empty() {
        roll_back(conn).await?;
        return Ok(Applied::Conflict(conflicts));
    }
    *commit_sent = true;
    match conn.simple_query("COMMIT", &mut Collector::unbounded()).await {
        Ok(()) => Ok(Applied::Committed(results)),
        Err(error) if error.is_connection_lost() => Err(error),
        // A deferred constraint, checked at commit: the server rolled back.
        Err(error) => Ok(Applied::Failed { at: steps.len(), error }),
    }
}

async fn roll_back(conn: &mut Connection) -> Result<(), pg::Error> {
    conn.simple_query("ROLLBACK", &mut Collector::unbounded()).await
}
