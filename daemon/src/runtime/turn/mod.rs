//! The turn worker: takes inputs off a runtime's queue one at a time and
//! drives each turn to its end.
//!
//! A turn is one or more Letta runs. The first run carries the user's
//! message; when a run stops with `requires_approval` for client-side tools,
//! the calls are resolved through the tool layer and their results sent as
//! an approval message, which the server continues in a new run. Every chunk
//! becomes a `stream_delta` event committed together with the run cursor, so
//! a dropped stream is resumed from the cursor without losing or repeating a
//! chunk.

mod local;
mod question;
mod recovery;
mod stream;
mod tools;

use std::sync::Arc;

use letta_protocol::{CreateMessage, LoopStatus, TurnFinishedEvent, TurnPermissionRules, events};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::Runtime;
use super::event_log::Draft;
use super::state::{QueuedInput, RunningTurn};
use crate::util::lock;

use crate::backend::{BackendError, RunStream, SendRequest};
use crate::store::{InputStatus, InputStatusUpdate, RunRow, StateChange, StoreError};
use letta_api::backoff;
use stream::EventWrite;
pub(crate) use tools::OfferedCache;
use tools::{Offered, ToolCall, approval_entry};

/// Attempts at sending one request before the turn fails.
const MAX_SEND_ATTEMPTS: u32 = 6;

/// Why a turn ended early.
#[derive(Debug, thiserror::Error)]
enum TurnError {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("cannot store turn state: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Protocol(String),
}

/// How a run ended.
struct RunEnd {
    run_id: Option<String>,
    stop_reason: Option<String>,
    usage: Option<Value>,
    calls: Vec<ToolCall>,
    /// The run's last events, not written yet: a run that ends its turn
    /// leaves them to go out with the turn's end, in one transaction.
    last_events: Option<EventWrite>,
}

impl RunEnd {
    /// Whether the turn ends with this run: it stopped for anything but
    /// client-side calls to make.
    fn ends_turn(&self) -> bool {
        self.stop_reason.as_deref() != Some("requires_approval") || self.calls.is_empty()
    }
}

/// Where a turn goes next.
enum Step {
    /// Send a request and stream its run: the user's message, or an
    /// approval answering run `answering`.
    Send {
        request: SendRequest,
        answering: Option<String>,
    },
    /// Stream a run the server already has, after this `seq_id`.
    Reattach { run_id: String, after: u64 },
    /// A run that already ended.
    Finished(RunEnd),
}

/// Runs the runtime's turns, forever.
pub(super) async fn work(runtime: Arc<Runtime>) {
    loop {
        match take_next(&runtime) {
            Some((input, turn)) => {
                let rules = serde_json::from_str::<CreateMessage>(&input.row.payload)
                    .ok()
                    .and_then(|message| message.permission_rules);
                Turn {
                    runtime: &runtime,
                    turn,
                    rules,
                }
                .run(input)
                .await
            }
            None => runtime.wake.notified().await,
        }
    }
}

/// The next input, when the queue is neither empty nor parked and no turn runs.
fn take_next(runtime: &Runtime) -> Option<(QueuedInput, RunningTurn)> {
    let mut state = lock(&runtime.state);
    if state.paused || state.running.is_some() || state.queue.is_empty() {
        return None;
    }
    let input = state.queue.remove(0);
    let turn = RunningTurn {
        input_id: input.row.id,
        turn_id: input.row.turn_id.clone(),
        client_message_id: input.row.client_message_id.clone(),
        cancel: CancellationToken::new(),
    };
    state.running = Some(turn.clone());
    Some((input, turn))
}

/// The message content of a stored `create_message` payload, for queue
/// snapshots.
pub(super) fn content_of(payload: &str) -> Value {
    serde_json::from_str::<CreateMessage>(payload)
        .ok()
        .and_then(|message| message.messages.into_iter().next())
        .map(|message| message.content)
        .unwrap_or(Value::Null)
}

struct Turn<'a> {
    runtime: &'a Runtime,
    turn: RunningTurn,
    /// Permission rules sent with the input, for this turn only.
    rules: Option<TurnPermissionRules>,
}

