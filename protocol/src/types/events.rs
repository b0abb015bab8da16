//! Daemon-to-client event frames. Each is `{type, runtime, event_seq,
//! emitted_at, idempotency_key, ...}`: the [`Envelope`] flattened into the
//! body, and `type` added by [`crate::event_frame`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Envelope, JsonObject, PermissionMode};

/// `stream_delta`: one chunk of the agent's stream, or a lifecycle marker
/// (`client_tool_start`, `approval_classification_end`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamDeltaEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    /// A Letta streaming message (`message_type` says which) or a lifecycle
    /// message, passed through.
    pub delta: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_id: Option<String>,
}

/// `turn_finished`: a turn ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnFinishedEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub turn_id: String,
    /// Letta stop reason (`end_turn`, `cancelled`, `error`, ...).
    pub stop_reason: String,
    /// The `terminal_consumer_id` the turn's input named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_consumer_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Letta usage statistics of the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<serde_json::Value>,
}

/// `control_request`: a tool call waits for a human decision. Any subscribed
/// client may answer with an `input` of kind `approval_response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ControlRequestEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    /// `perm-<tool_call_id>`.
    pub request_id: String,
    pub request: ControlRequestBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// A settings file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SettingsError {
    pub file: String,
    pub message: String,
}

/// A pending control request, as listed in device status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PendingControlRequest {
    pub request_id: String,
    pub request: ControlRequestBody,
}

/// What a control request asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "subtype", rename_all = "snake_case")]
pub enum ControlRequestBody {
    CanUseTool(CanUseTool),
    /// The agent asks the user (`AskUserQuestion`). Answer with
    /// `approval_response`: `allow` with `updated_input.answers` (each
    /// question's text -> the chosen label, labels joined by ", ", or the
    /// user's own words), or `deny` to decline.
    AskUserQuestion(AskUserQuestionRequest),
}

impl ControlRequestBody {
    pub fn tool_call_id(&self) -> &str {
        match self {
            ControlRequestBody::CanUseTool(ask) => &ask.tool_call_id,
            ControlRequestBody::AskUserQuestion(ask) => &ask.tool_call_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AskUserQuestionRequest {
    pub tool_call_id: String,
    pub questions: Vec<UserQuestion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserQuestion {
    pub question: String,
    /// A short label for the question.
    pub header: String,
    pub options: Vec<UserQuestionOption>,
    /// More than one option may be chosen.
    #[serde(default, rename = "multiSelect")]
    pub multi_select: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserQuestionOption {
    pub label: String,
    pub description: String,
}

/// May the agent run this tool call?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CanUseTool {
    pub tool_name: String,
    pub input: JsonObject,
    pub tool_call_id: String,
    pub permission_suggestions: Vec<PermissionSuggestion>,
    /// The path outside the allowed area that triggered the question.
    pub blocked_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diffs: Option<Vec<DiffPreview>>,
}

/// A rule the user may save instead of answering once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PermissionSuggestion {
    pub id: String,
    pub text: String,
}

/// What a file tool would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum DiffPreview {
    Advanced {
        #[serde(rename = "fileName")]
        file_name: String,
        hunks: Vec<DiffHunk>,
    },
    Fallback {
        #[serde(rename = "fileName")]
        file_name: String,
        reason: String,
    },
    Unpreviewable {
        #[serde(rename = "fileName")]
        file_name: String,
        reason: String,
    },
}

/// One unified-diff hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffHunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<DiffHunkLine>,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiffHunkLine {
    #[serde(rename = "type")]
    pub kind: DiffLineKind,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffLineKind {
    Context,
    Add,
    Remove,
}

/// `external_tool_call_request`: the agent called a frontend's tool; the
/// frontend answers with `external_tool_call_response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolCallRequestEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    pub tool_call_id: String,
    pub tool_name: String,
    pub input: JsonObject,
}

/// `update_loop_status`: where the runtime's agent loop is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoopStatusEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub loop_status: LoopState,
}

