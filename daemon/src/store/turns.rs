//! The input journal, run cursors and external tool calls of turns.

use super::{Disposition, ExternalCallStatus, InputStatus, RunStatus, Store, StoreError};

/// An accepted input.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InputRow {
    pub id: i64,
    pub client_message_id: String,
    pub turn_id: String,
    pub disposition: Disposition,
    pub status: InputStatus,
    pub payload: String,
    pub accepted_at: String,
    pub terminal_consumer_id: Option<String>,
}

/// A stored run cursor.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub run_id: String,
    pub turn_id: String,
    pub last_seq_id: i64,
    pub status: RunStatus,
    pub stop_reason: Option<String>,
    /// JSON array of the tool calls the run stopped for.
    pub approval_calls: Option<String>,
}

/// A call of a frontend-executed tool.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExternalCallRow {
    pub request_id: String,
    pub turn_id: String,
    pub tool_call_id: String,
    pub tool_name: String,
    pub input: String,
    pub status: ExternalCallStatus,
    pub result: Option<String>,
}

/// What journaling an input did.
#[derive(Debug)]
pub enum Recorded {
    /// A new input, journaled.
    Accepted(InputRow),
    /// The `client_message_id` was seen before: its first record.
    Repeated(InputRow),
    /// A new input with no room for it; nothing written.
    Refused,
}

/// The columns of [`InputRow`], as a literal for `concat!`.
macro_rules! input_columns {
    () => {
        "id, client_message_id, turn_id, disposition, status, payload, accepted_at, terminal_consumer_id"
    };
}

/// An input to journal.
#[derive(Debug, Clone, Copy)]
pub struct NewInput<'a> {
    pub client_message_id: &'a str,
    pub turn_id: &'a str,
    pub disposition: Disposition,
    /// The `create_message` payload (JSON).
    pub payload: &'a str,
    /// The queue has room for it.
    pub room: bool,
    /// The working directory the payload's session context describes.
    pub described_cwd: Option<&'a str>,
    /// The skills it describes.
    pub described_skills: Option<&'a str>,
    /// The frontend to name in the turn's `turn_finished`.
    pub terminal_consumer_id: Option<&'a str>,
}

impl Store {
    /// Journals an input. If the same `client_message_id` was accepted
    /// before, nothing is written and the first record is returned as
    /// [`Recorded::Repeated`]; a new input without `room` is refused.
    ///
    /// Most inputs are one statement (the insert is its own transaction);
    /// one that describes the session context stores what it described
    /// with it, in a transaction.
    pub async fn record_input(
        &self,
        runtime_id: i64,
        input: NewInput<'_>,
    ) -> Result<Recorded, StoreError> {
        if !input.room {
            return Ok(match self.input_by_client_id(runtime_id, &input).await? {
                Some(existing) => Recorded::Repeated(existing),
                None => Recorded::Refused,
            });
        }
        if input.described_cwd.is_none() && input.described_skills.is_none() {
            let inserted = insert_input(&mut *self.connection().await?, runtime_id, &input).await?;
            return Ok(match inserted {
                Some(row) => Recorded::Accepted(row),
                None => Recorded::Repeated(self.first_record(runtime_id, &input).await?),
            });
        }
        let mut tx = self.write_transaction().await?;
        let Some(row) = insert_input(&mut tx, runtime_id, &input).await? else {
            // Gives the connection back for the read.
            drop(tx);
            return Ok(Recorded::Repeated(
                self.first_record(runtime_id, &input).await?,
            ));
        };
        sqlx::query(
            "UPDATE runtimes SET context_cwd = COALESCE(?, context_cwd),
             context_skills = COALESCE(?, context_skills) WHERE id = ?",
        )
        .bind(input.described_cwd)
        .bind(input.described_skills)
        .bind(runtime_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Recorded::Accepted(row))
    }

