//! Agent and conversation management, proxied to the Letta API. Bodies and
//! queries are forwarded as they are; results are the server's JSON.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::JsonObject;

/// Letta API object as the server returned it.
pub type LettaObject = serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentListParams {
    /// Query parameters of the Letta agents list API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentListResult {
    pub success: bool,
    pub agents: Vec<LettaObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentRetrieveParams {
    pub agent_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentCreateParams {
    /// Body of the Letta agents create API.
    pub body: JsonObject,
    /// Where the agent lives: `api` (the Letta server) or `local` (the
    /// daemon itself). The daemon's default backend when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<crate::Backend>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentUpdateParams {
    pub agent_id: String,
    /// Body of the Letta agents update API.
    pub body: JsonObject,
}

/// Result of `agent_retrieve`, `agent_create` and `agent_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentResult {
    pub success: bool,
    pub agent: Option<LettaObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentDeleteParams {
    pub agent_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentDeleteResult {
    pub success: bool,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationListParams {
    /// Query parameters of the Letta conversations list API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationListResult {
    pub success: bool,
    pub conversations: Vec<LettaObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationRetrieveParams {
    pub conversation_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationCreateParams {
    /// Body of the Letta conversations create API (`agent_id` included).
    pub body: JsonObject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationUpdateParams {
    pub conversation_id: String,
    /// Body of the Letta conversations update API.
    pub body: JsonObject,
}

/// Result of `conversation_retrieve`, `conversation_create` and
/// `conversation_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationResult {
    pub success: bool,
    pub conversation: Option<LettaObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationMessagesListParams {
    pub conversation_id: String,
    /// Query parameters of the Letta conversation messages list API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationMessagesListResult {
    pub success: bool,
    pub messages: Vec<LettaObject>,
    pub next_before: Option<String>,
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListModelsParams {
    /// Ask the server again instead of a cached answer (the daemon does not
    /// cache: every call asks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListModelsResult {
    pub success: bool,
    pub entries: Vec<ModelEntry>,
    /// Every handle the server offers; `null` when it could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_handles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One model the server offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelEntry {
    pub id: String,
    /// What `create_agent`'s `model` takes, e.g. `openai/gpt-4.1`.
    pub handle: String,
    pub label: String,
    pub description: String,
    /// The server's default: the first model it lists.
    #[serde(rename = "isDefault", default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationCompactParams {
    pub conversation_id: String,
    /// Body of the Letta conversation compact API; `agent_id` names the
    /// agent of a `default` conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationCompactResult {
    pub success: bool,
    /// `{summary, num_messages_before, num_messages_after}`.
    pub compaction: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationForkParams {
    /// The conversation to copy; `default` with `body.agent_id` for an
    /// agent's default conversation.
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ConversationForkBody>,
    /// Set by Letta's cloud relay; the daemon serves one user and ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationForkBody {
    /// The agent of a `default` conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Whether the copy is hidden from conversation lists (passed to the
    /// Letta server; local conversations are never hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Copy the messages up to this one, inclusive (and the tool results
    /// that answer it); all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationForkResult {
    pub success: bool,
    /// The new conversation (its `id` first of all).
    pub conversation: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationRecompileParams {
    pub conversation_id: String,
    /// `agent_id` names the agent of a `default` conversation; `dry_run`
    /// compiles without storing (on the Letta server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationRecompileResult {
    pub success: bool,
    /// The system prompt as compiled now, memory blocks included.
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateToolsetParams {
    pub runtime: crate::RuntimeScope,
    /// `auto` (chosen by the agent's model), `default`, `codex`, `letta` or
    /// `none`.
    pub toolset_preference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateToolsetResult {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<crate::RuntimeScope>,
    /// The toolset the preference stands for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_toolset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_toolset_preference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which model to switch to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateModelPayload {
    /// A model id or handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// A `provider/model` handle; wins over `model_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_handle: Option<String>,
    /// Accepted for compatibility; not applied yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateModelParams {
    pub runtime: crate::RuntimeScope,
    pub payload: UpdateModelPayload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateModelResult {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<crate::RuntimeScope>,
    /// `agent`: the agent's model changed, for all its conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentExportParams {
    pub agent_id: String,
    /// Local agents: the conversation whose history goes with the agent
    /// [default: its default conversation].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentExportResult {
    pub success: bool,
    /// The Agent File, as a Letta server writes it.
    pub agent_file: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentImportParams {
    /// The Agent File, as a Letta server reads it.
    pub agent_file: serde_json::Value,
    /// Where the agents go [default: the daemon's default backend].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<crate::Backend>,
    /// Local backend: the model the agents get instead of the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Letta server: the embedding model the agents get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentImportResult {
    pub success: bool,
    pub agent_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
