//! The agent loop of one local run. Each step compiles the system prompt
//! from the agent's memory, sends the conversation to the model, streams
//! its answer as chunks, and stores the answer with the results of the
//! memory tools it called in one transaction. A run stops at an answer
//! without tool calls (`end_turn`), at calls the user's machine must run
//! (`requires_approval`), at the step bound (`max_steps`), when cancelled,
//! or on a model failure (`error`).
//!
//! Everything the loop needs is read back from the store at each step, so
//! a driver started after a crash continues where the stored history
//! stands: a step cut short is run again, announced by a `retry` chunk.

mod answer;
mod output;

pub(super) use output::end_unattended;

use std::time::Duration;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::compaction::{CompactError, request_tokens};
use super::memory::{self, CONVERSATION_SEARCH, DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT};
use super::providers::{ChatMessage, ModelRequest, ProviderError, Reasoning, ToolSpec};
use super::shapes::{StoredCall, stored_calls};
use super::{LiveChunks, LocalBackend, new_id, prompt};
use crate::backend::LocalError;
use crate::store::local::{
    LocalAgentRow, LocalBlockRow, LocalConversationRow, LocalMessageRow, LocalRunRow,
    LocalRunStatus, MessageRole, NewMessage, RunProgress,
};
use crate::store::{Store, StoreError};

/// Attempts at one model step before the run fails.
const MAX_MODEL_ATTEMPTS: u32 = 5;

/// Why a run stops before it ends normally.
enum Halt {
    Cancelled,
    Failed(String),
    Store(StoreError),
}

impl From<StoreError> for Halt {
    fn from(err: StoreError) -> Halt {
        Halt::Store(err)
    }
}

