//! Local agents, conversations and messages, answered in Letta's shapes,
//! and sending messages, which starts a run.

use serde_json::{Value, json};

use super::memory;
use super::prompt::DEFAULT_SYSTEM;
use super::shapes::{self, stored_calls};
use super::{LocalBackend, LocalRunStream, Result, limit_of, new_id};
use crate::backend::{LocalError, SendRequest};
use crate::store::local::{
    LocalAgentRow, LocalBlockRow, LocalRunRow, LocalRunStatus, MessageRole, NewMessage, RunStart,
};
use crate::util::now_rfc3339;

/// A block's character limit unless the request gives one (Letta's).
const DEFAULT_BLOCK_LIMIT: i64 = 20_000;
const MAX_BLOCKS: usize = 64;
const MAX_LABEL_CHARS: usize = 64;
const MAX_TEXT_BYTES: usize = 256 * 1024;

impl LocalBackend {
    pub async fn create_agent(&self, body: &Value) -> Result<Value> {
        let now = now_rfc3339();
        let model = match text_field(body, "model")? {
            Some(model) => {
                self.providers().check(&model)?;
                model
            }
            None => self.providers().default_model().await?,
        };
        let id = new_id("agent");
        let agent = LocalAgentRow {
            name: text_field(body, "name")?.unwrap_or_else(|| format!("agent-{}", &id[6..14])),
            description: text_field(body, "description")?.unwrap_or_default(),
            model,
            system: text_field(body, "system")?.unwrap_or_else(|| DEFAULT_SYSTEM.to_owned()),
            tool_rules: json_text(body, "tool_rules", "[]"),
            tags: json_text(body, "tags", "[]"),
            metadata: json_text(body, "metadata", "{}"),
            created_at: now.clone(),
            updated_at: now,
            id,
        };
        let blocks = blocks_of(body)?;
        self.store().create_local_agent(&agent, &blocks).await?;
        self.retrieve_agent(&agent.id).await
    }

    pub async fn retrieve_agent(&self, agent_id: &str) -> Result<Value> {
        let agent = self.agent_row(agent_id).await?;
        let blocks = self.store().local_agent_blocks(agent_id).await?;
        // The window turns are compacted against, so frontends show the
        // same fullness the agent loop acts on.
        let window = self.providers().context_window(&agent.model).await;
        let endpoint_type = self.providers().endpoint_type(&agent.model);
        Ok(shapes::agent(
            &agent,
            &blocks,
            memory::TOOL_NAMES,
            window,
            endpoint_type,
        ))
    }

    pub(super) async fn agent_row(&self, agent_id: &str) -> Result<LocalAgentRow> {
        self.store()
            .local_agent(agent_id)
            .await?
            .ok_or_else(|| LocalError::NotFound {
                what: "agent",
                id: agent_id.to_owned(),
            })
    }

    pub async fn list_agents(&self, query: &Value) -> Result<Value> {
        let name = query["name"].as_str();
        let text = query["query_text"].as_str().map(str::to_lowercase);
        let agents = self.store().local_agents(limit_of(query, 50)).await?;
        let mut listed = Vec::new();
        for agent in agents.iter().filter(|agent| {
            name.is_none_or(|name| agent.name == name)
                && text
                    .as_ref()
                    .is_none_or(|text| agent.name.to_lowercase().contains(text))
        }) {
            listed.push(self.retrieve_agent(&agent.id).await?);
        }
        Ok(Value::Array(listed))
    }

    /// Changes the fields given: name, description, model, system,
    /// tool_rules, tags, metadata.
    pub async fn update_agent(&self, agent_id: &str, body: &Value) -> Result<Value> {
        let mut agent = self.agent_row(agent_id).await?;
        if let Some(name) = text_field(body, "name")? {
            agent.name = name;
        }
        if let Some(description) = text_field(body, "description")? {
            agent.description = description;
        }
        if let Some(model) = text_field(body, "model")? {
            self.providers().check(&model)?;
            agent.model = model;
        }
        if let Some(system) = text_field(body, "system")? {
            agent.system = system;
        }
        if body.get("tool_rules").is_some() {
            agent.tool_rules = json_text(body, "tool_rules", "[]");
        }
        if body.get("tags").is_some() {
            agent.tags = json_text(body, "tags", "[]");
        }
        if body.get("metadata").is_some() {
            agent.metadata = json_text(body, "metadata", "{}");
        }
        agent.updated_at = now_rfc3339();
        self.store().save_local_agent(&agent).await?;
        self.retrieve_agent(agent_id).await
    }

    pub async fn delete_agent(&self, agent_id: &str) -> Result<Value> {
        if !self.store().delete_local_agent(agent_id).await? {
            return Err(LocalError::NotFound {
                what: "agent",
                id: agent_id.to_owned(),
            });
        }
        Ok(json!({}))
    }

