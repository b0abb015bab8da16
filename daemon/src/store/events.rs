//! The event log: every runtime event, numbered per runtime when written.

use super::batch::Batch;
use super::tool_calls::{self, ToolResult};
use super::{InputStatus, RunStatus, Store, StoreError};

/// A run cursor to advance together with the events a chunk produced; the
/// run of turn `turn_id` is recorded with its first chunks, and marked
/// completed with its last ones.
#[derive(Debug, Clone)]
pub struct CursorAdvance {
    pub run_id: String,
    pub turn_id: String,
    pub seq_id: u64,
    pub finish: Option<RunFinish>,
}

/// How a run ended and, for `requires_approval`, the calls it stopped for
/// (JSON).
#[derive(Debug, Clone, Default)]
pub struct RunFinish {
    pub stop_reason: Option<String>,
    pub approval_calls: Option<String>,
}

/// An input's new status, written with the events that announce it: a
/// crash cannot leave a turn marked done without the `turn_finished` that
/// tells frontends, nor one marked running without its `queue_update`.
#[derive(Debug, Clone, Copy)]
pub struct InputStatusUpdate {
    pub input_id: i64,
    pub status: InputStatus,
}

/// A change of state written in the transaction of the events that tell
/// of it: after a crash, either both are there or neither.
#[derive(Debug, Clone)]
pub enum StateChange {
    /// An input's new status.
    Input(InputStatusUpdate),
    /// A decided tool call starts executing (with its `client_tool_start`).
    ToolStarted { tool_call_id: String },
    /// A tool call's result (with its `client_tool_end` and return message).
    ToolResult(ToolResult),
}