pub(super) struct Driver {
    backend: LocalBackend,
    run: LocalRunRow,
    cancel: CancellationToken,
    live: Arc<Mutex<LiveChunks>>,
    progress: watch::Sender<i64>,
    /// The run was just started by this process.
    fresh: bool,
    next_seq: i64,
    /// Chunks not published to readers yet.
    pending: Vec<(i64, String)>,
    /// Chunks published but not stored yet (the step's).
    unstored: Vec<(i64, String)>,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl Driver {
    pub(super) fn new(
        backend: LocalBackend,
        run: LocalRunRow,
        cancel: CancellationToken,
        live: Arc<Mutex<LiveChunks>>,
        progress: watch::Sender<i64>,
        fresh: bool,
    ) -> Driver {
        Driver {
            backend,
            run,
            cancel,
            live,
            progress,
            fresh,
            next_seq: 1,
            pending: Vec::new(),
            unstored: Vec::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
        }
    }

    fn store(&self) -> &Store {
        &self.backend.inner.store
    }

    pub(super) async fn drive(mut self) {
        let outcome = self.steps().await;
        let ending = match outcome {
            Ok(()) => return,
            Err(Halt::Cancelled) => (LocalRunStatus::Cancelled, "cancelled", None),
            Err(Halt::Failed(message)) => {
                tracing::warn!(run = %self.run.id, error = %message, "a local run failed");
                (LocalRunStatus::Failed, "error", Some(message))
            }
            Err(Halt::Store(err)) => {
                tracing::error!(run = %self.run.id, error = %err, "a local run cannot store its progress");
                (LocalRunStatus::Failed, "error", Some(err.to_string()))
            }
        };
        let (status, reason, error) = ending;
        if let Err(err) = self.end(status, reason, error).await {
            tracing::error!(run = %self.run.id, error = %err, "cannot record the end of a local run");
        }
    }

    async fn steps(&mut self) -> Result<(), Halt> {
        // A run just started has streamed nothing; one taken over (after a
        // restart) may have, and another driver may have ended it just
        // before this one began.
        let streamed = if self.fresh {
            0
        } else {
            match self.store().local_run(&self.run.id).await? {
                Some(run) if run.status == LocalRunStatus::Running => self.run = run,
                _ => return Ok(()),
            }
            self.store().local_run_seen_seq(&self.run.id).await?
        };
        self.next_seq = streamed + 1;
        if streamed > 0 {
            self.retry_notice(
                "the daemon stopped during this step; running it again",
                1,
                Duration::ZERO,
            );
            self.flush().await?;
        }
        let client_tools = self
            .backend
            .inner
            .tool_sets
            .get(self.store(), &self.run.tool_set)
            .await?;
        let tools: Arc<[ToolSpec]> = memory::tool_specs()
            .into_iter()
            .chain(client_tools.iter().cloned())
            .collect();
        let mut steps = self.run.steps;
        // Compacted for the step about to run (once per step at most).
        let mut compacted = false;
        loop {
            if self.cancel.is_cancelled() {
                return Err(Halt::Cancelled);
            }
            let agent = self
                .store()
                .local_agent(&self.run.agent_id)
                .await?
                .ok_or_else(|| Halt::Failed(format!("agent {} was deleted", self.run.agent_id)))?;
            let conversation = self
                .store()
                .local_conversation(&self.run.conversation_id)
                .await?
                .ok_or_else(|| Halt::Failed("the conversation was deleted".to_owned()))?;
            let mut blocks = self.store().local_agent_blocks(&agent.id).await?;
            let context = self
                .backend
                .inner
                .contexts
                .get(self.store(), &conversation)
                .await?;
            if !unanswered_calls(&context).is_empty() {
                return self
                    .finish(RunProgress::default(), "requires_approval")
                    .await;
            }
            let max_steps = i64::from(self.backend.inner.settings.max_steps);
            if steps >= max_steps {
                return self.finish(RunProgress::default(), "max_steps").await;
            }
            let request = ModelRequest {
                model: agent.model.clone(),
                system: prompt::compile(&agent.system, &blocks, &conversation.summary),
                messages: chat_messages(&context),
                tools: Arc::clone(&tools),
            };
            let window = self.backend.providers().context_window(&agent.model).await;
            let threshold = self.backend.inner.settings.compaction_threshold;
            if !compacted && request_tokens(&request) as f64 > window as f64 * threshold {
                compacted = true;
                if self.compact_now(&agent, &conversation).await? {
                    continue;
                }
            }
            let answer = match self.model_step(&request, &client_tools).await? {
                Ok(answer) => answer,
                // Too long after all: compact and try once more.
                Err(err @ ProviderError::ContextLength { .. }) if !compacted => {
                    compacted = true;
                    if self.compact_now(&agent, &conversation).await? {
                        continue;
                    }
                    return Err(Halt::Failed(err.to_string()));
                }
                Err(err) => return Err(Halt::Failed(err.to_string())),
            };
            compacted = false;
            steps += 1;
            let mut progress = RunProgress {
                steps: Some(steps),
                ..RunProgress::default()
            };
            let waits_for_client = answer.calls.iter().any(|call| call.client);
            let calls = answer.calls.clone();
            progress.messages.push(NewMessage {
                id: answer.message_id,
                role: Some(MessageRole::Assistant),
                content: answer.text,
                reasoning: (!answer.reasoning.is_empty()).then_some(answer.reasoning),
                reasoning_signature: answer.signature,
                tool_calls: (!calls.is_empty())
                    .then(|| serde_json::to_string(&calls).unwrap_or_default()),
                ..NewMessage::default()
            });
            for call in calls.iter().filter(|call| !call.client) {
                let (content, status) = self.server_tool(call, &mut blocks, &mut progress).await?;
                let id = new_id("message");
                self.chunk(json!({
                    "message_type": "tool_return_message",
                    "id": id,
                    "tool_call_id": call.id,
                    "tool_return": content,
                    "status": status,
                }));
                progress.messages.push(NewMessage {
                    id,
                    role: Some(MessageRole::Tool),
                    content,
                    tool_call_id: Some(call.id.clone()),
                    tool_status: Some(status.to_owned()),
                    ..NewMessage::default()
                });
            }
            if waits_for_client {
                return self.finish(progress, "requires_approval").await;
            }
            if calls.is_empty() {
                return self.finish(progress, "end_turn").await;
            }
            progress.chunks = std::mem::take(&mut self.pending);
            self.commit(progress).await?;
        }
    }

    /// Runs a memory tool; its block changes join `progress`.
    async fn server_tool(
        &self,
        call: &StoredCall,
        blocks: &mut [LocalBlockRow],
        progress: &mut RunProgress,
    ) -> Result<(String, &'static str), Halt> {
        if call.name == CONVERSATION_SEARCH {
            return Ok((self.search(&call.arguments).await?, "success"));
        }
        if !memory::is_memory_tool(&call.name) {
            return Ok((
                format!(
                    "Tool {:?} is not available to this agent: it was not offered.",
                    call.name
                ),
                "error",
            ));
        }
        match memory::edit(blocks, &call.name, &call.arguments) {
            (Some(label), Ok(value)) => {
                if let Some(block) = blocks.iter().find(|block| block.label == label) {
                    progress.blocks.retain(|(id, _)| *id != block.id);
                    progress.blocks.push((block.id.clone(), value.clone()));
                }
                Ok((value, "success"))
            }
            (_, Ok(value)) => Ok((value, "success")),
            (_, Err(reason)) => Ok((reason, "error")),
        }
    }

    async fn search(&self, arguments: &str) -> Result<String, Halt> {
        let arguments: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        let query = arguments["query"]
            .as_str()
            .filter(|query| !query.trim().is_empty());
        let roles: Vec<MessageRole> = arguments["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|role| serde_json::from_value(role.clone()).ok())
            .collect();
        let limit = arguments["limit"]
            .as_i64()
            .unwrap_or(DEFAULT_SEARCH_LIMIT)
            .clamp(1, MAX_SEARCH_LIMIT);
        let found = self
            .store()
            .search_local_messages(&self.run.agent_id, query, &roles, limit)
            .await?;
        if found.is_empty() {
            return Ok("No results found.".to_owned());
        }
        let results: Vec<Value> = found
            .iter()
            .map(|message| {
                json!({ "role": message.role, "content": message.content, "date": message.created_at })
            })
            .collect();
        Ok(format!(
            "Found {} results: {}",
            results.len(),
            Value::Array(results)
        ))
    }

    /// Summarises older messages out of the context; whether it did. The
    /// frontends see a status delta.
    async fn compact_now(
        &mut self,
        agent: &LocalAgentRow,
        conversation: &LocalConversationRow,
    ) -> Result<bool, Halt> {
        match self.backend.compact(agent, conversation).await {
            Ok(Some(compaction)) => {
                let summarised = compaction.messages_before - compaction.messages_after;
                self.chunk(json!({
                    "message_type": "status",
                    "id": new_id("status"),
                    "level": "info",
                    "message": format!("Summarised {summarised} older messages to keep the conversation within the model's context window."),
                }));
                self.flush().await?;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(CompactError::Local(LocalError::Store(err))) => Err(Halt::Store(err)),
            Err(CompactError::Local(err)) => Err(Halt::Failed(err.to_string())),
            Err(CompactError::Provider(err)) => Err(Halt::Failed(format!(
                "the model could not summarise the conversation: {err}"
            ))),
        }
    }
}

/// The calls of the newest assistant message that have no result yet.
fn unanswered_calls(context: &[LocalMessageRow]) -> Vec<String> {
    let Some(position) = context
        .iter()
        .rposition(|message| message.role == MessageRole::Assistant)
    else {
        return Vec::new();
    };
    let answered: Vec<&str> = context[position + 1..]
        .iter()
        .filter_map(|message| message.tool_call_id.as_deref())
        .collect();
    stored_calls(&context[position])
        .into_iter()
        .filter(|call| !answered.contains(&call.id.as_str()))
        .map(|call| call.id)
        .collect()
}

/// The stored conversation as the model reads it.
fn chat_messages(context: &[LocalMessageRow]) -> Vec<ChatMessage> {
    context
        .iter()
        .filter_map(|message| match message.role {
            MessageRole::User => Some(ChatMessage::User(message.content.clone())),
            MessageRole::Assistant => Some(ChatMessage::Assistant {
                content: message.content.clone(),
                tool_calls: stored_calls(message).iter().map(StoredCall::chat).collect(),
                reasoning: message.reasoning.clone().map(|text| Reasoning {
                    text,
                    signature: message.reasoning_signature.clone(),
                }),
            }),
            MessageRole::Tool => Some(ChatMessage::Tool {
                tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
                content: message.content.clone(),
            }),
            MessageRole::Summary => None,
        })
        .collect()
}
