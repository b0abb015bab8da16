//! Runtimes: which agent conversations the daemon runs, and their settings.

use super::{Store, StoreError};

/// A stored runtime.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RuntimeRow {
    pub id: i64,
    /// Empty for agent-free conversations.
    pub agent_id: String,
    pub conversation_id: String,
    pub cwd: String,
    pub permission_mode: String,
    pub queue_paused: bool,
    /// The toolset preference.
    pub toolset: String,
    /// Whether the session context is sent.
    pub session_context: bool,
    /// The working directory the session context last described.
    pub context_cwd: Option<String>,
    /// The skills it last described (JSON).
    pub context_skills: Option<String>,
    /// MCP servers of this runtime alone (JSON list).
    pub mcp_servers: String,
}

impl Store {
    /// Creates the runtime, or updates the settings of the existing one.
    pub async fn upsert_runtime(
        &self,
        agent_id: &str,
        conversation_id: &str,
        cwd: &str,
        permission_mode: &str,
        now: &str,
    ) -> Result<RuntimeRow, StoreError> {
        let row = sqlx::query_as(
            "INSERT INTO runtimes (agent_id, conversation_id, cwd, permission_mode, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (agent_id, conversation_id)
             DO UPDATE SET cwd = excluded.cwd, permission_mode = excluded.permission_mode
             RETURNING id, agent_id, conversation_id, cwd, permission_mode, queue_paused, toolset, session_context, context_cwd, context_skills, mcp_servers",
        )
        .bind(agent_id)
        .bind(conversation_id)
        .bind(cwd)
        .bind(permission_mode)
        .bind(now)
        .fetch_one(&mut *self.connection().await?)
        .await?;
        Ok(row)
    }

    pub async fn find_runtime(
        &self,
        agent_id: &str,
        conversation_id: &str,
    ) -> Result<Option<RuntimeRow>, StoreError> {
        let row = sqlx::query_as(
            "SELECT id, agent_id, conversation_id, cwd, permission_mode, queue_paused, toolset, session_context, context_cwd, context_skills, mcp_servers
             FROM runtimes WHERE agent_id = ? AND conversation_id = ?",
        )
        .bind(agent_id)
        .bind(conversation_id)
        .fetch_optional(&mut *self.connection().await?)
        .await?;
        Ok(row)
    }

    /// Every runtime's agent, conversation and working directory.
    pub async fn runtime_cwds(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows =
            sqlx::query_as("SELECT agent_id, conversation_id, cwd FROM runtimes ORDER BY id")
                .fetch_all(&mut *self.connection().await?)
                .await?;
        Ok(rows)
    }

    pub async fn load_runtimes(&self) -> Result<Vec<RuntimeRow>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT id, agent_id, conversation_id, cwd, permission_mode, queue_paused, toolset, session_context, context_cwd, context_skills, mcp_servers
             FROM runtimes ORDER BY id",
        )
        .fetch_all(&mut *self.connection().await?)
        .await?;
        Ok(rows)
    }

    pub async fn update_device_state(
        &self,
        runtime_id: i64,
        cwd: &str,
        permission_mode: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE runtimes SET cwd = ?, permission_mode = ? WHERE id = ?")
            .bind(cwd)
            .bind(permission_mode)
            .bind(runtime_id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    /// Keeps the runtime's own MCP servers (a JSON list).
    pub async fn set_runtime_mcp_servers(
        &self,
        runtime_id: i64,
        servers: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE runtimes SET mcp_servers = ? WHERE id = ?")
            .bind(servers)
            .bind(runtime_id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    pub async fn set_toolset(&self, runtime_id: i64, toolset: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runtimes SET toolset = ? WHERE id = ?")
            .bind(toolset)
            .bind(runtime_id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    pub async fn set_session_context(
        &self,
        runtime_id: i64,
        enabled: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE runtimes SET session_context = ? WHERE id = ?")
            .bind(enabled)
            .bind(runtime_id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }

    pub async fn set_queue_paused(&self, runtime_id: i64, paused: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE runtimes SET queue_paused = ? WHERE id = ?")
            .bind(paused)
            .bind(runtime_id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }
}
