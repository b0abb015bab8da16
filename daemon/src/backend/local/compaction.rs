//! Keeping a conversation inside its model's context window: older
//! messages are summarised by the model and the summary takes their place
//! in the prompt. The messages stay stored and searchable; only where the
//! prompt starts moves.

use futures_util::StreamExt;
use std::sync::Arc;

use serde_json::{Value, json};

use super::providers::{ChatMessage, ModelEvent, ModelRequest, ProviderError};
use super::shapes::stored_calls;
use super::{LocalBackend, new_id};
use crate::backend::LocalError;
use crate::store::local::{
    LocalAgentRow, LocalConversationRow, LocalMessageRow, MessageRole, NewMessage,
};
use crate::util::now_rfc3339;

/// The share of the window the newest messages keep after compaction.
const KEEP_SHARE: f64 = 0.3;
/// The share of the window the summarised transcript may fill.
const TRANSCRIPT_SHARE: f64 = 0.5;
/// Characters of one message the summariser reads.
const MAX_ITEM_CHARS: usize = 4_000;

const SUMMARISER: &str = "You condense conversations. Write a summary of the conversation below \
for the assistant who will continue it: the user's goals, decisions taken, facts learned, files \
and commands involved, what was done and what remains open. Keep names, paths and numbers \
exact. Write only the summary, in plain prose or short lists.";

/// What a compaction did.
#[derive(Debug, Clone)]
pub struct Compaction {
    pub summary: String,
    pub messages_before: usize,
    pub messages_after: usize,
}

impl Compaction {
    pub fn to_json(&self) -> Value {
        json!({
            "summary": self.summary,
            "num_messages_before": self.messages_before,
            "num_messages_after": self.messages_after,
        })
    }
}

/// Tokens a text is estimated to take (about four characters each).
pub fn estimate_tokens(text_chars: usize) -> u64 {
    u64::try_from(text_chars / 4 + 1).unwrap_or(u64::MAX)
}

/// The estimated size of a request, in tokens.
pub fn request_tokens(request: &ModelRequest) -> u64 {
    let messages: usize = request
        .messages
        .iter()
        .map(|message| match message {
            ChatMessage::User(text) => text.len(),
            ChatMessage::Assistant {
                content,
                tool_calls,
                ..
            } => {
                content.len()
                    + tool_calls
                        .iter()
                        .map(|call| call.name.len() + call.arguments.len() + 16)
                        .sum::<usize>()
            }
            ChatMessage::Tool { content, .. } => content.len() + 16,
        })
        .sum();
    let tools: usize = request
        .tools
        .iter()
        .map(|tool| tool.name.len() + tool.description.len() + tool.parameters.get().len())
        .sum();
    estimate_tokens(request.system.len() + messages + tools)
}

fn message_tokens(message: &LocalMessageRow) -> u64 {
    estimate_tokens(
        message.content.len()
            + message.tool_calls.as_ref().map_or(0, String::len)
            + message.reasoning.as_ref().map_or(0, String::len),
    )
}

impl LocalBackend {
    /// Summarises the older part of a conversation's context, keeping the
    /// newest turns; `None` when there is nothing older to summarise.
    pub(super) async fn compact(
        &self,
        agent: &LocalAgentRow,
        conversation: &LocalConversationRow,
    ) -> Result<Option<Compaction>, CompactError> {
        let window = self.providers().context_window(&agent.model).await;
        let context = self
            .store()
            .local_context_messages(&conversation.id)
            .await
            .map_err(LocalError::from)?;
        let Some(cut) = cut_point(&context, window) else {
            return Ok(None);
        };
        let transcript = transcript(&conversation.summary, &context[..cut], window);
        let request = ModelRequest {
            model: agent.model.clone(),
            system: SUMMARISER.to_owned(),
            messages: vec![ChatMessage::User(transcript)],
            tools: Arc::from([]),
        };
        let summary = self.complete_text(request).await?;
        let summary = summary.trim().to_owned();
        if summary.is_empty() {
            return Err(CompactError::Provider(ProviderError::Stream {
                provider: agent.model.clone(),
                message: "the summary came back empty".to_owned(),
            }));
        }
        let message = NewMessage {
            id: new_id("message"),
            role: Some(MessageRole::Summary),
            content: summary.clone(),
            ..NewMessage::default()
        };
        self.store()
            .compact_local_conversation(
                conversation,
                &summary,
                context[cut].seq,
                &message,
                &now_rfc3339(),
            )
            .await
            .map_err(LocalError::from)?;
        Ok(Some(Compaction {
            summary,
            messages_before: context.len(),
            messages_after: context.len() - cut,
        }))
    }