impl Store {
    /// The highest `event_seq` written for the runtime (0 if none).
    pub async fn last_event_seq(&self, runtime_id: i64) -> Result<u64, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(event_seq) FROM events WHERE runtime_id = ?")
                .bind(runtime_id)
                .fetch_one(&mut *self.connection().await?)
                .await?;
        Ok(last.and_then(|seq| u64::try_from(seq).ok()).unwrap_or(0))
    }

    /// Writes events (with a run cursor's advance and a change of state they
    /// tell of) in one transaction: after a crash either all of it is there or none.
    ///
    /// This runs for every chunk a frontend sees, so it is one [`Batch`].
    pub async fn append_events(
        &self,
        runtime_id: i64,
        events: &[(u64, &str)],
        cursor: Option<CursorAdvance>,
        change: Option<StateChange>,
    ) -> Result<(), StoreError> {
        if events.is_empty() && cursor.is_none() && change.is_none() {
            return Ok(());
        }
        let mut batch = Batch::new();
        if !events.is_empty() {
            batch.text("INSERT INTO events (runtime_id, event_seq, frame) VALUES (?, ?, ?)");
            batch.statement(&", (?, ?, ?)".repeat(events.len() - 1));
            for (event_seq, frame) in events {
                batch.bind(runtime_id).bind(to_i64(*event_seq)).bind(*frame);
            }
        }
        if let Some(cursor) = cursor {
            batch
                .statement(
                    "INSERT INTO runs (run_id, runtime_id, turn_id, status, last_seq_id)
                     VALUES (?, ?, ?, 'streaming', ?)
                     ON CONFLICT (run_id) DO UPDATE SET last_seq_id = MAX(last_seq_id, excluded.last_seq_id)",
                )
                .bind(cursor.run_id.clone())
                .bind(runtime_id)
                .bind(cursor.turn_id)
                .bind(to_i64(cursor.seq_id));
            if let Some(finish) = cursor.finish {
                batch
                    .statement(
                        "UPDATE runs SET status = ?, stop_reason = ?, approval_calls = ?
                         WHERE run_id = ?",
                    )
                    .bind(RunStatus::Completed)
                    .bind(finish.stop_reason)
                    .bind(finish.approval_calls)
                    .bind(cursor.run_id);
            }
        }
        match change {
            Some(StateChange::Input(update)) => {
                batch
                    .statement("UPDATE inputs SET status = ? WHERE id = ?")
                    .bind(update.status)
                    .bind(update.input_id);
            }
            Some(StateChange::ToolStarted { tool_call_id }) => {
                tool_calls::write_start(&mut batch, tool_call_id)
            }
            Some(StateChange::ToolResult(result)) => tool_calls::write_result(&mut batch, result),
            None => {}
        }
        batch.write(self).await
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
        .fetch_all(&mut *self.connection().await?)
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
                .fetch_one(&mut *self.connection().await?)
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
        .execute(&mut *self.connection().await?)
        .await?
        .rows_affected();
        Ok(removed)
    }
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::store_with_a_runtime;

    async fn store_with_runtime() -> (tempfile::TempDir, Store, i64) {
        let (dir, store, runtime) = store_with_a_runtime().await;
        (dir, store, runtime.id)
    }

    #[tokio::test]
    async fn events_and_the_cursor_are_written_together() {
        let (_dir, store, runtime) = store_with_runtime().await;
        let cursor = |seq_id| CursorAdvance {
            run_id: "run-1".into(),
            turn_id: "turn-1".into(),
            seq_id,
            finish: None,
        };
        store
            .append_events(
                runtime,
                &[(1, "a"), (2, "b"), (3, "c")],
                Some(cursor(7)),
                None,
            )
            .await
            .unwrap();
        store
            .append_events(runtime, &[], Some(cursor(5)), None)
            .await
            .unwrap();
        store
            .append_events(runtime, &[(4, "d")], None, None)
            .await
            .unwrap();

        let events = store.events_after(runtime, 0, 10).await.unwrap();
        let frames: Vec<_> = events.iter().map(|(seq, f)| (*seq, f.as_str())).collect();
        assert_eq!(frames, [(1, "a"), (2, "b"), (3, "c"), (4, "d")]);
        let run = store.latest_run_of_turn("turn-1").await.unwrap().unwrap();
        assert_eq!(run.last_seq_id, 7, "a cursor never moves back");
    }

    #[tokio::test]
    async fn a_run_is_finished_in_the_transaction_of_its_last_events() {
        let (_dir, store, runtime) = store_with_runtime().await;
        let cursor = |seq_id, finish| CursorAdvance {
            run_id: "run-1".into(),
            turn_id: "turn-1".into(),
            seq_id,
            finish,
        };
        store
            .append_events(runtime, &[(1, "a")], Some(cursor(1, None)), None)
            .await
            .unwrap();
        let run = store.latest_run_of_turn("turn-1").await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Streaming);
        let finish = RunFinish {
            stop_reason: Some("requires_approval".into()),
            approval_calls: Some("[]".into()),
        };
        store
            .append_events(runtime, &[(2, "b")], Some(cursor(2, Some(finish))), None)
            .await
            .unwrap();
        let run = store.latest_run_of_turn("turn-1").await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.stop_reason.as_deref(), Some("requires_approval"));
        assert_eq!(run.approval_calls.as_deref(), Some("[]"));
        assert_eq!(run.last_seq_id, 2);
    }

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_and_the_store_usable() {
        let (_dir, store, runtime) = store_with_runtime().await;
        store
            .append_events(runtime, &[(1, "a")], None, None)
            .await
            .unwrap();
        let cursor = CursorAdvance {
            run_id: "run-1".into(),
            turn_id: "turn-1".into(),
            seq_id: 3,
            finish: None,
        };
        // Event 1 exists: the batch fails on its second row.
        let duplicate = store
            .append_events(runtime, &[(2, "b"), (1, "again")], Some(cursor), None)
            .await;
        assert!(duplicate.is_err());
        assert_eq!(store.events_after(runtime, 0, 10).await.unwrap().len(), 1);
        assert!(store.latest_run_of_turn("turn-1").await.unwrap().is_none());

        // The batch that failed left no transaction open on the connection:
        // later writes go through.
        for seq in 2..10 {
            store
                .append_events(runtime, &[(seq, "x")], None, None)
                .await
                .unwrap();
        }
        assert_eq!(store.last_event_seq(runtime).await.unwrap(), 9);
    }

    /// A writer that goes away mid-write (an aborted turn, a closed
    /// connection) must not leave its transaction open on the connection:
    /// the next statements would run inside it, and no other writer would
    /// get SQLite's write lock.
    #[tokio::test]
    async fn a_write_abandoned_midway_leaves_the_database_writable() {
        let (_dir, store, runtime) = store_with_runtime().await;
        let frame = "x".repeat(2000);
        let mut next = 1u64;
        for yields in 0..40 {
            let rows: Vec<(u64, String)> =
                (next..next + 200).map(|seq| (seq, frame.clone())).collect();
            next += 200;
            let writer = tokio::spawn({
                let store = store.clone();
                async move {
                    let rows: Vec<(u64, &str)> = rows
                        .iter()
                        .map(|(seq, frame)| (*seq, frame.as_str()))
                        .collect();
                    store.append_events(runtime, &rows, None, None).await
                }
            });
            for _ in 0..yields % 8 {
                tokio::task::yield_now().await;
            }
            writer.abort();
            let _ = writer.await;

            // A transaction left open would fail this one's BEGIN, or take
            // it in and lose it.
            let marker = 1_000_000 + yields;
            let next = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                store.append_events(runtime, &[(marker, "marker")], None, None),
            )
            .await;
            assert!(
                matches!(next, Ok(Ok(()))),
                "after abandoning write {yields}: {next:?}"
            );
            let written = store.events_after(runtime, 0, 100_000).await.unwrap();
            let markers = written.iter().filter(|event| event.0 >= 1_000_000).count();
            assert_eq!(markers as u64, yields + 1, "a marker was lost");
            assert_eq!((written.len() - markers) % 200, 0, "half a write stayed");
        }
    }
}
