//! Built-in tool calls of a run: classify each by permission, ask a human
//! where a rule says so, run what is allowed, and journal every step.
//!
//! The journal makes each call exactly-once across crashes: a decided call
//! runs once; a stored result is re-sent, never recomputed; a read-only
//! call whose outcome is unknown runs again; a mutating call whose outcome
//! is unknown is reported to the agent as interrupted.

use std::collections::HashMap;

use futures_util::future::join_all;
use globset::GlobSet;
use letta_protocol::{
    AskUserQuestionRequest, CanUseTool, ControlRequestBody, ControlRequestEvent, LoopStatus,
    PermissionSuggestion, events,
};
use serde_json::{Value, json};

use super::question;
use super::tools::{LocalTool, ToolCall, invalid_arguments, json_arguments, lifecycle};
use super::{Turn, TurnError};
use crate::faults::crash_point;
use crate::permissions::rules::Rule;
use crate::permissions::settings::Source;
use crate::permissions::{Call, Policy, Verdict, preview};
use crate::runtime::approvals::approval_request_id;
use crate::runtime::event_log::Draft;
use crate::store::{
    Decision, ResultStatus, StateChange, ToolCallRow, ToolCallState, ToolDecision, ToolResult,
};
use crate::tools::{Effect, ToolContext, ToolOutput, execute};
use crate::util::lock;

/// A call's result as the model gets it (text, or content parts) and its
/// status.
pub(super) type Outcome = (Value, ResultStatus);

