//! Local agents, their memory blocks and their conversations.

use super::super::{Store, StoreError};
use super::default_conversation_key;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LocalAgentRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub model: String,
    pub system: String,
    pub tool_rules: String,
    pub tags: String,
    pub metadata: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LocalBlockRow {
    pub id: String,
    pub label: String,
    pub description: String,
    pub value: String,
    pub char_limit: i64,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LocalConversationRow {
    pub id: String,
    pub agent_id: String,
    pub summary: String,
    pub context_start: i64,
    pub created_at: String,
    pub updated_at: String,
}

macro_rules! agent_columns {
    () => {
        "id, name, description, model, system, tool_rules, tags, metadata, created_at, updated_at"
    };
}
macro_rules! conversation_columns {
    () => {
        "id, agent_id, summary, context_start, created_at, updated_at"
    };
}

impl Store {
    /// Stores a new agent with its blocks (new ones are created, known ones
    /// attached) and its default conversation.
    pub async fn create_local_agent(
        &self,
        agent: &LocalAgentRow,
        blocks: &[LocalBlockRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        insert_agent(&mut tx, agent, blocks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores an agent brought in from an Agent File, with the history of
    /// its default conversation; messages before `context_from` are out of
    /// the prompt (as they were where the agent came from).
    pub async fn import_local_agent(
        &self,
        agent: &LocalAgentRow,
        blocks: &[LocalBlockRow],
        messages: &[super::NewMessage],
        context_from: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        insert_agent(&mut tx, agent, blocks).await?;
        let conversation = default_conversation_key(&agent.id);
        let scope = super::messages::MessageScope {
            conversation_id: &conversation,
            agent_id: &agent.id,
            run_id: None,
            now: &agent.created_at,
        };
        super::messages::insert_messages(&mut tx, &scope, messages).await?;
        if let Some(first) = messages.get(context_from) {
            sqlx::query(
                "UPDATE local_conversations SET context_start =
                 (SELECT seq FROM local_messages WHERE id = ?) WHERE id = ?",
            )
            .bind(&first.id)
            .bind(&conversation)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn local_agent(&self, id: &str) -> Result<Option<LocalAgentRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM local_agents WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&mut *self.connection().await?)
        .await?)
    }

    /// Agents, newest first.
    pub async fn local_agents(&self, limit: i64) -> Result<Vec<LocalAgentRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM local_agents ORDER BY created_at DESC, id LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// Writes an agent's fields as given.
    pub async fn save_local_agent(&self, agent: &LocalAgentRow) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE local_agents SET name = ?, description = ?, model = ?, system = ?,
             tool_rules = ?, tags = ?, metadata = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&agent.name)
        .bind(&agent.description)
        .bind(&agent.model)
        .bind(&agent.system)
        .bind(&agent.tool_rules)
        .bind(&agent.tags)
        .bind(&agent.metadata)
        .bind(&agent.updated_at)
        .bind(&agent.id)
        .execute(&mut *self.connection().await?)
        .await?;
        Ok(())
    }

    /// Deletes an agent with its conversations, messages and runs, and the
    /// blocks no other agent shares. Whether it existed.
    pub async fn delete_local_agent(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_transaction().await?;
        let deleted = sqlx::query("DELETE FROM local_agents WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM local_blocks WHERE id NOT IN (SELECT block_id FROM local_agent_blocks)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// An agent's memory blocks, in the order they are shown.
    pub async fn local_agent_blocks(
        &self,
        agent_id: &str,
    ) -> Result<Vec<LocalBlockRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT b.id, b.label, b.description, b.value, b.char_limit, b.read_only
             FROM local_agent_blocks ab JOIN local_blocks b ON b.id = ab.block_id
             WHERE ab.agent_id = ? ORDER BY ab.position",
        )
        .bind(agent_id)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    pub async fn create_local_conversation(
        &self,
        id: &str,
        agent_id: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        insert_conversation(&mut tx, id, agent_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn local_conversation(
        &self,
        id: &str,
    ) -> Result<Option<LocalConversationRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM local_conversations WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&mut *self.connection().await?)
        .await?)
    }

    /// An agent's conversations (or everyone's), newest first; default
    /// conversations are not listed, as Letta does not list them.
    pub async fn local_conversations(
        &self,
        agent_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LocalConversationRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM local_conversations
             WHERE (?1 IS NULL OR agent_id = ?1) AND id NOT LIKE 'default:%'
             ORDER BY created_at DESC, id LIMIT ?2"
        ))
        .bind(agent_id)
        .bind(limit)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    pub async fn set_local_conversation_summary(
        &self,
        id: &str,
        summary: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE local_conversations SET summary = ?, updated_at = ? WHERE id = ?")
            .bind(summary)
            .bind(now)
            .bind(id)
            .execute(&mut *self.connection().await?)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Creates conversation `id` of `agent_id` holding copies of `messages`
    /// (under new ids) and `summary`, in one transaction.
    pub async fn fork_local_conversation(
        &self,
        id: &str,
        agent_id: &str,
        summary: &str,
        messages: &[super::NewMessage],
        now: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        insert_conversation(&mut tx, id, agent_id, now).await?;
        sqlx::query("UPDATE local_conversations SET summary = ? WHERE id = ?")
            .bind(summary)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let scope = super::messages::MessageScope {
            conversation_id: id,
            agent_id,
            run_id: None,
            now,
        };
        super::messages::insert_messages(&mut tx, &scope, messages).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Moves a conversation's context start to `context_start`, with the
    /// summary that replaces what came before and its message.
    pub async fn compact_local_conversation(
        &self,
        conversation: &LocalConversationRow,
        summary: &str,
        context_start: i64,
        message: &super::NewMessage,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "UPDATE local_conversations SET summary = ?, context_start = ?, updated_at = ? WHERE id = ?",
        )
        .bind(summary)
        .bind(context_start)
        .bind(now)
        .bind(&conversation.id)
        .execute(&mut *tx)
        .await?;
        let scope = super::messages::MessageScope {
            conversation_id: &conversation.id,
            agent_id: &conversation.agent_id,
            run_id: None,
            now,
        };
        super::messages::insert_messages(&mut tx, &scope, std::slice::from_ref(message)).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_agent(
    tx: &mut crate::store::Transaction,
    agent: &LocalAgentRow,
    blocks: &[LocalBlockRow],
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO local_agents (",
        agent_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&agent.id)
    .bind(&agent.name)
    .bind(&agent.description)
    .bind(&agent.model)
    .bind(&agent.system)
    .bind(&agent.tool_rules)
    .bind(&agent.tags)
    .bind(&agent.metadata)
    .bind(&agent.created_at)
    .bind(&agent.updated_at)
    .execute(&mut **tx)
    .await?;
    for (position, block) in blocks.iter().enumerate() {
        sqlx::query(
            "INSERT INTO local_blocks (id, label, description, value, char_limit, read_only, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&block.id)
        .bind(&block.label)
        .bind(&block.description)
        .bind(&block.value)
        .bind(block.char_limit)
        .bind(block.read_only)
        .bind(&agent.created_at)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO local_agent_blocks (agent_id, block_id, position) VALUES (?, ?, ?)",
        )
        .bind(&agent.id)
        .bind(&block.id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
    }
    insert_conversation(
        tx,
        &default_conversation_key(&agent.id),
        &agent.id,
        &agent.created_at,
    )
    .await
}

async fn insert_conversation(
    tx: &mut crate::store::Transaction,
    id: &str,
    agent_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO local_conversations (id, agent_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
    )
    .bind(id)
    .bind(agent_id)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
