use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{JsonObject, RuntimeScope};

/// Params of `input`: a new message for the agent, or an answer to an
/// approval request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputParams {
    pub runtime: RuntimeScope,
    pub payload: InputPayload,
    /// A frontend's name for itself (up to 256 characters), repeated in the
    /// turn's `turn_finished.terminal_consumer_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_consumer_id: Option<String>,
}

/// Params of `turn_finished_ack`: a frontend has applied a `turn_finished`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnFinishedAckParams {
    pub runtime: RuntimeScope,
    /// The `turn_finished` event's `idempotency_key`.
    pub idempotency_key: String,
    pub consumer_id: String,
}

/// What an `input` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputPayload {
    CreateMessage(CreateMessage),
    ApprovalResponse(ApprovalResponse),
}

/// A user turn: one or more messages sent to the agent together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateMessage {
    pub messages: Vec<MessageCreate>,
    /// Client tools offered this turn; an empty list offers none. A name
    /// ending in `*` stands for every tool starting with what precedes it
    /// (`mcp__files__*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_tool_allowlist: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_toolset: Option<ClientToolset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_tool_scope_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_interactive_tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<JsonObject>,
    /// Permission rules for this turn's tool calls only, on top of the
    /// session's and the settings files' (deny rules still win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_rules: Option<TurnPermissionRules>,
}

/// Rules in the settings-file grammar (`Bash(npm test:*)`, `Read`, `*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnPermissionRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// One message of a user turn, in the Letta API's `MessageCreate` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageCreate {
    pub role: String,
    /// A string, or an array of content parts.
    pub content: serde_json::Value,
    /// Makes the input idempotent; sent to Letta as the message `otid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    /// Further Letta `MessageCreate` fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Which built-in tools a turn offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClientToolset {
    /// `default`, `none`, or another named toolset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
}

/// An answer to a `control_request`. Exactly one of `decision` and `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalResponse {
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ApprovalDecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Allow (possibly with changed input) or deny a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "behavior", rename_all = "snake_case")]
pub enum ApprovalDecision {
    Allow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        updated_input: Option<JsonObject>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selected_permission_suggestion_ids: Option<Vec<String>>,
    },
    Deny {
        message: String,
    },
}

/// How an accepted input was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputDisposition {
    Started,
    Queued,
}

/// Result of `input` (frame type `input_accepted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InputAccepted {
    pub runtime: RuntimeScope,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<InputDisposition>,
    /// The turn a `create_message` became; its `turn_finished` carries the
    /// same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
