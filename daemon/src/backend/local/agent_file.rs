//! Letta's Agent File (`.af`): the JSON a Letta server reads and writes at
//! `/v1/agents/import` and `/v1/agents/{id}/export`, so an agent moves
//! between the daemon and a Letta server with its memory and history.
//!
//! A local agent is written as one agent with its memory blocks and the
//! history of one conversation; its memory tools are not written out (a
//! Letta server attaches its own base tools). Reading takes every agent of
//! a file, its blocks, and its messages in Letta's message model.

use serde_json::{Value, json};

use super::memory::is_memory_tool;
use super::shapes::{StoredCall, stored_calls};
use super::{LocalBackend, Result, new_id, prompt};
use crate::backend::LocalError;
use crate::store::local::{
    LocalAgentRow, LocalBlockRow, LocalMessageRow, MessageRole, NewMessage,
    default_conversation_key,
};
use crate::util::now_rfc3339;

/// Agents one file may bring in.
const MAX_AGENTS: usize = 100;
/// Messages one agent may bring in.
const MAX_MESSAGES: usize = 100_000;

impl LocalBackend {
    /// Writes a local agent as an Agent File, with the history of
    /// `conversation_id` (its default conversation unless named).
    pub async fn export_agent(
        &self,
        agent_id: &str,
        conversation_id: Option<&str>,
    ) -> Result<Value> {
        let agent = self.agent_row(agent_id).await?;
        let blocks = self.store().local_agent_blocks(agent_id).await?;
        let key = match conversation_id {
            Some(id) => self.conversation_key(id, Some(agent_id))?,
            None => default_conversation_key(agent_id),
        };
        let conversation = self
            .store()
            .local_conversation(&key)
            .await?
            .filter(|conversation| conversation.agent_id == agent_id)
            .ok_or_else(|| LocalError::NotFound {
                what: "conversation",
                id: conversation_id.unwrap_or("default").to_owned(),
            })?;
        let history = self
            .store()
            .local_messages_page(&key, None, None, false, MAX_MESSAGES as i64)
            .await?;
        let now = now_rfc3339();
        let system = prompt::compile(&agent.system, &blocks, &conversation.summary);
        let mut messages = vec![file_message(
            "message-0",
            "system",
            json!([{ "type": "text", "text": system }]),
            &now,
        )];
        let mut in_context = vec![json!("message-0")];
        for row in history
            .iter()
            .filter(|row| row.role != MessageRole::Summary)
        {
            let id = format!("message-{}", messages.len());
            if row.seq >= conversation.context_start {
                in_context.push(json!(id));
            }
            messages.push(message_of(row, &id));
        }
        let block_ids: Vec<String> = (0..blocks.len())
            .map(|index| format!("block-{index}"))
            .collect();
        let file_blocks: Vec<Value> = blocks
            .iter()
            .zip(&block_ids)
            .map(|(block, id)| {
                json!({
                    "id": id, "label": block.label, "value": block.value, "limit": block.char_limit,
                    "description": block.description, "read_only": block.read_only, "metadata": {},
                    "is_template": false, "preserve_on_migration": false,
                })
            })
            .collect();
        let parse = |text: &str, empty: Value| serde_json::from_str(text).unwrap_or(empty);
        Ok(json!({
            "agents": [{
                "id": "agent-0",
                "name": agent.name,
                "description": agent.description,
                "agent_type": "letta_v1_agent",
                "system": agent.system,
                "model": agent.model,
                "embedding": null,
                "tool_rules": parse(&agent.tool_rules, json!([])),
                "tags": parse(&agent.tags, json!([])),
                "metadata": parse(&agent.metadata, json!({})),
                "block_ids": block_ids,
                "tool_ids": [],
                "include_base_tools": true,
                "in_context_message_ids": in_context,
                "messages": messages,
                "files_agents": [],
                "group_ids": [],
            }],
            "groups": [],
            "blocks": file_blocks,
            "files": [],
            "sources": [],
            "tools": [],
            "mcp_servers": [],
            "skills": [],
            "metadata": { "exported_by": concat!("letta-daemon ", env!("CARGO_PKG_VERSION")) },
            "created_at": now,
        }))
    }

