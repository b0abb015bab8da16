//! Subagents an agent launched: their conversations, how they ended, and
//! whether the parent was told.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubagentRow {
    pub id: String,
    pub parent_runtime_id: i64,
    pub tool_call_id: String,
    pub subagent_type: String,
    pub description: String,
    pub prompt: String,
    pub agent_id: Option<String>,
    pub conversation_id: Option<String>,
    pub assignment: String,
    pub status: String,
    pub result: Option<String>,
    pub error: Option<String>,
    /// The parent is sent the report as a message (else only the frontend
    /// that launched it reads it).
    pub tell_parent: bool,
    /// The launching `Agent` call waits for the report and returns it.
    pub foreground: bool,
    pub notified: bool,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

/// The columns of a [`SubagentRow`], for `concat!`.
macro_rules! columns {
    () => {
        "id, parent_runtime_id, tool_call_id, subagent_type, description, prompt, agent_id, \
         conversation_id, assignment, status, result, error, tell_parent, foreground, notified, \
         started_at_ms, finished_at_ms"
    };
}

impl Store {
    /// Records a launch; one already recorded for the same tool call stays
    /// as it is and is returned.
    pub async fn launch_subagent(&self, row: &SubagentRow) -> Result<SubagentRow, StoreError> {
        sqlx::query(
            "INSERT INTO subagents (id, parent_runtime_id, tool_call_id, subagent_type, \
             description, prompt, agent_id, conversation_id, assignment, status, tell_parent, \
             foreground, started_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'launching', ?, ?, ?) ON CONFLICT (tool_call_id) DO NOTHING",
        )
        .bind(&row.id)
        .bind(row.parent_runtime_id)
        .bind(&row.tool_call_id)
        .bind(&row.subagent_type)
        .bind(&row.description)
        .bind(&row.prompt)
        .bind(&row.agent_id)
        .bind(&row.conversation_id)
        .bind(&row.assignment)
        .bind(row.tell_parent)
        .bind(row.foreground)
        .bind(row.started_at_ms)
        .execute(&mut *self.connection().await?)
        .await?;
        let stored = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subagents WHERE tool_call_id = ?"
        ))
        .bind(&row.tool_call_id)
        .fetch_one(&mut *self.connection().await?)
        .await?;
        Ok(stored)
    }

    /// Notes the subagent's conversation once it exists.
    pub async fn set_subagent_conversation(
        &self,
        id: &str,
        agent_id: &str,
        conversation_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE subagents SET agent_id = ?, conversation_id = ?, status = 'running' WHERE id = ?",
        )
        .bind(agent_id)
        .bind(conversation_id)
        .bind(id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// Records how the subagent's task ended (the first end recorded stays).
    pub async fn finish_subagent(
        &self,
        id: &str,
        status: &str,
        result: Option<&str>,
        error: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE subagents SET status = ?, result = ?, error = ?, finished_at_ms = ? \
             WHERE id = ? AND status IN ('launching', 'running')",
        )
        .bind(status)
        .bind(result)
        .bind(error)
        .bind(at_ms)
        .bind(id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    pub async fn mark_subagent_notified(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE subagents SET notified = 1 WHERE id = ?")
            .bind(id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    pub async fn subagent(&self, id: &str) -> Result<Option<SubagentRow>, StoreError> {
        let row = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subagents WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row)
    }

    /// The subagents a runtime launched, oldest first, at most `limit`
    /// newest.
    pub async fn subagents_of(
        &self,
        parent_runtime_id: i64,
        limit: i64,
    ) -> Result<Vec<SubagentRow>, StoreError> {
        let mut rows: Vec<SubagentRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subagents WHERE parent_runtime_id = ? \
             ORDER BY started_at_ms DESC, id DESC LIMIT ?"
        ))
        .bind(parent_runtime_id)
        .bind(limit)
        .fetch_all(&mut *self.connection().await?)
        .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Subagents whose parent was not told of their end yet.
    pub async fn unreported_subagents(&self) -> Result<Vec<SubagentRow>, StoreError> {
        let rows = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subagents WHERE notified = 0 ORDER BY started_at_ms"
        ))
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    /// The subagent whose conversation this is, if it is one.
    pub async fn subagent_parent_of(
        &self,
        conversation_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT parent_runtime_id FROM subagents WHERE conversation_id = ? LIMIT 1",
        )
        .bind(conversation_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row.map(|(parent,)| parent))
    }

    /// Follows a subagent of `parent_runtime_id` that already reported
    /// again, for the input `assignment` it was just given; returns its id.
    /// One launched in the foreground works in the background from now on:
    /// the call that waited for it has returned, so its parent is told.
    pub async fn resume_subagent(
        &self,
        parent_runtime_id: i64,
        conversation_id: &str,
        assignment: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE subagents SET status = 'running', notified = 0, result = NULL, error = NULL, \
             finished_at_ms = NULL, assignment = ?, \
             tell_parent = CASE WHEN foreground = 1 THEN 1 ELSE tell_parent END, foreground = 0 \
             WHERE parent_runtime_id = ? AND conversation_id = ? AND notified = 1 RETURNING id",
        )
        .bind(assignment)
        .bind(parent_runtime_id)
        .bind(conversation_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Whether the conversation is a subagent of `parent_runtime_id`.
    pub async fn is_subagent_of(
        &self,
        parent_runtime_id: i64,
        conversation_id: &str,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM subagents WHERE parent_runtime_id = ? AND conversation_id = ? LIMIT 1",
        )
        .bind(parent_runtime_id)
        .bind(conversation_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row.is_some())
    }

    /// How many subagents are still working.
    pub async fn running_subagents(&self) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM subagents WHERE status IN ('launching', 'running')",
        )
        .fetch_one(&mut *self.connection().await?)
        .await?;
        Ok(count)
    }

    /// How an input of a runtime ended, by its client_message_id; `None`
    /// while there is no such input.
    pub async fn input_status(
        &self,
        runtime_id: i64,
        client_message_id: &str,
    ) -> Result<Option<super::InputStatus>, StoreError> {
        let row: Option<(super::InputStatus,)> = sqlx::query_as(
            "SELECT status FROM inputs WHERE runtime_id = ? AND client_message_id = ?",
        )
        .bind(runtime_id)
        .bind(client_message_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row.map(|(status,)| status))
    }
}