/// The runtime's loop state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoopState {
    pub status: LoopStatus,
    pub active_run_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_ids_by_run_id: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Tool calls executing now; empty unless `status` is
    /// `EXECUTING_CLIENT_SIDE_TOOL`.
    pub executing_tool_call_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoopStatus {
    SendingApiRequest,
    WaitingForApiResponse,
    RetryingApiRequest,
    ProcessingApiResponse,
    ExecutingClientSideTool,
    ExecutingCommand,
    WaitingOnApproval,
    WaitingOnInput,
}

/// `update_queue`: the whole queue, plus what left it since the last update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub queue: Vec<QueueMessage>,
    pub removed: Vec<QueueRemoval>,
}

/// One queued input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueMessage {
    pub id: String,
    pub client_message_id: String,
    /// `message`, `task_notification`, `approval_result`, ...
    pub kind: String,
    /// `user`, `system`, ...
    pub source: String,
    pub content: serde_json::Value,
    pub enqueued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// An input that left the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QueueRemoval {
    pub client_message_id: String,
    pub disposition: QueueRemovalDisposition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueRemovalDisposition {
    Dequeued,
    Cancelled,
}

/// `update_device_status`: the execution context frontends show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceStatusEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub device_status: DeviceStatus,
}

/// Device and execution context of a runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceStatus {
    pub current_connection_id: Option<String>,
    pub connection_name: Option<String>,
    pub is_online: bool,
    pub is_processing: bool,
    pub current_permission_mode: PermissionMode,
    pub current_working_directory: Option<String>,
    pub current_toolset: Option<String>,
    pub current_loaded_tools: Vec<String>,
    pub pending_control_requests: Vec<PendingControlRequest>,
    /// Permission settings files that cannot be used. While any is listed,
    /// every tool call of this runtime asks for approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings_errors: Vec<SettingsError>,
    /// The MCP servers this runtime's agent uses (a letta-daemon field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<crate::McpServerStatus>,
    /// Further Letta Code device fields (`git_context`, `available_toolsets`,
    /// ...), passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// `update_plan`: the conversation's whole plan, sent whenever it changes
/// and replayed by `runtime_start`/`sync` while it has anything in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub plan: Plan,
}

/// A conversation's plan: the task list (`TaskCreate`, `TaskUpdate`) and
/// the step list (`UpdatePlan`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    #[serde(default)]
    pub tasks: Vec<PlanTask>,
    #[serde(default)]
    pub steps: Vec<PlanStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.steps.is_empty() && self.explanation.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanTask {
    pub task_id: String,
    pub subject: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_form: Option<String>,
    pub status: PlanStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub blocks: Vec<String>,
    pub blocked_by: Vec<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Pending,
    InProgress,
    Completed,
    /// Only in `TaskUpdate`: the task is removed.
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanStep {
    pub step: String,
    pub status: PlanStatus,
}

/// `update_subagent_state`: the subagents this runtime's agent launched,
/// newest last; sent when one starts or ends and replayed by
/// `runtime_start`/`sync` while there are any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubagentStateEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub subagents: Vec<SubagentSnapshot>,
}

/// One subagent, as Letta Code describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubagentSnapshot {
    pub subagent_id: String,
    pub subagent_type: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub status: SubagentStatus,
    /// Always null here: the subagent's conversation is in this daemon.
    pub agent_url: Option<String>,
    /// The subagent's agent (a letta-daemon field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_background: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_conversation_id: Option<String>,
    /// Unix milliseconds.
    pub start_time: u64,
    pub tool_calls: Vec<SubagentSnapshotToolCall>,
    pub total_tokens: u64,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The final report, once it ended (cut to 4,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubagentSnapshotToolCall {
    pub id: String,
    pub name: String,
    pub args: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubagentStatus {
    Pending,
    Running,
    Completed,
    Error,
}
