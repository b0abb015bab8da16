//! Local runs: their input, every chunk they streamed, and how they ended.

use super::super::batch::Batch;
use super::super::{Store, StoreError};
use super::messages::{MessageScope, NewMessage, push_messages};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum LocalRunStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl LocalRunStatus {
    /// As Letta's runs API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalRunStatus::Running => "running",
            LocalRunStatus::Completed => "completed",
            LocalRunStatus::Failed => "failed",
            LocalRunStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LocalRunRow {
    pub id: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub status: LocalRunStatus,
    pub stop_reason: Option<String>,
    /// The digest of the client-side tools it offers (`local_tool_sets`).
    pub tool_set: String,
    pub steps: i64,
    pub usage: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
}

/// What one step of a run adds, written together: the messages it
/// produced, the chunks it streamed, the memory blocks it changed, and how
/// the run ended if it did.
#[derive(Debug, Default)]
pub struct RunProgress {
    pub messages: Vec<NewMessage>,
    pub chunks: Vec<(i64, String)>,
    /// `(block id, new value)`.
    pub blocks: Vec<(String, String)>,
    pub steps: Option<i64>,
    pub end: Option<RunEnding>,
}

#[derive(Debug)]
pub struct RunEnding {
    pub status: LocalRunStatus,
    pub stop_reason: String,
    pub usage: Option<String>,
    pub error: Option<String>,
}

/// What starting a run came to.
#[derive(Debug, PartialEq, Eq)]
pub enum RunStart {
    Started,
    /// An input message (by otid) was stored before, by this run.
    Repeated(String),
    /// This run of the conversation is still running.
    Busy(String),
}

/// Chunks written per statement: three parameters each, within SQLite's
/// 32,766.
const CHUNKS_PER_INSERT: usize = 1000;

/// Finished runs per conversation whose chunks are kept (for reattaching
/// after a restart); older runs keep their messages, not their chunks.
pub const RUNS_WITH_CHUNKS: i64 = 8;

macro_rules! run_columns {
    () => {
        "id, conversation_id, agent_id, status, stop_reason, tool_set, steps, usage, error, created_at"
    };
}

impl Store {
    /// Stores a run, the set of client tools it offers (`tools`, whose
    /// digest is `run.tool_set`) unless stored before, and the messages
    /// that start it. Nothing is written when one of those messages (by
    /// otid) was stored before, or another run of the conversation is
    /// running: the run that took the message, or the one running, is
    /// named instead.
    pub async fn start_local_run(
        &self,
        run: &LocalRunRow,
        tools: &str,
        input: &[NewMessage],
    ) -> Result<RunStart, StoreError> {
        let mut batch = Batch::new();
        batch
            .statement("INSERT OR IGNORE INTO local_tool_sets (digest, tools) VALUES (?, ?)")
            .bind(run.tool_set.as_str())
            .bind(tools);
        batch
            .statement(concat!(
                "INSERT INTO local_runs (",
                run_columns!(),
                ", updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(run.id.as_str())
            .bind(run.conversation_id.as_str())
            .bind(run.agent_id.as_str())
            .bind(run.status)
            .bind(run.stop_reason.as_deref())
            .bind(run.tool_set.as_str())
            .bind(run.steps)
            .bind(run.usage.as_deref())
            .bind(run.error.as_deref())
            .bind(run.created_at.as_str())
            .bind(run.created_at.as_str());
        let scope = MessageScope {
            conversation_id: &run.conversation_id,
            agent_id: &run.agent_id,
            run_id: Some(&run.id),
            now: &run.created_at,
        };
        push_messages(&mut batch, &scope, input);
        batch
            .statement("UPDATE local_conversations SET updated_at = ? WHERE id = ?")
            .bind(run.created_at.as_str())
            .bind(run.conversation_id.as_str());
        match batch.write(self).await {
            Ok(()) => Ok(RunStart::Started),
            // An input message's otid is unique in its conversation, and so
            // is a running run: the rows in the way say which it was.
            Err(StoreError::Sqlx(sqlx::Error::Database(err))) if err.is_unique_violation() => {
                if let Some(earlier) = self.local_run_of_otids(&run.conversation_id, input).await? {
                    return Ok(RunStart::Repeated(earlier));
                }
                if let Some(running) = self.running_local_run(&run.conversation_id).await? {
                    return Ok(RunStart::Busy(running.id));
                }
                Err(StoreError::Sqlx(sqlx::Error::Database(err)))
            }
            Err(err) => Err(err),
        }
    }

    /// The run that took one of these messages (by otid), if one did.
    pub async fn local_run_of_otids(
        &self,
        conversation_id: &str,
        messages: &[NewMessage],
    ) -> Result<Option<String>, StoreError> {
        for otid in messages
            .iter()
            .filter_map(|message| message.otid.as_deref())
        {
            let earlier: Option<(Option<String>,)> = sqlx::query_as(
                "SELECT run_id FROM local_messages WHERE conversation_id = ? AND otid = ?",
            )
            .bind(conversation_id)
            .bind(otid)
            .fetch_optional(&mut *self.connection().await?)
            .await?;
            if let Some((Some(run_id),)) = earlier {
                return Ok(Some(run_id));
            }
        }
        Ok(None)
    }

    /// Writes one step's progress of run `run` in one transaction.
    pub async fn record_run_progress(
        &self,
        run: &LocalRunRow,
        progress: RunProgress,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::new();
        let scope = MessageScope {
            conversation_id: &run.conversation_id,
            agent_id: &run.agent_id,
            run_id: Some(&run.id),
            now,
        };
        push_messages(&mut batch, &scope, &progress.messages);
        // A step streams tens to thousands of chunks: many rows a statement.
        for rows in progress.chunks.chunks(CHUNKS_PER_INSERT) {
            batch.text("INSERT INTO local_run_chunks (run_id, seq_id, chunk) VALUES (?, ?, ?)");
            batch.statement(&", (?, ?, ?)".repeat(rows.len() - 1));
            for (seq_id, chunk) in rows {
                batch
                    .bind(run.id.as_str())
                    .bind(*seq_id)
                    .bind(chunk.as_str());
            }
        }
        for (block_id, value) in &progress.blocks {
            batch
                .statement("UPDATE local_blocks SET value = ?, updated_at = ? WHERE id = ?")
                .bind(value.as_str())
                .bind(now)
                .bind(block_id.as_str());
        }
        if let Some(steps) = progress.steps {
            batch
                .statement("UPDATE local_runs SET steps = ?, updated_at = ? WHERE id = ?")
                .bind(steps)
                .bind(now)
                .bind(run.id.as_str());
        }
        if let Some(end) = &progress.end {
            batch
                .statement(
                    "UPDATE local_runs SET status = ?, stop_reason = ?, usage = ?, error = ?,
                     updated_at = ? WHERE id = ?",
                )
                .bind(end.status)
                .bind(end.stop_reason.as_str())
                .bind(end.usage.as_deref())
                .bind(end.error.as_deref())
                .bind(now)
                .bind(run.id.as_str());
            batch
                .statement(
                    "DELETE FROM local_run_chunks WHERE run_id IN (
                        SELECT id FROM local_runs WHERE conversation_id = ? AND status != 'running'
                        ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                )
                .bind(run.conversation_id.as_str())
                .bind(RUNS_WITH_CHUNKS);
        }
        batch.write(self).await
    }

    /// The client tools stored under `digest` (a JSON array), if any.
    pub async fn local_tool_set(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT tools FROM local_tool_sets WHERE digest = ?")
                .bind(digest)
                .fetch_optional(&mut *self.connection().await?)
                .await?;
        Ok(found.map(|(tools,)| tools))
    }

    /// Up to `limit` chunks of a run after `after`, in order.
    pub async fn local_run_chunks(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq_id, chunk FROM local_run_chunks WHERE run_id = ? AND seq_id > ?
             ORDER BY seq_id LIMIT ?",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// The highest `seq_id` of a run anyone may have seen: stored with the
    /// run, or committed to a runtime's run cursor (chunks of a step still
    /// streaming are stored only when the step ends). 0 before any.
    pub async fn local_run_seen_seq(&self, run_id: &str) -> Result<i64, StoreError> {
        let (seen,): (Option<i64>,) = sqlx::query_as(
            "SELECT MAX(COALESCE((SELECT MAX(seq_id) FROM local_run_chunks WHERE run_id = ?1), 0),
                        COALESCE((SELECT last_seq_id FROM runs WHERE run_id = ?1), 0))",
        )
        .bind(run_id)
        .fetch_one(&mut *self.connection().await?)
        .await?;
        Ok(seen.unwrap_or(0))
    }

    pub async fn local_run(&self, id: &str) -> Result<Option<LocalRunRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM local_runs WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&mut *self.connection().await?)
        .await?)
    }

    /// Runs of a conversation or of an agent, newest first.
    pub async fn local_runs(
        &self,
        conversation_id: Option<&str>,
        agent_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LocalRunRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM local_runs
             WHERE (?1 IS NULL OR conversation_id = ?1) AND (?2 IS NULL OR agent_id = ?2)
             ORDER BY created_at DESC, rowid DESC LIMIT ?3"
        ))
        .bind(conversation_id)
        .bind(agent_id)
        .bind(limit)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// The run of a conversation still running, if any.
    pub async fn running_local_run(
        &self,
        conversation_id: &str,
    ) -> Result<Option<LocalRunRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM local_runs WHERE conversation_id = ? AND status = 'running'
             ORDER BY rowid DESC LIMIT 1"
        ))
        .bind(conversation_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::default_conversation_key;
    use crate::store::local::fixtures::{agent, run};

    /// A step that streamed `chunks` and ended its run with `end_turn`.
    fn completed(chunks: Vec<(i64, String)>) -> RunProgress {
        RunProgress {
            chunks,
            end: Some(RunEnding {
                status: LocalRunStatus::Completed,
                stop_reason: "end_turn".into(),
                usage: None,
                error: None,
            }),
            ..RunProgress::default()
        }
    }

    #[tokio::test]
    async fn a_message_sent_twice_starts_one_run_and_names_it_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        store.create_local_agent(&agent(), &[]).await.unwrap();
        let message = NewMessage {
            id: "message-1".into(),
            otid: Some("otid-1".into()),
            content: "hello".into(),
            ..NewMessage::default()
        };
        let first = run("run-1", 1);
        assert_eq!(
            store
                .start_local_run(&first, "[]", std::slice::from_ref(&message))
                .await
                .unwrap(),
            RunStart::Started
        );
        let again = NewMessage {
            id: "message-2".into(),
            ..message
        };
        let second = run("run-2", 2);
        assert_eq!(
            store
                .start_local_run(&second, "[]", &[again])
                .await
                .unwrap(),
            RunStart::Repeated("run-1".to_owned())
        );
        assert!(
            store.local_run("run-2").await.unwrap().is_none(),
            "nothing of it is stored"
        );
        let conversation = default_conversation_key("agent-1");
        let stored = store.local_messages_from(&conversation, 0).await.unwrap();
        assert_eq!(stored.len(), 1);
    }

    #[tokio::test]
    async fn a_conversation_starts_no_run_while_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        store.create_local_agent(&agent(), &[]).await.unwrap();
        let said = |id: &str| NewMessage {
            id: id.into(),
            content: "hello".into(),
            ..NewMessage::default()
        };
        let first = run("run-1", 1);
        assert_eq!(
            store
                .start_local_run(&first, "[]", &[said("message-1")])
                .await
                .unwrap(),
            RunStart::Started
        );
        assert_eq!(
            store
                .start_local_run(&run("run-2", 2), "[]", &[said("message-2")])
                .await
                .unwrap(),
            RunStart::Busy("run-1".to_owned())
        );
        assert!(store.local_run("run-2").await.unwrap().is_none());
        let conversation = default_conversation_key("agent-1");
        let stored = store.local_messages_from(&conversation, 0).await.unwrap();
        assert_eq!(stored.len(), 1, "the second message is not stored");

        store
            .record_run_progress(&first, completed(Vec::new()), "t")
            .await
            .unwrap();
        assert_eq!(
            store
                .start_local_run(&run("run-2", 2), "[]", &[said("message-2")])
                .await
                .unwrap(),
            RunStart::Started
        );
    }

    #[tokio::test]
    async fn of_runs_left_running_side_by_side_the_newest_stays_running() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let mut connection = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            crate::store::MIGRATOR
                .run_to(20, &mut connection)
                .await
                .unwrap();
            sqlx::raw_sql(
                "INSERT INTO local_agents (id, name, model, system, created_at, updated_at)
                     VALUES ('agent-1', 'a', 'p/m', '', 't', 't');
                 INSERT INTO local_conversations (id, agent_id, created_at, updated_at)
                     VALUES ('c', 'agent-1', 't', 't');
                 INSERT INTO local_runs (id, conversation_id, agent_id, status, created_at, updated_at)
                     VALUES ('run-1', 'c', 'agent-1', 'running', 't1', 't1'),
                            ('run-2', 'c', 'agent-1', 'running', 't2', 't2');",
            )
            .execute(&mut connection)
            .await
            .unwrap();
            connection.close().await.unwrap();
        }
        let store = Store::open(&path).await.unwrap();
        let older = store.local_run("run-1").await.unwrap().unwrap();
        assert_eq!(older.status, LocalRunStatus::Failed);
        assert_eq!(older.stop_reason.as_deref(), Some("error"));
        let running = store.running_local_run("c").await.unwrap().unwrap();
        assert_eq!(running.id, "run-2");
    }

    #[tokio::test]
    async fn only_recent_runs_keep_their_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        store.create_local_agent(&agent(), &[]).await.unwrap();
        for index in 0..RUNS_WITH_CHUNKS + 3 {
            let run = run(&format!("run-{index}"), index);
            assert_eq!(
                store.start_local_run(&run, "[]", &[]).await.unwrap(),
                RunStart::Started
            );
            let progress = completed(vec![(1, "{}".into())]);
            store
                .record_run_progress(&run, progress, "t")
                .await
                .unwrap();
        }
        let mut kept = 0;
        for index in 0..RUNS_WITH_CHUNKS + 3 {
            if !store
                .local_run_chunks(&format!("run-{index}"), 0, 10)
                .await
                .unwrap()
                .is_empty()
            {
                kept += 1;
                assert!(index >= 3, "run-{index} is among the oldest");
            }
        }
        assert_eq!(kept, RUNS_WITH_CHUNKS);
    }
}
