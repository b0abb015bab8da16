use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LoopStatus, PendingControlRequest, PermissionMode, RuntimeScope, ServerInfo};

/// Params of `daemon_status` (none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonStatusParams {}

/// Result of `daemon_status`: the daemon and every runtime it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonStatusResult {
    pub server: ServerInfo,
    pub protocol_version: u32,
    pub pid: u32,
    /// RFC 3339 start time.
    pub started_at: String,
    pub uptime_ms: u64,
    pub data_dir: String,
    /// Path of the local socket.
    pub socket: String,
    /// Base WebSocket URL, `ws://HOST:PORT`.
    pub ws_url: String,
    /// The Letta server the daemon talks to.
    pub letta_base_url: String,
    pub runtimes: Vec<RuntimeSummary>,
    /// The MCP servers the daemon runs for its runtimes' agents.
    #[serde(default)]
    pub mcp_servers: Vec<McpServerStatus>,
    /// Files frontends watch (`watch_file`), and the directories the daemon
    /// watches for them; released when their connections close.
    #[serde(default)]
    pub watched_files: u64,
    #[serde(default)]
    pub watched_directories: u64,
}

/// An MCP server an agent uses, as the daemon sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct McpServerStatus {
    pub name: String,
    /// `stdio` or `http`; empty when the configuration could not be read.
    pub transport: String,
    pub status: McpServerPhase,
    /// Why it failed (and when it is started again), or why its
    /// configuration cannot be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The tools it offers, by the agent's names (`mcp__<server>__<tool>`).
    #[serde(default)]
    pub tools: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum McpServerPhase {
    Starting,
    Ready,
    Failed,
}

/// One runtime, as `daemon_status` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeSummary {
    pub runtime: RuntimeScope,
    pub loop_status: LoopStatus,
    /// True while a turn runs (including one waiting on an approval).
    pub is_processing: bool,
    pub cwd: String,
    pub permission_mode: PermissionMode,
    /// Inputs waiting behind the running turn.
    pub queued_inputs: u32,
    pub queue_paused: bool,
    pub pending_approvals: Vec<PendingControlRequest>,
    /// External tools registered by the frontends connected now.
    #[serde(default)]
    pub external_tools: u32,
    /// The runtime's newest `event_seq`.
    pub last_event_seq: u64,
    /// RFC 3339 time of the newest input, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_input_at: Option<String>,
}
