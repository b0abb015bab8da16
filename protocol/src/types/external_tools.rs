//! Tools that a frontend registers and executes itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{JsonObject, RuntimeScope};

/// One tool a frontend offers the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub description: String,
    /// JSON Schema of the tool's arguments.
    pub parameters: JsonObject,
    /// How long a turn waits for the frontend's answer before the agent is
    /// told it did not come (the frontend's work is not cancelled; a late
    /// answer is refused). Without it, the turn waits as long as it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Accepted for Letta Code's clients; the daemon always waits inline,
    /// as with `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_background: Option<bool>,
}

/// Tools registered together, optionally under a scope that inputs select.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolsGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    pub tools: Vec<ExternalToolDefinition>,
}

/// Params of `runtime_external_tools_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeExternalToolsUpdateParams {
    pub updates: Vec<ExternalToolsUpdate>,
}

/// One tool set applied to some runtimes; an empty set removes the caller's
/// tools from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolsUpdate {
    pub runtimes: Vec<RuntimeScope>,
    pub external_tools: Vec<ExternalToolsGroup>,
}

/// Params of `external_tool_call_response`: a frontend's answer to an
/// `external_tool_call_request`. Exactly one of `result` and `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolCallResponseParams {
    /// The `request_id` of the `external_tool_call_request` being answered.
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ExternalToolCallResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an external tool produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolCallResult {
    pub content: Vec<ExternalToolContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// One part of an external tool's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalToolContent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, rename = "mimeType", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}
