//! The event log: every runtime event, numbered per runtime when written.

use super::{Store, StoreError};

/// A run cursor to advance together with the events a chunk produced; the
/// run of turn `turn_id` is recorded with its first chunks.
#[derive(Debug, Clone, Copy)]
pub struct CursorAdvance<'a> {
    pub run_id: &'a str,
    pub turn_id: &'a str,
    pub seq_id: u64,
}

impl Store {
    /// The highest `event_seq` written for the runtime (0 if none).
    pub async fn last_event_seq(&self, runtime_id: i64) -> Result<u64, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(event_seq) FROM events WHERE runtime_id = ?")
                .bind(runtime_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(last.and_then(|seq| u64::try_from(seq).ok()).unwrap_or(0))
    }

    /// Writes events (and advances a run cursor) in one transaction: after a
    /// crash either all of it is there or none.
    pub async fn append_events(
        &self,
        runtime_id: i64,
        events: &[(u64, &str)],
        cursor: Option<CursorAdvance<'_>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        for (event_seq, frame) in events {
            sqlx::query("INSERT INTO events (runtime_id, event_seq, frame) VALUES (?, ?, ?)")
                .bind(runtime_id)
                .bind(to_i64(*event_seq))
                .bind(*frame)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(cursor) = cursor {
            sqlx::query(
                "INSERT INTO runs (run_id, runtime_id, turn_id, status, last_seq_id)
                 VALUES (?, ?, ?, 'streaming', ?)
                 ON CONFLICT (run_id) DO UPDATE SET last_seq_id = MAX(last_seq_id, excluded.last_seq_id)",
            )
            .bind(cursor.run_id)
            .bind(runtime_id)
            .bind(cursor.turn_id)
            .bind(to_i64(cursor.seq_id))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` events after `after`, in order.
    pub async fn events_after(
        &self,
        runtime_id: i64,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT event_seq, frame FROM events WHERE runtime_id = ? AND event_seq > ? ORDER BY event_seq LIMIT ?",
        )
        .bind(runtime_id)
        .bind(to_i64(after))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, frame)| (u64::try_from(seq).unwrap_or(0), frame))
            .collect())
    }

    /// The oldest `event_seq` still stored (retention may have removed
    /// older ones); `None` when the log is empty.
    pub async fn first_event_seq(&self, runtime_id: i64) -> Result<Option<u64>, StoreError> {
        let first: Option<i64> =
            sqlx::query_scalar("SELECT MIN(event_seq) FROM events WHERE runtime_id = ?")
                .bind(runtime_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(first.and_then(|seq| u64::try_from(seq).ok()))
    }

    /// Keeps the newest `keep` events of the runtime.
    pub async fn trim_events(&self, runtime_id: i64, keep: u64) -> Result<u64, StoreError> {
        let removed = sqlx::query(
            "DELETE FROM events WHERE runtime_id = ? AND event_seq <= (SELECT MAX(event_seq) FROM events WHERE runtime_id = ?) - ?",
        )
        .bind(runtime_id)
        .bind(runtime_id)
        .bind(to_i64(keep))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(removed)
    }
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
