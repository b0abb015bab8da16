use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ClientInfo, ExternalToolsGroup, JsonObject, PermissionMode, RuntimeScope};

/// Params of `runtime_start`: resume or create the agent and the
/// conversation, set the working directory and permission mode, and subscribe
/// the caller to the runtime's events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeStartParams {
    /// Existing agent. Mutually exclusive with `create_agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_agent: Option<CreateAgentOptions>,
    /// Existing conversation. Mutually exclusive with `create_conversation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_conversation: Option<CreateConversationOptions>,
    /// Working directory for the runtime's tools; `null` resets it to the
    /// daemon's own working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PermissionMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<ClientInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_approvals: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_device_status: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_replay: Option<bool>,
    /// Frontend-executed tools registered with the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_tools: Option<Vec<ExternalToolsGroup>>,
    /// Whether the agent is told where it works (time, system, directory,
    /// git, its own ids) in a system reminder before the first message of
    /// the session and after the working directory changes. Kept with the
    /// runtime; `true` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<bool>,
    /// Replay stored events after this `event_seq` before live ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_event_seq: Option<u64>,
    /// MCP servers for this runtime alone, besides those configured for its
    /// agent (same format as `mcpServers` in Letta Code's settings; one of
    /// the same name wins). Kept with the runtime; `[]` removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_servers: Option<Vec<JsonObject>>,
}

/// How to create the agent of a new runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateAgentOptions {
    /// Forwarded to the Letta agents create API as it is.
    pub body: JsonObject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_global: Option<bool>,
    /// Where the agent lives: `api` (the Letta server) or `local` (the
    /// daemon itself). The daemon's default backend when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<crate::Backend>,
}

/// How to create the conversation of a new runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateConversationOptions {
    /// Forwarded to the Letta conversations create API as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<JsonObject>,
}

/// Result of `runtime_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeStartResult {
    pub success: bool,
    pub runtime: Option<RuntimeScope>,
    /// The Letta agent state, as the server returned it.
    pub agent: Option<serde_json::Value>,
    /// The Letta conversation, as the server returned it.
    pub conversation: Option<serde_json::Value>,
    pub created: Created,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `runtime_start` had to create.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Created {
    pub agent: bool,
    pub conversation: bool,
}

/// Params of `sync`: replay the runtime's events and state to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncParams {
    pub runtime: RuntimeScope,
    /// Replay every stored event after this `event_seq` before the state
    /// snapshots. Omitted: state snapshots only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_event_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_approvals: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_device_status: Option<bool>,
}

/// Result of `sync`, sent after the replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncResult {
    pub runtime: RuntimeScope,
    pub success: bool,
    /// The `event_seq` of the last state snapshot: every event up to it
    /// was sent before this result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Params of `abort_message`: cancel the running turn and pause the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AbortMessageParams {
    pub runtime: RuntimeScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// Result of `abort_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AbortMessageResult {
    pub runtime: RuntimeScope,
    /// True when a running turn or a pending approval was interrupted.
    pub aborted: bool,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Params of `resume_queue`: release queue items parked by an abort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResumeQueueParams {
    pub runtime: RuntimeScope,
}

/// Result of `resume_queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResumeQueueResult {
    pub runtime: RuntimeScope,
    /// Number of queue items released.
    pub resumed: u32,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Params of `remove_queue_item`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveQueueItemParams {
    pub runtime: RuntimeScope,
    /// The queue item's `id`, or its `client_message_id`.
    pub item_id: String,
}

/// Result of `remove_queue_item`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveQueueItemResult {
    pub success: bool,
    pub item_id: String,
}

/// Params of `change_device_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeDeviceStateParams {
    pub runtime: RuntimeScope,
    pub payload: DeviceStateChange,
}

/// The device settings to change; omitted fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceStateChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PermissionMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WakeCancelParams {
    pub runtime: RuntimeScope,
    /// The wake's id (device status lists them as `scheduled_wakes`).
    pub id: String,
}

/// `launch_subagent`: a frontend hands a task to a subagent of a runtime's
/// agent, as the agent's own `Agent` tool does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LaunchSubagentParams {
    /// The parent conversation.
    pub runtime: RuntimeScope,
    pub args: SubagentLaunchArgs,
    /// The agent's or external tool's call this launch answers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// `caller`: the report is not sent to the parent as a message; it is
    /// in `update_subagent_state` as `result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<SubagentLaunchNotify>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubagentLaunchNotify {
    Caller,
}

/// What to launch: the `Agent` tool's arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubagentLaunchArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_type: Option<String>,
    pub prompt: String,
    pub description: String,
    /// Identity of the task's input; a launch repeated with the same one
    /// is the same launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Not supported: subagents run on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    /// Only for Letta Code's Claude Code and Codex workers; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<serde_json::Value>,
    /// Not supported; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
}

/// The launch: the subagent's task id and conversation, or why not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LaunchSubagentResult {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Where the report is written when the task ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The parent runtime, so relays can scope the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeScope>,
}
