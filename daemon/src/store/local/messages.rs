//! Messages of local conversations, and searching them.

use super::super::batch::Batch;
use super::super::{Store, StoreError};

/// Who a stored message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
    /// A tool's result, answering one call of an assistant message.
    Tool,
    /// What compaction wrote in place of older messages.
    Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LocalMessageRow {
    pub seq: i64,
    pub id: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub run_id: Option<String>,
    pub role: MessageRole,
    pub otid: Option<String>,
    pub content: String,
    pub reasoning: Option<String>,
    pub reasoning_signature: Option<String>,
    /// For assistant messages: JSON array of `{id, name, arguments, client}`.
    pub tool_calls: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_status: Option<String>,
    pub created_at: String,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewMessage {
    pub id: String,
    pub role: Option<MessageRole>,
    pub otid: Option<String>,
    pub content: String,
    pub reasoning: Option<String>,
    pub reasoning_signature: Option<String>,
    pub tool_calls: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_status: Option<String>,
}

macro_rules! message_columns {
    () => {
        "seq, id, conversation_id, agent_id, run_id, role, otid, content, reasoning, reasoning_signature, tool_calls, tool_call_id, tool_status, created_at"
    };
}
macro_rules! page_bounds {
    () => {
        " AND (?2 IS NULL OR seq < (SELECT seq FROM local_messages WHERE id = ?2))
          AND (?3 IS NULL OR seq > (SELECT seq FROM local_messages WHERE id = ?3))"
    };
}
macro_rules! search_filter {
    () => {
        " m.agent_id = ?1 AND m.content != ''
          AND (json_array_length(?2) = 0 OR m.role IN (SELECT value FROM json_each(?2)))"
    };
}
macro_rules! prefixed_message_columns {
    () => {
        "m.seq, m.id, m.conversation_id, m.agent_id, m.run_id, m.role, m.otid, m.content, m.reasoning, m.reasoning_signature, m.tool_calls, m.tool_call_id, m.tool_status, m.created_at"
    };
}

/// Where stored messages go.
pub(super) struct MessageScope<'a> {
    pub conversation_id: &'a str,
    pub agent_id: &'a str,
    pub run_id: Option<&'a str>,
    pub now: &'a str,
}

const INSERT_MESSAGE: &str = "INSERT INTO local_messages (id, conversation_id, agent_id, run_id,
     role, otid, content, reasoning, reasoning_signature, tool_calls, tool_call_id, tool_status,
     created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

