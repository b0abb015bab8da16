//! What a runtime is doing now, and the snapshots frontends get of it.

use std::collections::VecDeque;

use letta_protocol::{
    DeviceStatus, ExternalToolDefinition, ExternalToolsGroup, LoopState, LoopStatus,
    PermissionMode, QueueMessage,
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::store::InputRow;

/// An accepted input waiting for its turn.
#[derive(Debug, Clone)]
pub struct QueuedInput {
    pub row: InputRow,
    /// The message content, for the queue snapshot.
    pub content: Value,
}

/// The turn being worked on.
#[derive(Debug, Clone)]
pub struct RunningTurn {
    pub input_id: i64,
    pub turn_id: String,
    pub client_message_id: String,
    pub cancel: CancellationToken,
}

/// Tools a connection registered, and under which scope.
#[derive(Debug, Clone)]
pub struct Registration {
    pub connection: usize,
    pub group: ExternalToolsGroup,
}

#[derive(Debug)]
pub struct RuntimeState {
    pub cwd: String,
    pub mode: PermissionMode,
    pub loop_status: LoopStatus,
    pub active_run_ids: Vec<String>,
    pub executing_tool_call_ids: Vec<String>,
    /// The input of each recent run, oldest first, at most
    /// [`RECENT_RUN_CORRELATIONS`].
    recent_runs: VecDeque<(String, String)>,
    pub queue: Vec<QueuedInput>,
    pub paused: bool,
    pub running: Option<RunningTurn>,
    /// A turn has ended but its end is not in the event log yet: until it
    /// is, `daemon_status` still shows the runtime busy, so whoever sees it
    /// idle can also replay how the turn ended.
    pub recording_end: bool,
    pub registrations: Vec<Registration>,
    /// The toolset preference (`auto`, or a toolset's name).
    pub toolset: String,
    /// The agent's model as last seen, for the `auto` toolset; unknown
    /// until a `runtime_start` or `update_model`.
    pub model: Option<crate::tools::AgentModel>,
    /// Whether turns start a session with the session context.
    pub session_context: bool,
    /// The working directory the session context last described.
    pub context_cwd: Option<String>,
    /// The skills the agent was last told about (ids and descriptions).
    pub context_skills: Option<String>,
    /// Whether the backend takes images in tool results (`ViewImage`).
    pub takes_images: bool,
    /// The skills found when the working directory was last looked at, as
    /// device status lists them.
    pub available_skills: Vec<Value>,
    /// The MCP servers the agent's configuration names, held running while
    /// it does, and the entries of that configuration that cannot be used.
    pub mcp_servers: Vec<std::sync::Arc<crate::mcp::Server>>,
    pub mcp_bad: Vec<crate::mcp::BadConfig>,
    /// MCP servers given to this runtime alone (a JSON list).
    pub own_mcp_servers: Value,
    /// Whether this runtime's agent ever launched a subagent here (if not,
    /// nothing about subagents is looked up).
    pub has_subagents: bool,
}

/// Runs the loop status correlates with their inputs (as many as Letta
/// Code keeps): it goes with every status event, so it must not grow with
/// the runtime's age.
const RECENT_RUN_CORRELATIONS: usize = 32;

impl RuntimeState {
    pub fn new(cwd: String, mode: PermissionMode, paused: bool) -> Self {
        RuntimeState {
            cwd,
            mode,
            loop_status: LoopStatus::WaitingOnInput,
            active_run_ids: Vec::new(),
            executing_tool_call_ids: Vec::new(),
            recent_runs: VecDeque::new(),
            queue: Vec::new(),
            paused,
            running: None,
            recording_end: false,
            registrations: Vec::new(),
            toolset: crate::tools::AUTO_TOOLSET.to_owned(),
            model: None,
            session_context: true,
            context_cwd: None,
            context_skills: None,
            takes_images: false,
            available_skills: Vec::new(),
            mcp_servers: Vec::new(),
            mcp_bad: Vec::new(),
            own_mcp_servers: Value::Array(Vec::new()),
            has_subagents: false,
        }
    }

    /// How the agent's MCP servers stand, the unusable entries included.
    pub fn mcp_statuses(&self) -> Vec<letta_protocol::McpServerStatus> {
        self.mcp_servers
            .iter()
            .map(|server| crate::mcp::status(server))
            .chain(self.mcp_bad.iter().map(crate::mcp::bad_status))
            .collect()
    }

    pub fn loop_state(&self) -> LoopState {
        LoopState {
            status: self.loop_status,
            active_run_ids: self.active_run_ids.clone(),
            client_message_ids_by_run_id: Some(
                self.recent_runs
                    .iter()
                    .map(|(run_id, input)| (run_id.clone(), vec![input.clone()]))
                    .collect(),
            ),
            executing_tool_call_ids: self.executing_tool_call_ids.clone(),
        }
    }

    /// Notes that `run_id` runs the input `client_message_id`, for the
    /// loop status; only the latest [`RECENT_RUN_CORRELATIONS`] are kept.
    pub fn correlate_run(&mut self, run_id: &str, client_message_id: &str) {
        self.recent_runs.retain(|(run, _)| run != run_id);
        self.recent_runs
            .push_back((run_id.to_owned(), client_message_id.to_owned()));
        while self.recent_runs.len() > RECENT_RUN_CORRELATIONS {
            self.recent_runs.pop_front();
        }
    }

    pub fn queue_messages(&self) -> Vec<QueueMessage> {
        self.queue
            .iter()
            .map(|input| QueueMessage {
                id: format!("input-{}", input.row.id),
                client_message_id: input.row.client_message_id.clone(),
                kind: "message".to_owned(),
                source: "user".to_owned(),
                content: input.content.clone(),
                enqueued_at: input.row.accepted_at.clone(),
                paused: self.paused.then_some(true),
            })
            .collect()
    }

    /// How long a turn waits for an answer to the external tool `name`, if
    /// its registration says.
    pub fn external_timeout(&self, name: &str) -> Option<std::time::Duration> {
        self.registrations
            .iter()
            .flat_map(|registration| &registration.group.tools)
            .find(|tool| tool.name == name)
            .and_then(|tool| tool.timeout_ms)
            .map(std::time::Duration::from_millis)
    }

    /// External tools offered to a turn: unscoped ones, plus those whose
    /// scope the input selected.
    pub fn external_tools(&self, scope_ids: Option<&[String]>) -> Vec<ExternalToolDefinition> {
        let mut tools: Vec<ExternalToolDefinition> = Vec::new();
        for registration in &self.registrations {
            let selected = match (&registration.group.scope_id, scope_ids) {
                (None, _) => true,
                (Some(scope), Some(selected)) => selected.contains(scope),
                (Some(_), None) => false,
            };
            if selected {
                for tool in &registration.group.tools {
                    if !tools.iter().any(|known| known.name == tool.name) {
                        tools.push(tool.clone());
                    }
                }
            }
        }
        tools
    }

    /// The toolset this runtime's turns use unless they name one.
    pub fn current_toolset(&self) -> &'static str {
        crate::tools::resolve_toolset(&self.toolset, self.model.as_ref())
    }

    /// The built-in tools a turn with `toolset` offers (`ViewImage` only
    /// where the backend takes images); with `interactive`,
    /// `AskUserQuestion` too (unless the toolset is `none`).
    pub fn offered_builtin(
        &self,
        toolset: Option<&letta_protocol::ClientToolset>,
        interactive: bool,
    ) -> Vec<&'static crate::tools::BuiltinTool> {
        let mut tools = crate::tools::offered(toolset, &self.toolset, self.model.as_ref());
        tools.retain(|tool| self.takes_images || tool.name != crate::tools::IMAGE_TOOL);
        let base = toolset
            .and_then(|toolset| toolset.base.as_deref())
            .unwrap_or(&self.toolset);
        if interactive
            && base != "none"
            && !tools
                .iter()
                .any(|tool| tool.name == crate::tools::QUESTION_TOOL)
            && let Some(question) = crate::tools::builtin(crate::tools::QUESTION_TOOL)
        {
            tools.push(question);
        }
        tools
    }

    pub fn device_status(
        &self,
        pending: Vec<letta_protocol::PendingControlRequest>,
        settings_errors: Vec<letta_protocol::SettingsError>,
        background_processes: Value,
    ) -> DeviceStatus {
        let loaded: Vec<String> = self
            .offered_builtin(None, true)
            .into_iter()
            .map(|tool| tool.name.to_owned())
            .chain(self.external_tools(None).into_iter().map(|tool| tool.name))
            .chain(
                crate::mcp::McpTool::all_of(&self.mcp_servers)
                    .into_iter()
                    .map(|tool| tool.spec.name),
            )
            .collect();
        let mcp_servers = self.mcp_statuses();
        let mut extra = Map::new();
        for (key, value) in [
            ("git_context", Value::Null),
            ("letta_code_version", Value::Null),
            ("current_toolset", json!(self.current_toolset())),
            ("current_toolset_preference", json!(self.toolset)),
            ("available_toolsets", available_toolsets()),
            ("current_available_skills", json!(self.available_skills)),
            ("experiments", json!([])),
            ("memory_directory", Value::Null),
            ("reflection_settings", Value::Null),
            ("supported_commands", json!([])),
        ] {
            extra.insert(key.to_owned(), value);
        }
        extra.insert("background_processes".to_owned(), background_processes);
        DeviceStatus {
            current_connection_id: Some("letta-daemon".to_owned()),
            connection_name: hostname(),
            is_online: true,
            is_processing: self.running.is_some(),
            current_permission_mode: self.mode,
            current_working_directory: Some(self.cwd.clone()),
            current_toolset: Some("default".to_owned()),
            current_loaded_tools: loaded,
            pending_control_requests: pending,
            settings_errors,
            mcp_servers,
            extra,
        }
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// The toolset preferences a frontend can choose from, as Letta Code lists
/// them (`id`, `display_name`, `label`, `description`, `is_featured`).
fn available_toolsets() -> Value {
    Value::Array(
        crate::tools::toolset_names()
            .map(|name| {
                let (display, label, description) = match name {
                    "auto" => ("Auto", "Auto", "Chosen by the agent's model"),
                    "default" => (
                        "Claude",
                        "Claude toolset",
                        "Tools shaped for Anthropic's models; the choice for most models",
                    ),
                    "codex" => (
                        "Codex",
                        "Codex toolset",
                        "Tools shaped for OpenAI's GPT and Codex models",
                    ),
                    "letta" => ("Letta", "Letta toolset", "One toolset for every model"),
                    _ => ("None", "None", "No built-in tools; connected tools stay"),
                };
                json!({
                    "id": name,
                    "display_name": display,
                    "label": label,
                    "description": description,
                    "is_featured": true,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop status names the runs of the last few inputs, as Letta
    /// Code's does: sent with every status, a map of every run ever would
    /// grow each event with the runtime's age.
    #[test]
    fn only_recent_runs_are_correlated_with_their_inputs() {
        let mut state = RuntimeState::new("/".to_owned(), PermissionMode::Standard, false);
        for run in 0..100 {
            state.correlate_run(&format!("run-{run}"), &format!("cm-{run}"));
        }
        state.correlate_run("run-99", "cm-99");
        let correlated = state.loop_state().client_message_ids_by_run_id.unwrap();
        assert_eq!(correlated.len(), RECENT_RUN_CORRELATIONS);
        assert_eq!(correlated["run-99"], ["cm-99"]);
        assert!(!correlated.contains_key("run-0"));
    }
}