    pub async fn list_conversations(&self, query: &Value) -> Result<Value> {
        let conversations = self
            .store()
            .local_conversations(query["agent_id"].as_str(), limit_of(query, 50))
            .await?;
        Ok(Value::Array(
            conversations.iter().map(shapes::conversation).collect(),
        ))
    }

    pub async fn retrieve_conversation(&self, conversation_id: &str) -> Result<Value> {
        let row = self.conversation_row(conversation_id, None).await?;
        Ok(shapes::conversation(&row))
    }

    pub async fn create_conversation(&self, agent_id: &str, _body: &Value) -> Result<Value> {
        self.agent_row(agent_id).await?;
        let id = new_id("conv");
        self.store()
            .create_local_conversation(&id, agent_id, &now_rfc3339())
            .await?;
        self.retrieve_conversation(&id).await
    }

    /// Conversations have nothing to change but their summary.
    pub async fn update_conversation(&self, conversation_id: &str, body: &Value) -> Result<Value> {
        self.retrieve_conversation(conversation_id).await?;
        if let Some(summary) = text_field(body, "summary")? {
            self.store()
                .set_local_conversation_summary(conversation_id, &summary, &now_rfc3339())
                .await?;
        }
        self.retrieve_conversation(conversation_id).await
    }

    /// A page of messages, newest first unless `order` is `asc`.
    pub async fn list_conversation_messages(
        &self,
        conversation_id: &str,
        query: &Value,
    ) -> Result<Value> {
        let key = self
            .conversation_row(conversation_id, query["agent_id"].as_str())
            .await?
            .id;
        let descending = query["order"].as_str() != Some("asc");
        let rows = self
            .store()
            .local_messages_page(
                &key,
                query["before"].as_str(),
                query["after"].as_str(),
                descending,
                limit_of(query, 100),
            )
            .await?;
        let mut listed = Vec::new();
        for row in &rows {
            let mut parts = shapes::messages(row);
            if descending {
                parts.reverse();
            }
            listed.extend(parts);
        }
        Ok(Value::Array(listed))
    }

    /// Takes a user turn or tool results and starts a run answering them.
    /// A message whose otid was stored before starts nothing: the run that
    /// took it is streamed instead.
    pub async fn send_messages(
        &self,
        conversation_id: &str,
        request: &SendRequest,
    ) -> Result<LocalRunStream> {
        let conversation = self
            .conversation_row(conversation_id, request.agent_id.as_deref())
            .await?;
        let key = conversation.id.clone();
        let input = input_messages(&request.messages)?;
        if let Err(err) = self.check_pending_calls(&key, &input).await {
            // Sent again after its run stopped for tool calls: that run's.
            return match self.store().local_run_of_otids(&key, &input).await? {
                Some(earlier) => self.resume_stream(&earlier, 0).await,
                None => Err(err),
            };
        }
        let tools = request.client_tools.local_set();
        let run = LocalRunRow {
            id: new_id("run"),
            conversation_id: key,
            agent_id: conversation.agent_id,
            status: LocalRunStatus::Running,
            stop_reason: None,
            tool_set: tools.digest.clone(),
            steps: 0,
            usage: None,
            error: None,
            created_at: now_rfc3339(),
        };
        match self
            .store()
            .start_local_run(&run, &tools.text, &input)
            .await?
        {
            RunStart::Started => Ok(self.stream_of(&run, 0, true)),
            RunStart::Repeated(earlier) => self.resume_stream(&earlier, 0).await,
            RunStart::Busy(running) => Err(LocalError::Busy(format!(
                "conversation {conversation_id} is busy with run {running}"
            ))),
        }
    }

    /// A user message may only follow once every tool call has its result;
    /// results must answer calls that wait for one. (Only the newest
    /// assistant message can have calls waiting: a run goes on only once
    /// all are answered.)
    async fn check_pending_calls(&self, key: &str, input: &[NewMessage]) -> Result<()> {
        let context = self
            .store()
            .local_messages_since_last_assistant(key)
            .await?;
        let mut waiting: Vec<String> = Vec::new();
        for message in &context {
            match message.role {
                MessageRole::Assistant => {
                    waiting.extend(stored_calls(message).into_iter().map(|call| call.id))
                }
                MessageRole::Tool => waiting.retain(|id| Some(id) != message.tool_call_id.as_ref()),
                _ => {}
            }
        }
        for result in input
            .iter()
            .filter(|message| message.role == Some(MessageRole::Tool))
        {
            let id = result.tool_call_id.clone().unwrap_or_default();
            if !waiting.contains(&id) {
                return Err(LocalError::Invalid(format!(
                    "tool call {id} is not waiting for a result"
                )));
            }
            waiting.retain(|waiting| *waiting != id);
        }
        let has_user = input
            .iter()
            .any(|message| message.role == Some(MessageRole::User));
        if has_user && !waiting.is_empty() {
            return Err(LocalError::PendingApproval(waiting.join(", ")));
        }
        Ok(())
    }
}

