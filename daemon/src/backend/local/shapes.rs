//! Stored local rows in the shapes a Letta server answers with, so
//! frontends read local agents, conversations and messages the same way.

use serde_json::{Value, json};

use super::providers::ChatToolCall;
use crate::store::local::{
    LocalAgentRow, LocalBlockRow, LocalConversationRow, LocalMessageRow, LocalRunRow, MessageRole,
    default_conversation_key,
};

/// A tool call as an assistant message keeps it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
    /// Run on the user's machine (asked for with an approval request), not
    /// inside the daemon.
    pub client: bool,
}

impl StoredCall {
    pub fn chat(&self) -> ChatToolCall {
        ChatToolCall {
            id: self.id.clone(),
            name: self.name.clone(),
            arguments: self.arguments.clone(),
        }
    }
}

pub fn stored_calls(message: &LocalMessageRow) -> Vec<StoredCall> {
    message
        .tool_calls
        .as_deref()
        .and_then(|calls| serde_json::from_str(calls).ok())
        .unwrap_or_default()
}

fn json_field(text: &str, fallback: Value) -> Value {
    serde_json::from_str(text).unwrap_or(fallback)
}

pub fn block(block: &LocalBlockRow) -> Value {
    json!({
        "id": block.id,
        "label": block.label,
        "description": block.description,
        "value": block.value,
        "limit": block.char_limit,
        "read_only": block.read_only,
    })
}

pub fn agent(
    agent: &LocalAgentRow,
    blocks: &[LocalBlockRow],
    tools: &[&str],
    context_window: u64,
    endpoint_type: &str,
) -> Value {
    let model = agent
        .model
        .split_once('/')
        .map_or(agent.model.as_str(), |(_, model)| model);
    let blocks: Vec<Value> = blocks.iter().map(block).collect();
    json!({
        "id": agent.id,
        "name": agent.name,
        "description": agent.description,
        "agent_type": "letta_v1_agent",
        "backend": "local",
        "model": agent.model,
        "llm_config": {
            "model": model,
            "handle": agent.model,
            "model_endpoint_type": endpoint_type,
            "context_window": context_window,
        },
        "system": agent.system,
        "tool_rules": json_field(&agent.tool_rules, json!([])),
        "tags": json_field(&agent.tags, json!([])),
        "metadata": json_field(&agent.metadata, json!({})),
        "memory": { "blocks": blocks },
        "blocks": blocks,
        "tools": tools
            .iter()
            .map(|name| json!({ "id": format!("tool-{name}"), "name": name, "tool_type": "letta_core" }))
            .collect::<Vec<_>>(),
        "sources": [],
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    })
}

/// The wire id of a stored conversation (`default` for an agent's
/// default one).
pub fn conversation_id(row: &LocalConversationRow) -> &str {
    if row.id == default_conversation_key(&row.agent_id) {
        "default"
    } else {
        &row.id
    }
}

pub fn conversation(row: &LocalConversationRow) -> Value {
    json!({
        "id": conversation_id(row),
        "agent_id": row.agent_id,
        "summary": (!row.summary.is_empty()).then_some(&row.summary),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

pub fn run(row: &LocalRunRow) -> Value {
    json!({
        "id": row.id,
        "agent_id": row.agent_id,
        "conversation_id": row.conversation_id,
        "status": row.status.as_str(),
        "stop_reason": row.stop_reason,
        "created_at": row.created_at,
    })
}

fn base(row: &LocalMessageRow, message_type: &str) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("id".into(), json!(row.id));
    fields.insert("date".into(), json!(row.created_at));
    fields.insert("message_type".into(), json!(message_type));
    fields.insert("run_id".into(), json!(row.run_id));
    if let Some(otid) = &row.otid {
        fields.insert("otid".into(), json!(otid));
    }
    fields
}

/// A tool call as Letta streams and lists it: `tool_call` and `tool_calls`.
pub fn call_fields(call_id: &str, name: Option<&str>, arguments: Option<&str>) -> Value {
    json!({ "tool_call_id": call_id, "name": name, "arguments": arguments })
}

/// One stored message as the Letta messages it stands for (an assistant
/// message with reasoning and tool calls is several).
pub fn messages(row: &LocalMessageRow) -> Vec<Value> {
    let mut out = Vec::new();
    match row.role {
        MessageRole::User => {
            let mut fields = base(row, "user_message");
            fields.insert("content".into(), json!(row.content));
            out.push(Value::Object(fields));
        }
        MessageRole::Summary => {
            let mut fields = base(row, "summary_message");
            fields.insert("summary".into(), json!(row.content));
            out.push(Value::Object(fields));
        }
        MessageRole::Tool => {
            let mut fields = base(row, "tool_return_message");
            fields.insert("tool_call_id".into(), json!(row.tool_call_id));
            fields.insert("tool_return".into(), json!(row.content));
            fields.insert(
                "status".into(),
                json!(row.tool_status.as_deref().unwrap_or("success")),
            );
            out.push(Value::Object(fields));
        }
        MessageRole::Assistant => {
            if let Some(reasoning) = row.reasoning.as_deref().filter(|text| !text.is_empty()) {
                let mut fields = base(row, "reasoning_message");
                fields.insert("reasoning".into(), json!(reasoning));
                out.push(Value::Object(fields));
            }
            if !row.content.is_empty() {
                let mut fields = base(row, "assistant_message");
                fields.insert("content".into(), json!(row.content));
                out.push(Value::Object(fields));
            }
            for call in stored_calls(row) {
                let kind = if call.client {
                    "approval_request_message"
                } else {
                    "tool_call_message"
                };
                let mut fields = base(row, kind);
                let whole = call_fields(&call.id, Some(&call.name), Some(&call.arguments));
                fields.insert("tool_call".into(), whole.clone());
                fields.insert("tool_calls".into(), json!([whole]));
                out.push(Value::Object(fields));
            }
        }
    }
    out
}