    /// A model's whole text answer to a request without tools.
    async fn complete_text(&self, request: ModelRequest) -> Result<String, CompactError> {
        let mut stream = self
            .providers()
            .stream(&request)
            .await
            .map_err(CompactError::Provider)?;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            if let ModelEvent::Text(piece) = event.map_err(CompactError::Provider)? {
                text.push_str(&piece);
            }
        }
        Ok(text)
    }

    /// `conversation_compact`: compacts on request, when no run is going.
    pub async fn compact_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Value, LocalError> {
        let conversation = self.conversation_row(conversation_id, agent_id).await?;
        if let Some(running) = self.store().running_local_run(&conversation.id).await? {
            return Err(LocalError::Busy(format!(
                "conversation {conversation_id} is busy with run {}; compact it when the run ends",
                running.id
            )));
        }
        let agent = self
            .store()
            .local_agent(&conversation.agent_id)
            .await?
            .ok_or_else(|| LocalError::NotFound {
                what: "agent",
                id: conversation.agent_id.clone(),
            })?;
        match self.compact(&agent, &conversation).await {
            Ok(Some(compaction)) => Ok(compaction.to_json()),
            Ok(None) => Err(LocalError::Invalid(
                "the conversation is too short to compact".to_owned(),
            )),
            Err(CompactError::Local(err)) => Err(err),
            Err(CompactError::Provider(err)) => Err(LocalError::RunFailed(format!(
                "the model could not summarise the conversation: {err}"
            ))),
        }
    }
}

#[derive(Debug)]
pub(super) enum CompactError {
    Local(LocalError),
    Provider(ProviderError),
}

impl From<LocalError> for CompactError {
    fn from(err: LocalError) -> CompactError {
        CompactError::Local(err)
    }
}

/// Where the kept part of the context starts: at a user message (so no
/// tool call is parted from its result), keeping the newest messages that
/// fit the keep share of the window, and always summarising something.
fn cut_point(context: &[LocalMessageRow], window: u64) -> Option<usize> {
    let budget = (window as f64 * KEEP_SHARE) as u64;
    let mut kept = 0u64;
    let mut cut = context.len();
    for (index, message) in context.iter().enumerate().rev() {
        kept += message_tokens(message);
        if kept > budget {
            break;
        }
        cut = index;
    }
    // Move forward to a user message: a turn's start. When everything
    // would fit, still summarise all but the newest turn.
    let start = match (cut..context.len()).find(|index| context[*index].role == MessageRole::User) {
        Some(start) if start > 0 => start,
        _ => context
            .iter()
            .rposition(|message| message.role == MessageRole::User)?,
    };
    (start > 0).then_some(start)
}

/// The part to summarise as the summariser reads it, newest last, within
/// the transcript share of the window.
fn transcript(previous: &str, messages: &[LocalMessageRow], window: u64) -> String {
    let budget = ((window as f64 * TRANSCRIPT_SHARE) as usize).saturating_mul(4);
    let mut lines: Vec<String> = Vec::new();
    let mut used = previous.len();
    for message in messages.iter().rev() {
        let line = render(message);
        if used + line.len() > budget {
            lines.push("(earlier messages omitted)".to_owned());
            break;
        }
        used += line.len();
        lines.push(line);
    }
    lines.reverse();
    let mut text = String::new();
    if !previous.is_empty() {
        text.push_str("Summary of what came before:\n");
        text.push_str(previous);
        text.push_str("\n\n");
    }
    text.push_str("The conversation:\n");
    text.push_str(&lines.join("\n"));
    text
}

fn render(message: &LocalMessageRow) -> String {
    let clip = |text: &str| -> String {
        match text.char_indices().nth(MAX_ITEM_CHARS) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text.to_owned(),
        }
    };
    match message.role {
        MessageRole::User => format!("user: {}", clip(&message.content)),
        MessageRole::Summary => format!("(summary) {}", clip(&message.content)),
        MessageRole::Tool => format!("tool result: {}", clip(&message.content)),
        MessageRole::Assistant => {
            let mut line = format!("assistant: {}", clip(&message.content));
            for call in stored_calls(message) {
                line.push_str(&format!(
                    " [called {}({})]",
                    call.name,
                    clip(&call.arguments)
                ));
            }
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64, role: MessageRole, chars: usize) -> LocalMessageRow {
        LocalMessageRow {
            seq,
            id: format!("m{seq}"),
            conversation_id: "c".into(),
            agent_id: "a".into(),
            run_id: None,
            role,
            otid: None,
            content: "x".repeat(chars),
            reasoning: None,
            reasoning_signature: None,
            tool_calls: None,
            tool_call_id: None,
            tool_status: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn the_cut_keeps_whole_turns() {
        let context = vec![
            message(1, MessageRole::User, 4000),
            message(2, MessageRole::Assistant, 4000),
            message(3, MessageRole::Tool, 4000),
            message(4, MessageRole::Assistant, 4000),
            message(5, MessageRole::User, 400),
            message(6, MessageRole::Assistant, 400),
        ];
        // A 1,000-token window keeps 300 tokens: the last turn.
        assert_eq!(cut_point(&context, 1000), Some(4));
        // Everything fits: the newest turn is kept, the rest summarised.
        assert_eq!(cut_point(&context, 1_000_000), Some(4));
        // Nothing before the first turn: nothing to summarise.
        assert_eq!(cut_point(&context[..4], 1_000_000), None);
    }
}