/// The messages a send carries, as they are stored: tool results first,
/// then user messages.
fn input_messages(messages: &[Value]) -> Result<Vec<NewMessage>> {
    if messages.is_empty() {
        return Err(LocalError::Invalid(
            "messages must be a non-empty array".to_owned(),
        ));
    }
    let mut results = Vec::new();
    let mut users = Vec::new();
    for message in messages {
        if message["type"] == "approval" {
            for approval in message["approvals"].as_array().into_iter().flatten() {
                let tool_call_id = approval["tool_call_id"].as_str().ok_or_else(|| {
                    LocalError::Invalid("an approval result needs tool_call_id".to_owned())
                })?;
                let status = match approval["status"].as_str() {
                    Some("error") => "error",
                    _ => "success",
                };
                results.push(NewMessage {
                    id: new_id("message"),
                    role: Some(MessageRole::Tool),
                    content: bounded(content_text(&approval["tool_return"]))?,
                    tool_call_id: Some(tool_call_id.to_owned()),
                    tool_status: Some(status.to_owned()),
                    ..NewMessage::default()
                });
            }
            continue;
        }
        match message["role"].as_str() {
            Some("user") | Some("system") | None => {}
            Some(other) => {
                return Err(LocalError::Invalid(format!(
                    "a message with role {other:?} cannot be sent"
                )));
            }
        }
        users.push(NewMessage {
            id: new_id("message"),
            role: Some(MessageRole::User),
            otid: message["otid"].as_str().map(str::to_owned),
            content: bounded(content_text(&message["content"]))?,
            ..NewMessage::default()
        });
    }
    results.extend(users);
    Ok(results)
}

fn bounded(text: String) -> Result<String> {
    if text.len() > 4 * 1024 * 1024 {
        return Err(LocalError::Invalid(format!(
            "a message of {} bytes is larger than the 4 MiB a local agent takes",
            text.len()
        )));
    }
    Ok(text)
}

/// The text of message content: a string, or parts with `text`.
pub(super) fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str().or_else(|| part.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text_field(body: &Value, key: &str) -> Result<Option<String>> {
    match &body[key] {
        Value::Null => Ok(None),
        Value::String(text) if text.len() > MAX_TEXT_BYTES => Err(LocalError::Invalid(format!(
            "{key} is longer than {MAX_TEXT_BYTES} bytes"
        ))),
        Value::String(text) => Ok(Some(text.clone())),
        other => Err(LocalError::Invalid(format!(
            "{key} must be a string, not {other}"
        ))),
    }
}

fn json_text(body: &Value, key: &str, empty: &str) -> String {
    match &body[key] {
        Value::Null => empty.to_owned(),
        value => value.to_string(),
    }
}

/// The memory blocks a create request asks for; without `memory_blocks`,
/// a `persona` and a `human` block.
fn blocks_of(body: &Value) -> Result<Vec<LocalBlockRow>> {
    let requested = match &body["memory_blocks"] {
        Value::Null => vec![
            json!({ "label": "persona", "value": "I am a coding agent working with the user on their machine.", "description": "Who I am and how I work." }),
            json!({ "label": "human", "value": "", "description": "What I know about the user." }),
        ],
        Value::Array(blocks) => blocks.clone(),
        _ => {
            return Err(LocalError::Invalid(
                "memory_blocks must be an array".to_owned(),
            ));
        }
    };
    if requested.len() > MAX_BLOCKS {
        return Err(LocalError::Invalid(format!(
            "an agent has at most {MAX_BLOCKS} memory blocks"
        )));
    }
    let mut blocks: Vec<LocalBlockRow> = Vec::new();
    for block in &requested {
        let label = block["label"].as_str().unwrap_or_default();
        let label_ok = !label.is_empty()
            && label.chars().count() <= MAX_LABEL_CHARS
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !label_ok {
            return Err(LocalError::Invalid(format!(
                "memory block label {label:?} must be 1 to {MAX_LABEL_CHARS} letters, digits, '_' or '-'"
            )));
        }
        if blocks.iter().any(|existing| existing.label == label) {
            return Err(LocalError::Invalid(format!(
                "two memory blocks are labelled {label:?}"
            )));
        }
        let value = block["value"].as_str().unwrap_or_default().to_owned();
        let char_limit = block["limit"]
            .as_i64()
            .unwrap_or(DEFAULT_BLOCK_LIMIT)
            .max(1);
        if value.chars().count() as i64 > char_limit {
            return Err(LocalError::Invalid(format!(
                "memory block {label:?} is longer than its limit of {char_limit} characters"
            )));
        }
        blocks.push(LocalBlockRow {
            id: new_id("block"),
            label: label.to_owned(),
            description: block["description"].as_str().unwrap_or_default().to_owned(),
            value,
            char_limit,
            read_only: block["read_only"].as_bool().unwrap_or(false),
        });
    }
    Ok(blocks)
}
