//! Subagents: an agent hands a self-contained task to another conversation
//! with its `Agent` tool and goes on; when the task ends, its report comes
//! back to the agent as a message of its own (`<task-notification>`).
//!
//! A subagent is a runtime like any other — a conversation of a new agent
//! (or one named), on the parent's backend, in the parent's working
//! directory and permission mode — whose first input is the task. So it
//! survives restarts the way every turn does, and its tool calls are
//! journaled once. What ties it to its parent is a row in SQLite, written
//! before anything is created and keyed by the launching tool call: the
//! call run again after a crash finds it, and the parent is told of the end
//! exactly once (the notice's input id is fixed, and the row remembers it
//! was sent).

mod approvals;
mod follow;
mod messages;
pub mod types;

use std::sync::Arc;

use letta_protocol::{
    CreateMessage, LaunchSubagentResult, MessageCreate, SubagentLaunchArgs, SubagentSnapshot,
    SubagentStateEvent, SubagentStatus, events,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{Runtime, RuntimeError, Runtimes};
use crate::store::SubagentRow;
use crate::tools::{ToolOutput, home_dir};
use crate::util::{id_of, lock, now_millis};
use follow::follow;
use types::{DEFAULT_TYPE, SubagentType};

/// Subagents listed in `update_subagent_state`: the newest.
const LISTED: i64 = 50;
/// Longest report kept in a snapshot, and sent back to the parent.
const SNAPSHOT_RESULT_CHARS: usize = 4_000;
const REPORT_CHARS: usize = 30_000;
/// Messages of the subagent's conversation searched for its report.
const REPORT_SEARCH: u64 = 50;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentArgs {
    description: String,
    prompt: String,
    #[serde(default)]
    subagent_type: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    computer: Option<String>,
    /// `false`: the call waits for the report and returns it.
    #[serde(default)]
    run_in_background: Option<bool>,
    /// Only for Letta Code's Claude Code and Codex workers; a subagent
    /// here uses the MCP servers of its own agent.
    #[serde(default)]
    #[allow(dead_code)]
    mcp: Option<Value>,
}

/// Where a subagent's report goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reporting {
    /// To the parent, as a `<task-notification>` message.
    Notice,
    /// To the frontend that launched it (`notify: "caller"`), which reads
    /// it from `update_subagent_state`.
    Caller,
    /// To the launching `Agent` call, which waits for it.
    CallResult,
}