    async fn input_by_client_id(
        &self,
        runtime_id: i64,
        input: &NewInput<'_>,
    ) -> Result<Option<InputRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            input_columns!(),
            " FROM inputs WHERE runtime_id = ? AND client_message_id = ?"
        ))
        .bind(runtime_id)
        .bind(input.client_message_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?)
    }

    /// The record an insert ran into. Inputs are never deleted while their
    /// runtime exists, so it is there.
    async fn first_record(
        &self,
        runtime_id: i64,
        input: &NewInput<'_>,
    ) -> Result<InputRow, StoreError> {
        self.input_by_client_id(runtime_id, input)
            .await?
            .ok_or(StoreError::Sqlx(sqlx::Error::RowNotFound))
    }

    /// Inputs not finished yet, in queue order.
    pub async fn open_inputs(&self, runtime_id: i64) -> Result<Vec<InputRow>, StoreError> {
        let rows = sqlx::query_as(concat!(
            "SELECT ",
            input_columns!(),
            " FROM inputs WHERE runtime_id = ? AND status IN ('queued', 'running') ORDER BY id"
        ))
        .bind(runtime_id)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// When the runtime's newest input was accepted.
    pub async fn last_input_at(&self, runtime_id: i64) -> Result<Option<String>, StoreError> {
        let (at,): (Option<String>,) =
            sqlx::query_as("SELECT MAX(accepted_at) FROM inputs WHERE runtime_id = ?")
                .bind(runtime_id)
                .fetch_one(&mut *self.connection().await?)
                .await?;
        Ok(at)
    }

    pub async fn set_input_status(
        &self,
        input_id: i64,
        status: InputStatus,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE inputs SET status = ? WHERE id = ?")
            .bind(status)
            .bind(input_id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    /// Records a run the turn is streaming.
    pub async fn start_run(
        &self,
        run_id: &str,
        runtime_id: i64,
        turn_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (run_id, runtime_id, turn_id, status) VALUES (?, ?, ?, 'streaming')
             ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run_id)
        .bind(runtime_id)
        .bind(turn_id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// The most recent run the daemon recorded for a turn.
    pub async fn latest_run_of_turn(&self, turn_id: &str) -> Result<Option<RunRow>, StoreError> {
        let row = sqlx::query_as(
            "SELECT run_id, turn_id, last_seq_id, status, stop_reason, approval_calls
             FROM runs WHERE turn_id = ? ORDER BY rowid DESC LIMIT 1",
        )
        .bind(turn_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row)
    }

    pub async fn record_external_call(
        &self,
        runtime_id: i64,
        call: &ExternalCallRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO external_tool_calls (request_id, runtime_id, turn_id, tool_call_id, tool_name, input, status)
             VALUES (?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(&call.request_id)
        .bind(runtime_id)
        .bind(&call.turn_id)
        .bind(&call.tool_call_id)
        .bind(&call.tool_name)
        .bind(&call.input)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// Stores the answer to a pending external call; `false` when it was not
    /// pending (unknown, or answered already: the first answer wins).
    pub async fn answer_external_call(
        &self,
        runtime_id: i64,
        request_id: &str,
        result: &str,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE external_tool_calls SET status = 'answered', result = ?
             WHERE request_id = ? AND runtime_id = ? AND status = 'pending'",
        )
        .bind(result)
        .bind(request_id)
        .bind(runtime_id)
        .execute(&mut *self.connection().await?)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    pub async fn external_call(
        &self,
        request_id: &str,
    ) -> Result<Option<ExternalCallRow>, StoreError> {
        let row = sqlx::query_as(
            "SELECT request_id, turn_id, tool_call_id, tool_name, input, status, result
             FROM external_tool_calls WHERE request_id = ?",
        )
        .bind(request_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row)
    }

    pub async fn pending_external_calls(
        &self,
        runtime_id: i64,
    ) -> Result<Vec<ExternalCallRow>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT request_id, turn_id, tool_call_id, tool_name, input, status, result
             FROM external_tool_calls WHERE runtime_id = ? AND status = 'pending' ORDER BY rowid",
        )
        .bind(runtime_id)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }
}

/// Inserts a new input; `None` if its `client_message_id` was taken.
async fn insert_input(
    connection: &mut sqlx::SqliteConnection,
    runtime_id: i64,
    input: &NewInput<'_>,
) -> Result<Option<InputRow>, StoreError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO inputs (runtime_id, client_message_id, turn_id, disposition, status, payload, accepted_at, terminal_consumer_id)
         VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)
         ON CONFLICT (runtime_id, client_message_id) DO NOTHING RETURNING ",
        input_columns!()
    ))
    .bind(runtime_id)
    .bind(input.client_message_id)
    .bind(input.turn_id)
    .bind(input.disposition)
    .bind(input.payload)
    .bind(crate::util::now_rfc3339())
    .bind(input.terminal_consumer_id)
    .fetch_optional(connection)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::store_with_a_runtime;

    fn input<'a>(client_message_id: &'a str, room: bool) -> NewInput<'a> {
        NewInput {
            client_message_id,
            turn_id: "turn-1",
            disposition: Disposition::Started,
            payload: "{}",
            room,
            described_cwd: None,
            described_skills: None,
            terminal_consumer_id: None,
        }
    }

    #[tokio::test]
    async fn an_input_is_journaled_once_and_refused_only_when_new() {
        let (_dir, store, runtime) = store_with_a_runtime().await;
        let Recorded::Accepted(first) = store
            .record_input(runtime.id, input("cm-1", true))
            .await
            .unwrap()
        else {
            panic!("a new input is accepted")
        };
        assert_eq!(first.client_message_id, "cm-1");
        assert_eq!(first.status, InputStatus::Queued);
        for room in [true, false] {
            match store
                .record_input(runtime.id, input("cm-1", room))
                .await
                .unwrap()
            {
                Recorded::Repeated(again) => assert_eq!(again, first),
                other => panic!("the first record comes back, with room {room}: {other:?}"),
            }
        }
        assert!(matches!(
            store
                .record_input(runtime.id, input("cm-2", false))
                .await
                .unwrap(),
            Recorded::Refused
        ));
        assert_eq!(store.open_inputs(runtime.id).await.unwrap(), vec![first]);
    }

    #[tokio::test]
    async fn an_input_describing_its_context_stores_what_it_described() {
        let (_dir, store, runtime) = store_with_a_runtime().await;
        let described = NewInput {
            described_cwd: Some("/work"),
            described_skills: Some("[]"),
            ..input("cm-1", true)
        };
        assert!(matches!(
            store.record_input(runtime.id, described).await.unwrap(),
            Recorded::Accepted(_)
        ));
        let again = NewInput {
            described_cwd: Some("/elsewhere"),
            ..described
        };
        assert!(matches!(
            store.record_input(runtime.id, again).await.unwrap(),
            Recorded::Repeated(_)
        ));
        let runtime = store
            .find_runtime("agent-1", "default")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(runtime.context_cwd.as_deref(), Some("/work"));
        assert_eq!(runtime.context_skills.as_deref(), Some("[]"));
    }
}