    /// Creates local agents from an Agent File; `model` replaces the
    /// file's model (which must otherwise be one a configured provider
    /// serves). Answers `{"agent_ids": [...]}`.
    pub async fn import_agents(&self, file: &Value, model: Option<&str>) -> Result<Value> {
        let agents = file["agents"]
            .as_array()
            .filter(|agents| !agents.is_empty())
            .ok_or_else(|| LocalError::Invalid("the agent file holds no agents".to_owned()))?;
        if agents.len() > MAX_AGENTS {
            return Err(LocalError::Invalid(format!(
                "the agent file holds {} agents; at most {MAX_AGENTS} are imported at once",
                agents.len()
            )));
        }
        let file_blocks = file["blocks"].as_array().cloned().unwrap_or_default();
        let mut imported = Vec::new();
        for agent in agents {
            imported.push(json!(self.import_one(agent, &file_blocks, model).await?));
        }
        Ok(json!({ "agent_ids": imported }))
    }

    async fn import_one(
        &self,
        agent: &Value,
        file_blocks: &[Value],
        model: Option<&str>,
    ) -> Result<String> {
        let handle = model
            .map(str::to_owned)
            .or_else(|| agent["llm_config"]["handle"].as_str().map(str::to_owned))
            .or_else(|| agent["model"].as_str().map(str::to_owned))
            .ok_or_else(|| LocalError::Invalid("the agent names no model; pass one".to_owned()))?;
        self.providers().check(&handle)?;
        let now = now_rfc3339();
        let mut blocks = Vec::new();
        for block_id in agent["block_ids"].as_array().into_iter().flatten() {
            let Some(block) = file_blocks.iter().find(|block| block["id"] == *block_id) else {
                return Err(LocalError::Invalid(format!(
                    "the agent file has no block {block_id}"
                )));
            };
            let value = block["value"].as_str().unwrap_or_default().to_owned();
            let char_limit = block["limit"]
                .as_i64()
                .unwrap_or(20_000)
                .max(value.chars().count() as i64)
                .max(1);
            blocks.push(LocalBlockRow {
                id: new_id("block"),
                label: block["label"].as_str().unwrap_or("block").to_owned(),
                description: block["description"].as_str().unwrap_or_default().to_owned(),
                value,
                char_limit,
                read_only: block["read_only"].as_bool().unwrap_or(false),
            });
        }
        let row = LocalAgentRow {
            id: new_id("agent"),
            name: agent["name"]
                .as_str()
                .unwrap_or("imported-agent")
                .to_owned(),
            description: agent["description"].as_str().unwrap_or_default().to_owned(),
            model: handle,
            system: agent["system"]
                .as_str()
                .map_or_else(|| prompt::DEFAULT_SYSTEM.to_owned(), str::to_owned),
            tool_rules: agent
                .get("tool_rules")
                .filter(|rules| rules.is_array())
                .map_or("[]".to_owned(), Value::to_string),
            tags: agent
                .get("tags")
                .filter(|tags| tags.is_array())
                .map_or("[]".to_owned(), Value::to_string),
            metadata: agent
                .get("metadata")
                .filter(|metadata| metadata.is_object())
                .map_or("{}".to_owned(), Value::to_string),
            created_at: now.clone(),
            updated_at: now,
        };
        let file_messages = agent["messages"].as_array().cloned().unwrap_or_default();
        if file_messages.len() > MAX_MESSAGES {
            return Err(LocalError::Invalid(format!(
                "the agent carries {} messages; at most {MAX_MESSAGES} are imported",
                file_messages.len()
            )));
        }
        let in_context: Vec<&str> = agent["in_context_message_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut messages = Vec::new();
        let mut context_from = None;
        for message in &file_messages {
            let converted = messages_of(message);
            if context_from.is_none()
                && !converted.is_empty()
                && message["id"]
                    .as_str()
                    .is_some_and(|id| in_context.contains(&id))
            {
                context_from = Some(messages.len());
            }
            messages.extend(converted);
        }
        let context_from = context_from.unwrap_or(if in_context.is_empty() {
            0
        } else {
            messages.len()
        });
        self.store()
            .import_local_agent(&row, &blocks, &messages, context_from)
            .await?;
        Ok(row.id)
    }
}

fn file_message(id: &str, role: &str, content: Value, created_at: &str) -> Value {
    json!({
        "type": "message", "id": id, "role": role, "content": content, "agent_id": "agent-0",
        "tool_calls": null, "tool_call_id": null, "tool_returns": [], "created_at": created_at,
    })
}

/// A stored message in the file's message model.
fn message_of(row: &LocalMessageRow, id: &str) -> Value {
    let text = |text: &str| json!([{ "type": "text", "text": text }]);
    let mut message = match row.role {
        MessageRole::User | MessageRole::Summary => {
            file_message(id, "user", text(&row.content), &row.created_at)
        }
        MessageRole::Tool => {
            let mut message = file_message(id, "tool", text(&row.content), &row.created_at);
            let call_id = row.tool_call_id.clone().unwrap_or_default();
            message["tool_call_id"] = json!(call_id);
            message["tool_returns"] = json!([{
                "tool_call_id": call_id,
                "status": row.tool_status.as_deref().unwrap_or("success"),
                "func_response": row.content,
            }]);
            message
        }
        MessageRole::Assistant => {
            let mut content = Vec::new();
            if let Some(reasoning) = &row.reasoning {
                content.push(json!({
                    "type": "reasoning", "reasoning": reasoning, "is_native": true,
                    "signature": row.reasoning_signature,
                }));
            }
            if !row.content.is_empty() {
                content.push(json!({ "type": "text", "text": row.content }));
            }
            let mut message = file_message(id, "assistant", Value::Array(content), &row.created_at);
            let calls: Vec<Value> = stored_calls(row)
                .iter()
                .map(|call| json!({ "id": call.id, "type": "function", "function": { "name": call.name, "arguments": call.arguments } }))
                .collect();
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls);
            }
            message
        }
    };
    if let Some(otid) = &row.otid {
        message["otid"] = json!(otid);
    }
    message
}