impl Turn<'_> {
    async fn run(self, input: QueuedInput) {
        let outcome = self.drive(&input).await;
        let rt = self.runtime;
        let mut last_events = None;
        let (status, stop_reason, run_id, usage, error) = match outcome {
            Ok(end) => {
                last_events = end.last_events;
                (
                    InputStatus::Finished,
                    end.stop_reason.unwrap_or_else(|| "end_turn".to_owned()),
                    end.run_id,
                    end.usage,
                    None,
                )
            }
            Err(TurnError::Cancelled) => {
                if let Err(err) = self.settle_unanswered_calls().await {
                    tracing::warn!(error = %err, "cannot settle the tool calls of an aborted turn");
                }
                let agent = rt.scope.agent_id.as_deref();
                if let Err(err) = rt
                    .backend
                    .cancel_conversation(&rt.scope.conversation_id, agent)
                    .await
                {
                    tracing::warn!(error = %err, "cannot cancel the run on the backend");
                }
                (
                    InputStatus::Cancelled,
                    "cancelled".to_owned(),
                    None,
                    None,
                    None,
                )
            }
            Err(err) => {
                tracing::warn!(turn = %self.turn.turn_id, error = %err, "turn failed");
                (
                    InputStatus::Failed,
                    "error".to_owned(),
                    None,
                    None,
                    Some(err.to_string()),
                )
            }
        };
        {
            let mut state = lock(&rt.state);
            state.running = None;
            state.recording_end = true;
            state.loop_status = LoopStatus::WaitingOnInput;
            state.active_run_ids.clear();
            state.executing_tool_call_ids.clear();
        }
        let (mut drafts, cursor) = match last_events {
            Some(last) => (last.drafts, last.cursor),
            None => (Vec::new(), None),
        };
        drafts.extend([rt.loop_status_draft(), rt.device_status_draft().await]);
        if let Some(message) = &error {
            drafts.push(self.loop_error(&input, message).await);
        }
        let turn_id = self.turn.turn_id.clone();
        let finished = rt
            .log
            .draft::<events::TurnFinished>(|envelope| TurnFinishedEvent {
                envelope,
                turn_id,
                stop_reason,
                terminal_consumer_ids: input.row.terminal_consumer_id.clone().map(|id| vec![id]),
                run_id,
                error,
                usage,
            });
        drafts.push(finished);
        crate::faults::crash_point("turn-ending");
        // How the input ended and the `turn_finished` that says so go in one
        // transaction: a turn marked done without it would leave frontends
        // waiting, and one told done but not marked would run again. (A
        // crash before it leaves the last run streaming: the turn is
        // recovered by reattaching to it.)
        let end = InputStatusUpdate {
            input_id: self.turn.input_id,
            status,
        };
        if let Err(err) = rt
            .log
            .emit_with_change(drafts, cursor, StateChange::Input(end))
            .await
        {
            tracing::error!(error = %err, "cannot record the end of a turn");
        }
        lock(&rt.state).recording_end = false;
        rt.turns_ended.send_modify(|ended| *ended += 1);
        rt.wake.notify_one();
    }

    /// The `loop_error` delta of a failed turn. An input that failed before
    /// any run was made for it is named by its `client_message_id`, so a
    /// frontend knows that message never reached the agent.
    async fn loop_error(&self, input: &QueuedInput, message: &str) -> Draft {
        let rt = self.runtime;
        let run = rt
            .store
            .latest_run_of_turn(&self.turn.turn_id)
            .await
            .ok()
            .flatten();
        let mut delta = json!({
            "message_type": "loop_error",
            "id": format!("loop-error-{}", self.turn.turn_id),
            "date": crate::util::now_rfc3339(),
            "message": message,
            "stop_reason": "error",
            "is_terminal": true,
        });
        match &run {
            Some(run) => delta["run_id"] = json!(run.run_id),
            None => delta["client_message_ids"] = json!([input.row.client_message_id]),
        }
        rt.log
            .draft::<events::StreamDelta>(|envelope| letta_protocol::StreamDeltaEvent {
                envelope,
                delta,
                subagent_id: None,
            })
    }

    /// After an abort: every call the server still waits for gets a
    /// result, the one it has or "interrupted", to send with the next
    /// message. Approvals still pending are withdrawn with it.
    async fn settle_unanswered_calls(&self) -> Result<(), TurnError> {
        let rt = self.runtime;
        let Some(run) = rt.store.latest_run_of_turn(&self.turn.turn_id).await? else {
            return Ok(());
        };
        if run.stop_reason.as_deref() != Some("requires_approval") {
            return Ok(());
        }
        for call in approval_calls(&run) {
            rt.store
                .request_tool_call(
                    rt.id,
                    &self.turn.turn_id,
                    &call.id,
                    &call.name,
                    &call.arguments,
                    false,
                )
                .await?;
            rt.store
                .interrupt_tool_call(
                    &call.id,
                    "Interrupted: the user aborted the turn before this call finished.",
                )
                .await?;
        }
        Ok(())
    }

    async fn drive(&self, input: &QueuedInput) -> Result<RunEnd, TurnError> {
        let rt = self.runtime;
        let message: CreateMessage = serde_json::from_str(&input.row.payload)
            .map_err(|err| TurnError::Protocol(format!("stored input is unreadable: {err}")))?;
        let mcp = rt.mcp_tools().await;
        let tools = self.offered_tools(&message, mcp);
        let removed = vec![Runtime::dequeued(&self.turn.client_message_id)];
        let recovering = input.row.status == InputStatus::Running;
        let mut drafts = vec![rt.queue_draft(removed), rt.device_status_draft().await];
        // A fresh turn sends its message next: saying so with its start
        // spares the first send a write of its own.
        if !recovering {
            lock(&rt.state).loop_status = LoopStatus::SendingApiRequest;
            drafts.push(rt.loop_status_draft());
        }
        let running = InputStatusUpdate {
            input_id: self.turn.input_id,
            status: InputStatus::Running,
        };
        rt.log
            .emit_with_change(drafts, None, StateChange::Input(running))
            .await?;

        // `delivering`: results of tool calls on their way to the server.
        let (mut step, mut delivering) = if recovering {
            self.recovery_step(&message, &tools).await?
        } else {
            self.first_step(&message, &tools).await?
        };
        loop {
            let end = tokio::select! {
                end = self.take(step) => end?,
                () = self.turn.cancel.cancelled() => return Err(TurnError::Cancelled),
            };
            if !delivering.is_empty() {
                crate::faults::crash_point("tool-results-answered");
                rt.store.deliver_tool_results(&delivering).await?;
                delivering.clear();
            }
            if end.ends_turn() {
                return Ok(end);
            }
            // Tools see the abort themselves (Bash kills its process group),
            // so their results are kept for the next message.
            let approvals = self.resolve_calls(&end, &tools).await?;
            if self.turn.cancel.is_cancelled() {
                return Err(TurnError::Cancelled);
            }
            step = Step::Send {
                request: self.send_request(vec![approval_message(approvals)], &tools),
                answering: end.run_id.clone(),
            };
            delivering = end.calls.iter().map(|call| call.id.clone()).collect();
        }
    }

    async fn take(&self, step: Step) -> Result<RunEnd, TurnError> {
        match step {
            Step::Send { request, answering } => self.one_run(request, answering.as_deref()).await,
            Step::Reattach { run_id, after } => {
                tracing::info!(run = %run_id, after, turn = %self.turn.turn_id, "reattaching to a run after a restart");
                // Read from the start: pieces of a tool call that arrived
                // before the restart are needed to rebuild it whole.
                let stream = resume(self.runtime, &run_id, 0).await?;
                self.stream_run(stream, Some(run_id), after).await
            }
            Step::Finished(end) => Ok(end),
        }
    }

    /// The turn's first message, and the results it carries: calls an
    /// aborted turn left unanswered go first, as the server takes no
    /// message until they are answered.
    async fn first_step(
        &self,
        message: &CreateMessage,
        tools: &Offered,
    ) -> Result<(Step, Vec<String>), TurnError> {
        let rt = self.runtime;
        let carried = rt.store.undelivered_results(rt.id).await?;
        let mut messages = Vec::new();
        if !carried.is_empty() {
            let approvals = carried
                .iter()
                .map(|row| {
                    let (tool_return, status) = local::stored_outcome(row);
                    approval_entry(&row.tool_call_id, tool_return, status)
                })
                .collect();
            messages.push(approval_message(approvals));
        }
        messages.extend(user_messages(message, &self.turn.client_message_id));
        let step = Step::Send {
            request: self.send_request(messages, tools),
            answering: None,
        };
        Ok((
            step,
            carried.into_iter().map(|row| row.tool_call_id).collect(),
        ))
    }

    /// The client tools this turn offers: the built-in tools of its
    /// toolset, the external tools registered on the runtime (and selected
    /// by scope) and the tools of the agent's MCP servers, narrowed by the
    /// allowlist. An external tool replaces a built-in or MCP one of the
    /// same name.
    fn offered_tools(&self, message: &CreateMessage, mcp: Vec<crate::mcp::McpTool>) -> Offered {
        let (external, builtin) = {
            let state = lock(&self.runtime.state);
            (
                state.external_tools(message.external_tool_scope_ids.as_deref()),
                state.offered_builtin(
                    message.client_toolset.as_ref(),
                    !message.exclude_interactive_tools.unwrap_or(false),
                ),
            )
        };
        let allowed = |name: &str| {
            message
                .client_tool_allowlist
                .as_ref()
                .is_none_or(|allowed| {
                    allowed.iter().any(|tool| match tool.strip_suffix('*') {
                        Some(prefix) => name.starts_with(prefix),
                        None => tool == name,
                    })
                })
        };
        let builtin = builtin
            .into_iter()
            .filter(|tool| allowed(tool.name) && !external.iter().any(|ext| ext.name == tool.name))
            .collect();
        let mcp = mcp
            .into_iter()
            .filter(|tool| {
                allowed(&tool.spec.name) && !external.iter().any(|ext| ext.name == tool.spec.name)
            })
            .collect();
        Offered {
            builtin,
            external: external
                .into_iter()
                .filter(|tool| allowed(&tool.name))
                .collect(),
            mcp,
        }
    }

    /// A send of `messages` offering `tools`.
    fn send_request(&self, messages: Vec<Value>, tools: &Offered) -> SendRequest {
        let rt = self.runtime;
        SendRequest {
            agent_id: rt.addressed_agent().map(str::to_owned),
            messages,
            client_tools: rt.offered.client_tools(tools),
        }
    }

    /// Sets and announces the loop status, unless it is already so with
    /// no tool executing.
    async fn set_loop(&self, status: LoopStatus, executing: Vec<String>) -> Result<(), TurnError> {
        {
            let mut state = lock(&self.runtime.state);
            if state.loop_status == status
                && executing.is_empty()
                && state.executing_tool_call_ids.is_empty()
            {
                return Ok(());
            }
            state.loop_status = status;
            state.executing_tool_call_ids = executing;
        }
        self.runtime
            .log
            .emit(self.runtime.loop_status_draft())
            .await?;
        Ok(())
    }

    /// Sends one request and streams its run to the end, resuming dropped
    /// or stalled streams from the cursor.
    async fn one_run(
        &self,
        request: SendRequest,
        answering: Option<&str>,
    ) -> Result<RunEnd, TurnError> {
        let rt = self.runtime;
        self.set_loop(LoopStatus::SendingApiRequest, Vec::new())
            .await?;
        let mut attempt = 0;
        let stream = loop {
            let err = match rt
                .backend
                .send_messages(&rt.scope.conversation_id, &request)
                .await
            {
                Ok(stream) => break stream,
                Err(err) => err,
            };
            attempt += 1;
            // Transient failures, and a conversation still busy with a run
            // that is ending, are worth waiting out; anything else is final.
            let busy = err.status() == Some(409) && !err.is_pending_approval();
            if !(err.is_transient() || busy) || attempt >= MAX_SEND_ATTEMPTS {
                return Err(err.into());
            }
            let wait = err.retry_after().unwrap_or_else(|| backoff(attempt));
            tracing::info!(error = %err, attempt, ?wait, "sending to the Letta server failed; retrying");
            self.set_loop(LoopStatus::RetryingApiRequest, Vec::new())
                .await?;
            tokio::time::sleep(wait).await;
            // The failed attempt may still have reached the server and started
            // a run: stream that run rather than sending again.
            if let Some(run_id) = self.run_started_by_earlier_attempt(answering).await? {
                tracing::info!(run = %run_id, "the earlier attempt started a run; streaming it");
                let stream = resume(rt, &run_id, 0).await?;
                return self.stream_run(stream, Some(run_id), 0).await;
            }
        };
        crate::faults::crash_point("message-sent");
        self.set_loop(LoopStatus::WaitingForApiResponse, Vec::new())
            .await?;
        self.stream_run(stream, None, 0).await
    }

    /// Records a run reattached to and announces it.
    async fn run_started(&self, run_id: &str) -> Result<(), TurnError> {
        let rt = self.runtime;
        rt.store
            .start_run(run_id, rt.id, &self.turn.turn_id)
            .await?;
        let draft = self.mark_run_started(run_id);
        rt.log.emit(draft).await?;
        Ok(())
    }

    /// Notes in the runtime's state that `run_id` streams; returns the loop
    /// status event that says so.
    fn mark_run_started(&self, run_id: &str) -> crate::runtime::event_log::Draft {
        let rt = self.runtime;
        {
            let mut state = lock(&rt.state);
            state.loop_status = LoopStatus::ProcessingApiResponse;
            state.active_run_ids = vec![run_id.to_owned()];
            state.correlate_run(run_id, &self.turn.client_message_id);
        }
        rt.loop_status_draft()
    }
}