impl Turn<'_> {
    /// The runtime's policy with this turn's own rules added.
    async fn policy(&self) -> Result<Policy, TurnError> {
        let mut policy = self.runtime.policy().await?;
        if let Some(rules) = &self.rules {
            let parsed = |texts: &[String]| -> Vec<(Rule, Source)> {
                texts
                    .iter()
                    .filter_map(|text| text.parse().ok())
                    .map(|rule| (rule, Source::Turn))
                    .collect()
            };
            policy.rules.deny.extend(parsed(&rules.deny));
            let mut allow = parsed(&rules.allow);
            allow.append(&mut policy.rules.allow);
            policy.rules.allow = allow;
        }
        Ok(policy)
    }

    /// Resolves the built-in calls of a run, in order; returns each call's
    /// outcome by tool call id.
    pub(super) async fn resolve_local(
        &self,
        calls: &[(&ToolCall, LocalTool)],
        run_id: Option<&str>,
    ) -> Result<HashMap<String, Outcome>, TurnError> {
        if calls.is_empty() {
            return Ok(HashMap::new());
        }
        let waiting = self.classify(calls, run_id).await?;
        for tool_call_id in &waiting {
            self.wait_for_decision(tool_call_id).await?;
            // Frontends drop the answered request from their pending list.
            let rt = self.runtime;
            rt.log.emit(rt.device_status_draft().await).await?;
            rt.refresh_parent().await;
        }
        // Read once for all the calls, after any wait for a human.
        let hidden = self.policy().await?.hidden_from_reads();
        let mut outcomes = HashMap::new();
        // Consecutive reads run together, and so do consecutive subagent
        // launches (those in the foreground wait for their subagents);
        // anything else runs alone.
        let mut index = 0;
        while index < calls.len() {
            if self.turn.cancel.is_cancelled() {
                return Err(TurnError::Cancelled);
            }
            let mut end = index + 1;
            while end < calls.len() && run_together(&calls[index].1, &calls[end].1) {
                end += 1;
            }
            let batch = &calls[index..end];
            let ids: Vec<String> = batch.iter().map(|(call, _)| call.id.clone()).collect();
            self.set_executing(ids).await?;
            let results = join_all(
                batch
                    .iter()
                    .map(|(call, tool)| self.finish(call, tool, run_id, &hidden)),
            )
            .await;
            for ((call, _), result) in batch.iter().zip(results) {
                outcomes.insert(call.id.clone(), result?);
            }
            index = end;
        }
        Ok(outcomes)
    }

    /// Journals each call and decides it by policy; asks a human for those
    /// that need one. Returns the calls waiting for a human.
    async fn classify(
        &self,
        calls: &[(&ToolCall, LocalTool)],
        run_id: Option<&str>,
    ) -> Result<Vec<String>, TurnError> {
        let rt = self.runtime;
        let policy = self.policy().await?;
        let (mut allowed, mut denied, mut asked) = (Vec::new(), Vec::new(), Vec::new());
        let mut to_decide = Vec::new();
        for (call, tool) in calls {
            let row = rt
                .store
                .request_tool_call(
                    rt.id,
                    &self.turn.turn_id,
                    &call.id,
                    tool.name(),
                    &call.arguments,
                    tool.effect().repeatable(),
                )
                .await?;
            if row.state != ToolCallState::Requested {
                continue;
            }
            if row.approval.is_some() {
                // Asked before a restart; the request is still pending.
                asked.push(call.id.clone());
                continue;
            }
            let Some(input) = json_arguments(&call.arguments) else {
                let reason = invalid_arguments(tool.name(), &call.arguments);
                self.decide(&call.id, false, &reason).await?;
                denied.push(call.id.clone());
                continue;
            };
            to_decide.push((call.id.clone(), tool.clone(), input));
        }
        // Deciding resolves paths and previewing reads files: off the runtime.
        let verdicts = crate::fs::blocking(move || {
            to_decide
                .into_iter()
                .map(|(tool_call_id, tool, input)| {
                    let verdict = if tool.name() == question::TOOL {
                        question::verdict(&input)
                    } else {
                        policy.decide(Call {
                            tool: tool.name(),
                            input: &input,
                            effect: tool.effect(),
                        })
                    };
                    let diffs = matches!(verdict, Verdict::Ask { .. })
                        .then(|| preview::diffs(tool.name(), &input, &policy.cwd));
                    (tool_call_id, tool, input, verdict, diffs)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let mut requests = Vec::new();
        for (tool_call_id, tool, input, verdict, diffs) in verdicts {
            match verdict {
                Verdict::Allow { reason } => {
                    self.decide(&tool_call_id, true, &reason).await?;
                    allowed.push(tool_call_id);
                }
                Verdict::Deny { reason } => {
                    self.decide(
                        &tool_call_id,
                        false,
                        &format!("Permission denied: {reason}"),
                    )
                    .await?;
                    denied.push(tool_call_id);
                }
                Verdict::Ask { .. } if tool.name() == question::TOOL => {
                    let body = ControlRequestBody::AskUserQuestion(AskUserQuestionRequest {
                        tool_call_id: tool_call_id.clone(),
                        questions: question::questions_of(&input).unwrap_or_default(),
                    });
                    rt.store
                        .ask_about_tool_call(&tool_call_id, &json_text(&body), "[]")
                        .await?;
                    asked.push(tool_call_id);
                    requests.push(body);
                }
                Verdict::Ask {
                    blocked_path,
                    suggestions,
                    ..
                } => {
                    let body = ControlRequestBody::CanUseTool(CanUseTool {
                        tool_name: tool.name().to_owned(),
                        diffs: diffs.unwrap_or_default(),
                        input,
                        tool_call_id: tool_call_id.clone(),
                        permission_suggestions: suggestions
                            .iter()
                            .map(|suggestion| PermissionSuggestion {
                                id: suggestion.id.clone(),
                                text: suggestion.text.clone(),
                            })
                            .collect(),
                        blocked_path: blocked_path.map(|path| path.display().to_string()),
                    });
                    rt.store
                        .ask_about_tool_call(
                            &tool_call_id,
                            &json_text(&body),
                            &json_text(&suggestions),
                        )
                        .await?;
                    asked.push(tool_call_id);
                    requests.push(body);
                }
            }
        }
        let mut drafts = vec![self.delta(lifecycle(
            run_id,
            json!({
                "message_type": "approval_classification_end",
                "auto_allowed_tool_call_ids": allowed,
                "auto_denied_tool_call_ids": denied,
                "user_input_tool_call_ids": asked,
            }),
        ))];
        if !asked.is_empty() {
            {
                let mut state = lock(&rt.state);
                state.loop_status = LoopStatus::WaitingOnApproval;
                state.executing_tool_call_ids.clear();
            }
            drafts.push(rt.loop_status_draft());
        }
        let asked_now = requests.clone();
        for request in requests {
            let request_id = approval_request_id(request.tool_call_id());
            drafts.push(
                rt.log
                    .draft::<events::ControlRequest>(|envelope| ControlRequestEvent {
                        envelope,
                        request_id,
                        request: request.clone(),
                        agent_id: rt.scope.agent_id.clone(),
                        conversation_id: Some(rt.scope.conversation_id.clone()),
                    }),
            );
        }
        if !asked.is_empty() {
            drafts.push(rt.device_status_draft().await);
        }
        rt.log.emit_all(drafts, None).await?;
        if !asked_now.is_empty() {
            rt.show_requests_to_parent(&asked_now).await;
        }
        Ok(asked)
    }

    async fn decide(&self, tool_call_id: &str, allow: bool, reason: &str) -> Result<(), TurnError> {
        let decision = Decision {
            allow,
            reason,
            updated_input: None,
        };
        self.runtime
            .store
            .decide_tool_call(self.runtime.id, tool_call_id, &decision)
            .await?;
        Ok(())
    }

    /// Waits until a human (or a rule saved meanwhile) decided the call.
    async fn wait_for_decision(&self, tool_call_id: &str) -> Result<(), TurnError> {
        let rt = self.runtime;
        loop {
            // Register before looking, so an answer in between still wakes us.
            let waiter = rt.approvals.waiter(tool_call_id);
            let row = self.row(tool_call_id).await?;
            if row.state != ToolCallState::Requested {
                rt.approvals.forget(tool_call_id);
                return Ok(());
            }
            tokio::select! {
                _ = waiter => {}
                () = self.turn.cancel.cancelled() => return Err(TurnError::Cancelled),
            }
        }
    }

    async fn row(&self, tool_call_id: &str) -> Result<ToolCallRow, TurnError> {
        self.runtime
            .store
            .tool_call(tool_call_id)
            .await?
            .ok_or_else(|| {
                TurnError::Protocol(format!("tool call {tool_call_id} is not journaled"))
            })
    }

    async fn set_executing(&self, ids: Vec<String>) -> Result<(), TurnError> {
        let rt = self.runtime;
        {
            let mut state = lock(&rt.state);
            state.loop_status = LoopStatus::ExecutingClientSideTool;
            state.executing_tool_call_ids = ids;
        }
        rt.log.emit(rt.loop_status_draft()).await?;
        Ok(())
    }

    /// Takes a decided call to a stored result, by the journal's state.
    /// The result is stored with the events telling of the call's end.
    async fn finish(
        &self,
        call: &ToolCall,
        tool: &LocalTool,
        run_id: Option<&str>,
        hidden: &GlobSet,
    ) -> Result<Outcome, TurnError> {
        let rt = self.runtime;
        let row = self.row(&call.id).await?;
        let (output, end) = match row.state {
            ToolCallState::Stored | ToolCallState::Delivered => {
                return Ok(stored_outcome(&row));
            }
            ToolCallState::Decided if row.decision == Some(ToolDecision::Deny) => (
                ToolOutput::error(format!(
                    "The user did not allow this {} call: {}",
                    tool.name(),
                    row.decision_reason.as_deref().unwrap_or("denied")
                )),
                None,
            ),
            // A plan call's change and result are stored together: it has
            // no executing state to be interrupted in.
            ToolCallState::Decided if tool.effect() == Effect::Conversation => {
                let (output, end) = self
                    .run_tool(call, tool, &row, run_id, hidden, None)
                    .await?;
                (output, Some(end))
            }
            ToolCallState::Decided => {
                crash_point("tool-decided");
                let started = StateChange::ToolStarted {
                    tool_call_id: call.id.clone(),
                };
                let (output, end) = self
                    .run_tool(call, tool, &row, run_id, hidden, Some(started))
                    .await?;
                (output, Some(end))
            }
            ToolCallState::Executing if row.read_only => {
                tracing::info!(tool_call = %call.id, "re-running a read-only call interrupted by a restart");
                let (output, end) = self
                    .run_tool(call, tool, &row, run_id, hidden, None)
                    .await?;
                (output, Some(end))
            }
            ToolCallState::Executing => (
                ToolOutput::error(format!(
                    "Interrupted: the daemon stopped while this {} call was running, so it may or \
                     may not have taken effect. It was not run again; check its effects before \
                     retrying.",
                    tool.name()
                )),
                None,
            ),
            ToolCallState::Requested => {
                return Err(TurnError::Protocol(format!(
                    "tool call {} was never decided",
                    call.id
                )));
            }
        };
        let status = output.status();
        let mut drafts: Vec<Draft> = end.into_iter().collect();
        drafts.push(self.delta(json!({
            "type": "message",
            "message_type": "tool_return_message",
            "id": format!("synthetic-tool-return-{}", call.id),
            "date": crate::util::now_rfc3339(),
            "run_id": run_id,
            "status": status,
            "tool_call_id": call.id,
            "tool_return": output.text,
            "tool_returns": [{ "tool_call_id": call.id, "status": status, "tool_return": output.text }],
        })));
        let stored = ToolResult {
            tool_call_id: call.id.clone(),
            text: output.text.clone(),
            status,
            content: output.content.as_ref().map(Value::to_string),
        };
        rt.log
            .emit_with_change(drafts, None, StateChange::ToolResult(stored))
            .await?;
        crash_point("tool-stored");
        Ok((output.content.unwrap_or(Value::String(output.text)), status))
    }

    /// Runs the tool after telling of its start (written with `started`,
    /// the call's move to executing, when given); returns its output and
    /// the event telling of its end, to be written with its result.
    async fn run_tool(
        &self,
        call: &ToolCall,
        tool: &LocalTool,
        row: &ToolCallRow,
        run_id: Option<&str>,
        hidden: &GlobSet,
        started: Option<StateChange>,
    ) -> Result<(ToolOutput, Draft), TurnError> {
        let rt = self.runtime;
        let arguments = row.updated_input.as_deref().unwrap_or(&row.input);
        let start = self.delta(lifecycle(
            run_id,
            json!({
                "message_type": "client_tool_start",
                "tool_call_id": call.id,
                "tool_name": tool.name(),
                "tool_args": arguments,
            }),
        ));
        match started {
            Some(change) => {
                rt.log.emit_with_change(vec![start], None, change).await?;
                crash_point("tool-executing");
            }
            None => {
                rt.log.emit(start).await?;
            }
        }
        let tool = match tool {
            LocalTool::Builtin(tool) => *tool,
            LocalTool::Mcp { name, tool } => {
                let output = match (tool, json_arguments(arguments)) {
                    (_, None) => ToolOutput::error(invalid_arguments(name, arguments)),
                    (None, Some(_)) => ToolOutput::error(format!(
                        "{name} is no longer offered by its MCP server; it was not called."
                    )),
                    (Some(tool), Some(input)) => {
                        let spill = rt.tool_output_dir.join(format!("{}.txt", call.id));
                        tool.server
                            .call(name, &tool.spec.remote, input, &self.turn.cancel, &spill)
                            .await
                    }
                };
                return Ok(self.ended(call, run_id, output));
            }
        };
        let output = match json_arguments(arguments) {
            Some(input) if tool.name == "Wake" => rt.run_wake_call(&call.id, &input).await?,
            Some(input) if tool.name == "Monitor" => rt.run_monitor_call(&call.id, &input).await?,
            Some(input) if matches!(tool.name, "EnterWorktree" | "ExitWorktree") => {
                rt.run_worktree_call(tool.name, &input).await?
            }
            Some(input) if tool.name == question::TOOL => question::answered(&input),
            Some(input) if tool.name == "Agent" => {
                rt.run_agent_call(&call.id, &input, &self.turn.cancel).await
            }
            Some(input) if tool.name == "SendAgentMessage" => {
                rt.run_send_agent_message(&call.id, &input).await
            }
            Some(input) if crate::tools::plan::PLAN_TOOLS.contains(&tool.name) => {
                rt.run_plan_call(&call.id, tool.name, &input).await?
            }
            Some(input) if tool.effect == Effect::Navigate => {
                rt.move_working_directory(&input).await?
            }
            Some(input) => execute(tool.name, &input, &self.tool_context(&call.id, hidden)).await,
            None => ToolOutput::error(invalid_arguments(tool.name, arguments)),
        };
        Ok(self.ended(call, run_id, output))
    }

    /// The output, and the event telling frontends the tool ended.
    fn ended(
        &self,
        call: &ToolCall,
        run_id: Option<&str>,
        output: ToolOutput,
    ) -> (ToolOutput, Draft) {
        let end = lifecycle(
            run_id,
            json!({ "message_type": "client_tool_end", "tool_call_id": call.id, "status": output.status() }),
        );
        (output, self.delta(end))
    }

    fn tool_context(&self, tool_call_id: &str, hidden: &GlobSet) -> ToolContext {
        let rt = self.runtime;
        ToolContext {
            cwd: lock(&rt.state).cwd.clone().into(),
            output_dir: rt.tool_output_dir.clone(),
            tool_call_id: tool_call_id.to_owned(),
            cancel: self.turn.cancel.clone(),
            jobs: rt.jobs.clone(),
            sessions: rt.sessions.clone(),
            hidden: hidden.clone(),
            agent_id: rt.scope.agent_id.clone(),
        }
    }
}

/// Whether two calls of one step may run at the same time.
fn run_together(first: &LocalTool, next: &LocalTool) -> bool {
    let launch =
        |tool: &LocalTool| matches!(tool, LocalTool::Builtin(tool) if tool.name == "Agent");
    (first.effect() == Effect::ReadOnly && next.effect() == Effect::ReadOnly)
        || (launch(first) && launch(next))
}

/// A stored result, as the model gets it.
pub(super) fn stored_outcome(row: &ToolCallRow) -> Outcome {
    let content = row
        .result_content
        .as_deref()
        .and_then(|content| serde_json::from_str(content).ok());
    (
        content.unwrap_or_else(|| Value::String(row.result.clone().unwrap_or_default())),
        row.result_status.unwrap_or(ResultStatus::Error),
    )
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