/// The text of a file message's content (a string or content parts).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| part["type"] == "text" || part["type"].is_null())
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A file message as stored messages: none for the system prompt (it is
/// compiled afresh), a tool message per result.
fn messages_of(message: &Value) -> Vec<NewMessage> {
    let new = |role, content: String| NewMessage {
        id: new_id("message"),
        role: Some(role),
        otid: message["otid"].as_str().map(str::to_owned),
        content,
        ..NewMessage::default()
    };
    match message["role"].as_str() {
        Some("user") => vec![new(MessageRole::User, text_of(&message["content"]))],
        Some("assistant") => {
            let mut stored = new(MessageRole::Assistant, text_of(&message["content"]));
            let reasoning = message["content"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|part| part["type"] == "reasoning");
            if let Some(part) = reasoning {
                stored.reasoning = part["reasoning"].as_str().map(str::to_owned);
                stored.reasoning_signature = part["signature"].as_str().map(str::to_owned);
            }
            let calls: Vec<StoredCall> = message["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|call| {
                    let name = call["function"]["name"].as_str()?.to_owned();
                    Some(StoredCall {
                        id: call["id"].as_str()?.to_owned(),
                        client: !is_memory_tool(&name),
                        arguments: call["function"]["arguments"]
                            .as_str()
                            .unwrap_or("{}")
                            .to_owned(),
                        name,
                    })
                })
                .collect();
            if !calls.is_empty() {
                stored.tool_calls = serde_json::to_string(&calls).ok();
            }
            vec![stored]
        }
        Some("tool") => {
            let result = message["tool_returns"]
                .as_array()
                .and_then(|returns| returns.first());
            let mut stored = new(
                MessageRole::Tool,
                result
                    .and_then(|result| result["func_response"].as_str())
                    .map_or_else(|| text_of(&message["content"]), str::to_owned),
            );
            stored.otid = None;
            stored.tool_call_id = message["tool_call_id"].as_str().map(str::to_owned);
            stored.tool_status = Some(
                result
                    .and_then(|result| result["status"].as_str())
                    .unwrap_or("success")
                    .to_owned(),
            );
            vec![stored]
        }
        // Results of client-side tools answered through an approval.
        Some("approval") => message["approvals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|approval| approval["tool_call_id"].is_string())
            .map(|approval| NewMessage {
                id: new_id("message"),
                role: Some(MessageRole::Tool),
                content: approval["tool_return"]
                    .as_str()
                    .or_else(|| approval["func_response"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                tool_call_id: approval["tool_call_id"].as_str().map(str::to_owned),
                tool_status: Some(approval["status"].as_str().unwrap_or("success").to_owned()),
                ..NewMessage::default()
            })
            .collect(),
        _ => Vec::new(),
    }
}