pub(super) async fn insert_messages(
    tx: &mut crate::store::Transaction,
    scope: &MessageScope<'_>,
    messages: &[NewMessage],
) -> Result<(), StoreError> {
    for message in messages {
        sqlx::query(INSERT_MESSAGE)
            .bind(&message.id)
            .bind(scope.conversation_id)
            .bind(scope.agent_id)
            .bind(scope.run_id)
            .bind(message.role.unwrap_or(MessageRole::User))
            .bind(&message.otid)
            .bind(&message.content)
            .bind(&message.reasoning)
            .bind(&message.reasoning_signature)
            .bind(&message.tool_calls)
            .bind(&message.tool_call_id)
            .bind(&message.tool_status)
            .bind(scope.now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Adds storing `messages` to a batch.
pub(super) fn push_messages(batch: &mut Batch, scope: &MessageScope<'_>, messages: &[NewMessage]) {
    for message in messages {
        batch
            .statement(INSERT_MESSAGE)
            .bind(message.id.as_str())
            .bind(scope.conversation_id)
            .bind(scope.agent_id)
            .bind(scope.run_id)
            .bind(message.role.unwrap_or(MessageRole::User))
            .bind(message.otid.as_deref())
            .bind(message.content.as_str())
            .bind(message.reasoning.as_deref())
            .bind(message.reasoning_signature.as_deref())
            .bind(message.tool_calls.as_deref())
            .bind(message.tool_call_id.as_deref())
            .bind(message.tool_status.as_deref())
            .bind(scope.now);
    }
}

impl Store {
    /// The messages the model sees: everything from the conversation's
    /// context start on, oldest first.
    pub async fn local_context_messages(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<LocalMessageRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM local_messages WHERE conversation_id = ?1
             AND seq >= (SELECT context_start FROM local_conversations WHERE id = ?1)
             ORDER BY seq"
        ))
        .bind(conversation_id)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// A conversation's messages from `seq` on, in order.
    pub async fn local_messages_from(
        &self,
        conversation_id: &str,
        seq: i64,
    ) -> Result<Vec<LocalMessageRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM local_messages WHERE conversation_id = ? AND seq >= ? ORDER BY seq"
        ))
        .bind(conversation_id)
        .bind(seq)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// A page of a conversation's messages: up to `limit` of them before
    /// the message `before` and after the message `after`, newest first
    /// when `descending`.
    pub async fn local_messages_page(
        &self,
        conversation_id: &str,
        before: Option<&str>,
        after: Option<&str>,
        descending: bool,
        limit: i64,
    ) -> Result<Vec<LocalMessageRow>, StoreError> {
        let query = if descending {
            sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM local_messages WHERE conversation_id = ?1",
                page_bounds!(),
                " ORDER BY seq DESC LIMIT ?4"
            ))
        } else {
            sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM local_messages WHERE conversation_id = ?1",
                page_bounds!(),
                " ORDER BY seq ASC LIMIT ?4"
            ))
        };
        Ok(query
            .bind(conversation_id)
            .bind(before)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.connection().await?)
            .await?)
    }

    /// The newest assistant message of a conversation and everything after
    /// it: where tool calls may still wait for their results.
    pub async fn local_messages_since_last_assistant(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<LocalMessageRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM local_messages WHERE conversation_id = ?1 AND seq >= COALESCE(
                (SELECT MAX(seq) FROM local_messages WHERE conversation_id = ?1 AND role = 'assistant'), 0)
             ORDER BY seq"
        ))
        .bind(conversation_id)
        .fetch_all(&mut *self.connection().await?)
        .await?)
    }

    /// The message stored with this otid, if any.
    pub async fn local_message_by_otid(
        &self,
        conversation_id: &str,
        otid: &str,
    ) -> Result<Option<LocalMessageRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM local_messages WHERE conversation_id = ? AND otid = ?"
        ))
        .bind(conversation_id)
        .bind(otid)
        .fetch_optional(&mut *self.connection().await?)
        .await?)
    }

    /// Full-text search over every message of an agent (compacted ones
    /// too), best matches first; without a query, the newest.
    pub async fn search_local_messages(
        &self,
        agent_id: &str,
        query: Option<&str>,
        roles: &[MessageRole],
        limit: i64,
    ) -> Result<Vec<LocalMessageRow>, StoreError> {
        let roles = serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_owned());
        let rows = match query {
            Some(query) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    prefixed_message_columns!(),
                    " FROM local_messages_fts f JOIN local_messages m ON m.seq = f.rowid
                     WHERE local_messages_fts MATCH ?3 AND",
                    search_filter!(),
                    " ORDER BY f.rank LIMIT ?4"
                ))
                .bind(agent_id)
                .bind(roles)
                .bind(fts_query(query))
                .bind(limit)
                .fetch_all(&mut *self.connection().await?)
                .await?
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    prefixed_message_columns!(),
                    " FROM local_messages m WHERE",
                    search_filter!(),
                    " AND ?3 IS NULL ORDER BY m.seq DESC LIMIT ?4"
                ))
                .bind(agent_id)
                .bind(roles)
                .bind(None::<String>)
                .bind(limit)
                .fetch_all(&mut *self.connection().await?)
                .await?
            }
        };
        Ok(rows)
    }
}

/// A user's words as an FTS5 query: each word a quoted term, any of them
/// matching, so punctuation in the text cannot be read as query syntax.
fn fts_query(text: &str) -> String {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(32)
        .map(|word| format!("\"{word}\""))
        .collect();
    if terms.is_empty() {
        "\"\"".to_owned()
    } else {
        terms.join(" OR ")
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn query_text_is_quoted_word_by_word() {
        assert_eq!(
            fts_query("NEAR(a b) OR \"x"),
            "\"NEAR\" OR \"a\" OR \"b\" OR \"OR\" OR \"x\""
        );
        assert_eq!(fts_query("  "), "\"\"");
    }
}
