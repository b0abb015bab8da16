use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ClientInfo;

/// Params of `initialize`, the optional JSON-RPC handshake. A connection that
/// skips it speaks the current protocol version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InitializeParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<ClientInfo>,
    /// Protocol versions the client can speak; the daemon picks the highest it
    /// also speaks. Omitted means "the current one".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_versions: Option<Vec<u32>>,
}

/// Name and version of a running program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
}

/// Result of `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InitializeResult {
    /// Always `"letta-daemon"`.
    pub protocol: String,
    pub protocol_version: u32,
    pub server_info: ServerInfo,
    pub capabilities: DaemonCapabilities,
}

/// What this daemon build implements, derived from what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonCapabilities {
    /// Methods this daemon answers. Declared methods missing here answer
    /// "method not found".
    pub methods: Vec<String>,
    /// Event frame types this daemon may send.
    pub events: Vec<String>,
    /// Largest accepted message, in bytes.
    pub max_message_bytes: u64,
}

/// Params of `app_server_info` (none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppServerInfoParams {}

/// Where agents live: in the daemon itself (`local`) or on a Letta server
/// (`api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Local,
    Api,
}

/// Result of `app_server_info`, shaped as Letta Code's
/// `app_server_info_response` so its clients accept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppServerInfo {
    /// Always true: discovery has no failure variant.
    pub success: bool,
    pub backend: Backend,
    /// The Letta Code release whose app-server protocol this daemon speaks.
    pub letta_code_version: String,
    /// The Letta Code app-server wire version (not the daemon's protocol
    /// version, which is `daemon_protocol_version`).
    pub protocol_version: u32,
    pub capabilities: AppServerCapabilities,
    /// The daemon itself.
    pub server: ServerInfo,
    /// letta-daemon protocol version (see `initialize`).
    pub daemon_protocol_version: u32,
}

/// Letta Code's capability flags; each is true only when implemented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppServerCapabilities {
    pub agent_management: bool,
    pub conversation_management: bool,
    pub memory_management: bool,
    pub runtime_start: bool,
    /// Conversations created and resumed without an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_free_conversations: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_subagent: Option<bool>,
    /// `launch_subagent` accepts `notify: "caller"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_subagent_notify_caller: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_workspace_sandbox: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_external_tools_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_outputs: Option<bool>,
    pub split_channels: bool,
}