/// A future boxed to break a cycle: launching, sending and answering open
/// or reach other runtimes, whose turns may do the same.
type Boxed<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime {
    /// The `Agent` tool: launches a subagent and returns at once, or, in
    /// the foreground, when it has reported. Run again for the same call
    /// (after a crash), it finishes the same launch, or waits on.
    pub(crate) async fn run_agent_call(
        &self,
        tool_call_id: &str,
        input: &Map<String, Value>,
        cancel: &CancellationToken,
    ) -> ToolOutput {
        let args: AgentArgs = match crate::tools::arguments("Agent", input) {
            Ok(args) => args,
            Err(err) => return ToolOutput::error(err),
        };
        let reporting = if args.run_in_background == Some(false) {
            Reporting::CallResult
        } else {
            Reporting::Notice
        };
        // Subscribed before the launch, so no report is missed.
        let reported = self.subagents_reported.subscribe();
        let row = match self.launch(tool_call_id, args, reporting).await {
            Ok(row) => row,
            Err(Refused(reason)) => return ToolOutput::error(format!("Agent: {reason}")),
        };
        if reporting == Reporting::Notice {
            return ToolOutput::ok(launched(&row, &self.report_file(&row.id)));
        }
        match self.wait_for_report(&row.id, reported, cancel).await {
            Ok(output) => output,
            Err(err) => ToolOutput::error(format!("Agent: {err}")),
        }
    }

    /// Waits until the subagent `id` has reported, for a foreground call.
    /// Cancelling the parent's turn cancels the subagent's task too.
    async fn wait_for_report(
        &self,
        id: &str,
        mut reported: tokio::sync::watch::Receiver<u64>,
        cancel: &CancellationToken,
    ) -> Result<ToolOutput, RuntimeError> {
        loop {
            let Some(row) = self.store.subagent(id).await? else {
                return Ok(ToolOutput::error(format!("Agent: subagent {id} is gone")));
            };
            if !row.foreground {
                // Given a message of its own after it reported: from then on
                // it works in the background.
                return Ok(ToolOutput::ok(format!(
                    "The subagent {id} was given another message before its report was read; \
                     its report will come as a <task-notification> message."
                )));
            }
            if row.notified {
                return Ok(finished(&row));
            }
            tokio::select! {
                changed = reported.changed() => {
                    if changed.is_err() {
                        return Err(RuntimeError::Internal("the runtime closed".to_owned()));
                    }
                }
                () = cancel.cancelled() => {
                    self.cancel_subagent(&row).await;
                    return Ok(ToolOutput::error(format!(
                        "Cancelled: the turn was interrupted while subagent {id} worked; its \
                         task was cancelled too."
                    )));
                }
            }
        }
    }

    /// Stops the task of a subagent whose parent stopped waiting for it.
    /// Boxed: it opens the subagent's runtime.
    fn cancel_subagent<'a>(&'a self, row: &'a SubagentRow) -> Boxed<'a, ()> {
        Box::pin(self.cancel_subagent_now(row))
    }

    async fn cancel_subagent_now(&self, row: &SubagentRow) {
        let (Some(runtimes), Some(agent_id), Some(conversation_id)) = (
            self.runtimes.upgrade(),
            row.agent_id.as_deref(),
            row.conversation_id.as_deref(),
        ) else {
            return;
        };
        let aborted = match runtimes
            .open_with(Some(agent_id), conversation_id, None, None)
            .await
        {
            Ok(child) => child.abort().await.map(drop),
            Err(err) => Err(err),
        };
        if let Err(err) = aborted {
            tracing::warn!(subagent = %row.id, error = %err, "cannot cancel a subagent's task");
        }
    }

    /// `launch_subagent`: a frontend launches a subagent for this
    /// runtime's agent. `key` makes a repeated launch the same one.
    pub async fn launch_subagent(
        &self,
        key: &str,
        args: SubagentLaunchArgs,
        tell_parent: bool,
    ) -> LaunchSubagentResult {
        let args = AgentArgs {
            description: args.description,
            prompt: args.prompt,
            subagent_type: args.subagent_type,
            model: args.model,
            agent_id: args.agent_id,
            conversation_id: args.conversation_id,
            computer: args.computer,
            run_in_background: None,
            mcp: args.mcp,
        };
        let reporting = if tell_parent {
            Reporting::Notice
        } else {
            Reporting::Caller
        };
        match self.launch(key, args, reporting).await {
            Ok(row) => LaunchSubagentResult {
                success: true,
                output_file: Some(self.report_file(&row.id).display().to_string()),
                task_id: Some(row.id),
                agent_id: row.agent_id,
                conversation_id: row.conversation_id,
                error: None,
                runtime: Some(self.scope.clone()),
            },
            Err(Refused(reason)) => LaunchSubagentResult {
                success: false,
                error: Some(reason),
                runtime: Some(self.scope.clone()),
                ..LaunchSubagentResult::default()
            },
        }
    }

    /// Where a subagent's report is written when it ends.
    fn report_file(&self, id: &str) -> std::path::PathBuf {
        self.tool_output_dir.join(format!("{id}.report.txt"))
    }

    /// Boxed: a launch opens a runtime, whose turns may launch again.
    fn launch<'a>(
        &'a self,
        tool_call_id: &'a str,
        args: AgentArgs,
        reporting: Reporting,
    ) -> Boxed<'a, Result<SubagentRow, Refused>> {
        Box::pin(self.launch_now(tool_call_id, args, reporting))
    }

    async fn launch_now(
        &self,
        tool_call_id: &str,
        args: AgentArgs,
        reporting: Reporting,
    ) -> Result<SubagentRow, Refused> {
        if let Some(computer) = &args.computer {
            return Err(Refused(format!(
                "subagents run on this machine; `computer` ({computer}) is not supported here"
            )));
        }
        let runtimes = self
            .runtimes
            .upgrade()
            .ok_or_else(|| Refused("the daemon is stopping".to_owned()))?;
        let id = format!("subagent-{}", tool_call_id.trim_start_matches("call_"));
        let cwd = lock(&self.state).cwd.clone();
        let wanted = args
            .subagent_type
            .clone()
            .unwrap_or_else(|| DEFAULT_TYPE.to_owned());
        let kind = find_type(&cwd, &wanted).await?;
        // Counted and recorded as one step, so launches made at once (the
        // calls of one step run together) cannot pass the bound together.
        let launching = runtimes.launching.lock().await;
        let existing = self.store.subagent(&id).await.map_err(refused)?;
        if existing.is_none() {
            self.check_may_launch(&runtimes).await?;
        }
        let row = match existing {
            Some(row) => row,
            None => self
                .store
                .launch_subagent(&SubagentRow {
                    id: id.clone(),
                    parent_runtime_id: self.id,
                    tool_call_id: tool_call_id.to_owned(),
                    subagent_type: kind.name.clone(),
                    description: args.description.clone(),
                    prompt: args.prompt.clone(),
                    agent_id: args.agent_id.clone(),
                    conversation_id: args.conversation_id.clone(),
                    assignment: format!("task-{id}"),
                    status: "launching".to_owned(),
                    result: None,
                    error: None,
                    tell_parent: reporting == Reporting::Notice,
                    foreground: reporting == Reporting::CallResult,
                    notified: false,
                    started_at_ms: now_millis(),
                    finished_at_ms: None,
                })
                .await
                .map_err(refused)?,
        };
        drop(launching);
        lock(&self.state).has_subagents = true;
        // Each step is done once however often this runs: a crash may have
        // cut it anywhere (the task's input is idempotent by its id).
        if matches!(row.status.as_str(), "launching" | "running") {
            self.start_subagent(&runtimes, &row, &kind, args.model.as_deref())
                .await?;
        }
        let row = self
            .store
            .subagent(&id)
            .await
            .map_err(refused)?
            .unwrap_or(row);
        tokio::spawn(follow(runtimes, id));
        self.announce_subagents().await;
        Ok(row)
    }

    /// A subagent launches none of its own, and at most
    /// `max_subagents` work at once.
    async fn check_may_launch(&self, runtimes: &Runtimes) -> Result<(), Refused> {
        let me = &self.scope.conversation_id;
        let parents = self.store.subagent_parent_of(me).await.map_err(refused)?;
        if parents.is_some() {
            return Err(Refused(
                "a subagent cannot launch subagents of its own; do the work, or say in your \
                 report what else needs doing"
                    .to_owned(),
            ));
        }
        let running = self.store.running_subagents().await.map_err(refused)?;
        let most = runtimes.settings.max_subagents;
        if usize::try_from(running).unwrap_or(usize::MAX) >= most {
            return Err(Refused(format!(
                "{running} subagents are already working, the most this daemon runs at once \
                 ({most}); wait for one to report"
            )));
        }
        Ok(())
    }

    /// Creates what the subagent needs (an agent, a conversation), opens
    /// its runtime and gives it the task.
    async fn start_subagent(
        &self,
        runtimes: &Runtimes,
        row: &SubagentRow,
        kind: &SubagentType,
        model: Option<&str>,
    ) -> Result<(), Refused> {
        let backend = &self.backend;
        let agent_id = match (&row.agent_id, &row.conversation_id) {
            (Some(agent_id), _) => agent_id.clone(),
            (None, Some(conversation_id)) => backend
                .retrieve_conversation(conversation_id)
                .await
                .map_err(refused)?
                .get("agent_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Refused(format!("conversation {conversation_id} names no agent")))?,
            (None, None) => {
                let body = self.new_agent_body(kind, model, &row.description).await?;
                let agent = backend.create_agent(&body).await.map_err(refused)?;
                id_of(&agent).ok_or_else(|| Refused("the new agent has no id".to_owned()))?
            }
        };
        let conversation_id = match &row.conversation_id {
            Some(conversation_id) => conversation_id.clone(),
            None => {
                let created = backend
                    .create_conversation(&agent_id, &json!({}))
                    .await
                    .map_err(refused)?;
                id_of(&created)
                    .ok_or_else(|| Refused("the new conversation has no id".to_owned()))?
            }
        };
        self.store
            .set_subagent_conversation(&row.id, &agent_id, &conversation_id)
            .await
            .map_err(refused)?;
        crate::faults::crash_point("subagent-conversation-noted");
        let (cwd, mode) = {
            let state = lock(&self.state);
            (state.cwd.clone(), state.mode)
        };
        let child = runtimes
            .open_with(Some(&agent_id), &conversation_id, Some(cwd), Some(mode))
            .await
            .map_err(refused)?;
        // It works under the parent's rules and with its MCP servers.
        let rules = self.store.session_rules(self.id).await.map_err(refused)?;
        if !rules.is_empty() {
            self.store
                .add_session_rules(child.id, &rules)
                .await
                .map_err(refused)?;
        }
        let servers = self.mcp_entries().await;
        if !servers.is_empty() {
            child.set_own_mcp_servers(servers).await.map_err(refused)?;
        }
        let task = format!(
            "<system-reminder>\n{}\n</system-reminder>\n\n{}",
            kind.instructions, row.prompt
        );
        child
            .accept_input(
                CreateMessage {
                    messages: vec![MessageCreate {
                        role: "user".to_owned(),
                        content: Value::String(task),
                        client_message_id: Some(row.assignment.clone()),
                        extra: Map::new(),
                    }],
                    // The type's tools, also those its toolset lacks (Glob,
                    // Grep, LS), and no others.
                    client_toolset: kind
                        .tools
                        .clone()
                        .map(|tools| letta_protocol::ClientToolset {
                            base: None,
                            include: Some(tools),
                        }),
                    client_tool_allowlist: kind.tools.clone(),
                    // Nobody is there to answer a question.
                    exclude_interactive_tools: Some(true),
                    ..Default::default()
                },
                None,
            )
            .await
            .map_err(refused)?;
        Ok(())
    }

    /// A new agent for the subagent: the model asked for, or the type's,
    /// or the parent's; the parent's embedding.
    async fn new_agent_body(
        &self,
        kind: &SubagentType,
        model: Option<&str>,
        description: &str,
    ) -> Result<Value, Refused> {
        let parent = match &self.scope.agent_id {
            Some(agent_id) => self
                .backend
                .retrieve_agent(agent_id)
                .await
                .map_err(refused)?,
            None => Value::Null,
        };
        let model = model
            .map(str::to_owned)
            .or_else(|| kind.model.clone())
            .or_else(|| super::toolset::agent_model(&parent).map(|model| model.handle));
        // Letta takes letters, digits, spaces, `-`, `_` and `'` in a name.
        let name: String = format!("{} subagent - {description}", kind.name)
            .chars()
            .map(|ch| {
                if ch.is_alphanumeric() || matches!(ch, ' ' | '-' | '_' | '\'') {
                    ch
                } else {
                    ' '
                }
            })
            .take(100)
            .collect();
        let mut body = json!({
            "name": name.trim(),
            "description": description,
            "tags": ["letta-code-subagent", format!("parent:{}", self.scope.agent_id.as_deref().unwrap_or_default())],
        });
        if let Some(model) = model {
            body["model"] = Value::String(model);
        }
        let embedding = parent["embedding"].as_str().map(str::to_owned).or_else(|| {
            parent["embedding_config"]["handle"]
                .as_str()
                .map(str::to_owned)
        });
        if let Some(embedding) = embedding {
            body["embedding"] = Value::String(embedding);
        }
        Ok(body)
    }

    /// Tells frontends how this runtime's subagents stand.
    pub(crate) async fn announce_subagents(&self) {
        match self.subagents_draft().await {
            Ok(Some(draft)) => {
                if let Err(err) = self.log.emit(draft).await {
                    tracing::warn!(error = %err, "cannot announce the subagents");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "cannot list the subagents"),
        }
    }

    /// `update_subagent_state`, if this runtime launched any.
    pub(crate) async fn subagents_draft(
        &self,
    ) -> Result<Option<super::event_log::Draft>, RuntimeError> {
        if !lock(&self.state).has_subagents {
            return Ok(None);
        }
        let rows = self.store.subagents_of(self.id, LISTED).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let subagents = rows.iter().map(|row| self.snapshot(row)).collect();
        Ok(Some(self.log.draft::<events::UpdateSubagentState>(
            |envelope| SubagentStateEvent {
                envelope,
                subagents,
            },
        )))
    }

    fn snapshot(&self, row: &SubagentRow) -> SubagentSnapshot {
        let status = match row.status.as_str() {
            "launching" => SubagentStatus::Pending,
            "running" => SubagentStatus::Running,
            "completed" => SubagentStatus::Completed,
            _ => SubagentStatus::Error,
        };
        let start = u64::try_from(row.started_at_ms).unwrap_or(0);
        let end = row
            .finished_at_ms
            .unwrap_or_else(now_millis)
            .max(row.started_at_ms);
        SubagentSnapshot {
            subagent_id: row.id.clone(),
            subagent_type: row.subagent_type.clone(),
            description: row.description.clone(),
            prompt: Some(row.prompt.clone()),
            status,
            agent_url: None,
            agent_id: row.agent_id.clone(),
            conversation_id: row.conversation_id.clone(),
            is_background: Some(!row.foreground),
            tool_call_id: Some(row.tool_call_id.clone()),
            parent_agent_id: self.scope.agent_id.clone(),
            parent_conversation_id: Some(self.scope.conversation_id.clone()),
            start_time: start,
            tool_calls: Vec::new(),
            total_tokens: 0,
            duration_ms: u64::try_from(end - row.started_at_ms).unwrap_or(0),
            error: row.error.clone(),
            result: row.result.as_deref().map(|result| {
                crate::tools::truncate_chars(result, SNAPSHOT_RESULT_CHARS)
                    .0
                    .to_owned()
            }),
        }
    }
}

impl Runtimes {
    /// Follows every subagent whose parent has not been told of its end:
    /// after a restart, their runtimes go on and their reports still come
    /// back, once.
    pub async fn follow_subagents(&self) -> Result<(), RuntimeError> {
        let Some(me) = self.me.upgrade() else {
            return Ok(());
        };
        for row in self.store.unreported_subagents().await? {
            tokio::spawn(follow(me.clone(), row.id));
        }
        Ok(())
    }

    async fn by_id(&self, id: i64) -> Option<Arc<Runtime>> {
        self.all()
            .await
            .into_iter()
            .find(|runtime| runtime.id == id)
    }
}

/// Why a launch did not happen, for the agent.
struct Refused(String);

fn refused(err: impl std::fmt::Display) -> Refused {
    Refused(err.to_string())
}

async fn find_type(cwd: &str, name: &str) -> Result<SubagentType, Refused> {
    let (home, cwd) = (home_dir(), std::path::PathBuf::from(cwd));
    let (known, problems) = crate::fs::blocking(move || types::available(&home, &cwd)).await;
    for problem in problems {
        tracing::warn!(problem, "a subagent type cannot be used");
    }
    match known.iter().find(|kind| kind.name == name) {
        Some(kind) => Ok(kind.clone()),
        None if matches!(name, "claude-code" | "codex") => Err(Refused(format!(
            "the {name} worker type is not supported here; use {DEFAULT_TYPE} or explore"
        ))),
        None => Err(Refused(format!(
            "there is no subagent type {name:?}; the types are {}",
            known
                .iter()
                .map(|kind| kind.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What a foreground `Agent` call answers once its subagent reported.
fn finished(row: &SubagentRow) -> ToolOutput {
    let heading = format!(
        "Subagent {} ({} \"{}\"), conversation {}",
        row.id,
        row.subagent_type,
        row.description,
        row.conversation_id.as_deref().unwrap_or("-"),
    );
    match (&row.result, &row.error) {
        (Some(report), _) if row.status == "completed" => {
            ToolOutput::ok(format!("{heading}, completed. Its report:\n\n{report}"))
        }
        (_, error) => ToolOutput::error(format!(
            "{heading}, did not finish: {}.",
            error.as_deref().unwrap_or("it ended without a report")
        )),
    }
}

/// What the `Agent` call answers.
fn launched(row: &SubagentRow, report: &std::path::Path) -> String {
    format!(
        "Task running in background with task ID: {}\nAgent ID: {}\nConversation ID: {}\n\
         Output file: {}\n\n\
         You will be told when it completes: a <task-notification> message will bring its \
         report. Do not poll or wait for it; go on with your work.",
        row.id,
        row.agent_id.as_deref().unwrap_or("-"),
        row.conversation_id.as_deref().unwrap_or("-"),
        report.display(),
    )
}
