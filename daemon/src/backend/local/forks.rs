//! Forking a local conversation, and compiling its system prompt on
//! request.

use serde_json::Value;

use super::{LocalBackend, LocalError, Result, new_id, prompt, shapes};
use crate::store::local::{LocalMessageRow, MessageRole, NewMessage};
use crate::util::now_rfc3339;

impl LocalBackend {
    /// `conversation_fork`: a new conversation of the same agent with
    /// copies of the messages in context (up to `message_id`, inclusive,
    /// with the tool results that answer it) and the same summary.
    pub async fn fork_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        message_id: Option<&str>,
    ) -> Result<Value> {
        let source = self.conversation_row(conversation_id, agent_id).await?;
        let mut messages = self.store().local_context_messages(&source.id).await?;
        if let Some(message_id) = message_id {
            let cut = messages
                .iter()
                .position(|row| row.id == message_id)
                .ok_or_else(|| {
                    LocalError::Invalid(format!(
                        "message {message_id} is not in the context of conversation {conversation_id}"
                    ))
                })?;
            // A tool call keeps its results: a model refuses a call left
            // unanswered.
            let end = messages[cut + 1..]
                .iter()
                .position(|row| row.role != MessageRole::Tool)
                .map_or(messages.len(), |after| cut + 1 + after);
            messages.truncate(end);
        }
        let copies: Vec<NewMessage> = messages.iter().map(copy).collect();
        let id = new_id("conv");
        self.store()
            .fork_local_conversation(
                &id,
                &source.agent_id,
                &source.summary,
                &copies,
                &now_rfc3339(),
            )
            .await?;
        let forked =
            self.store()
                .local_conversation(&id)
                .await?
                .ok_or_else(|| LocalError::NotFound {
                    what: "conversation",
                    id: id.clone(),
                })?;
        Ok(shapes::conversation(&forked))
    }

    /// `conversation_recompile`: the system prompt as the next step will
    /// compile it. Every step compiles it anew, so nothing is stored.
    pub async fn recompile_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Value> {
        let conversation = self.conversation_row(conversation_id, agent_id).await?;
        let agent = self.agent_row(&conversation.agent_id).await?;
        let blocks = self.store().local_agent_blocks(&agent.id).await?;
        Ok(Value::String(prompt::compile(
            &agent.system,
            &blocks,
            &conversation.summary,
        )))
    }
}

fn copy(row: &LocalMessageRow) -> NewMessage {
    NewMessage {
        id: new_id("message"),
        role: Some(row.role),
        otid: row.otid.clone(),
        content: row.content.clone(),
        reasoning: row.reasoning.clone(),
        reasoning_signature: row.reasoning_signature.clone(),
        tool_calls: row.tool_calls.clone(),
        tool_call_id: row.tool_call_id.clone(),
        tool_status: row.tool_status.clone(),
    }
}