/// The Letta `messages` of a user turn, each with an `otid`: the
/// frontend's `client_message_id`, or one derived from the turn's journaled
/// id. Every message carries one, so after a crash the server can always be
/// asked whether the message arrived, and it is never sent twice.
fn user_messages(message: &CreateMessage, turn_message_id: &str) -> Vec<Value> {
    let any_named = message
        .messages
        .iter()
        .any(|message| message.client_message_id.is_some());
    message
        .messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let otid = match &message.client_message_id {
                Some(id) => id.clone(),
                None if index == 0 && !any_named => turn_message_id.to_owned(),
                None => format!("{turn_message_id}-{index}"),
            };
            let mut fields = message.extra.clone();
            fields.insert("role".to_owned(), Value::from(message.role.clone()));
            fields.insert("content".to_owned(), message.content.clone());
            fields.insert("otid".to_owned(), Value::from(otid));
            Value::Object(fields)
        })
        .collect()
}

/// The client-side calls a stored run stopped for.
fn approval_calls(run: &RunRow) -> Vec<ToolCall> {
    run.approval_calls
        .as_deref()
        .and_then(|calls| serde_json::from_str(calls).ok())
        .unwrap_or_default()
}

/// The message answering a run's client-side calls.
fn approval_message(approvals: Vec<Value>) -> Value {
    json!({ "type": "approval", "approvals": approvals })
}

async fn resume(rt: &Runtime, run_id: &str, after: u64) -> Result<RunStream, TurnError> {
    Ok(rt.backend.resume_stream(run_id, after).await?)
}
