//! Terminals a desktop frontend opens beside the chat: a shell in a
//! pseudo-terminal that outlives the connection that opened it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `terminal_spawn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalSpawnParams {
    /// The frontend's name for the terminal. A terminal of this id that
    /// still runs is attached to rather than started again.
    pub terminal_id: String,
    pub cols: u16,
    pub rows: u16,
    /// Where the shell starts; the boot working directory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Reattaching: the `offset` of the last output this frontend has; the
    /// output after it is sent again (as much as the scroll-back keeps).
    /// Without it, the whole scroll-back is sent. A terminal that ended
    /// meanwhile is reported with `terminal_exited` instead of started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_offset: Option<u64>,
}

/// Result of `terminal_spawn` (JSON-RPC callers; frame clients get
/// `terminal_spawned`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalSpawnResult {
    pub success: bool,
    pub terminal_id: String,
    /// The shell's pid, leader of the terminal's process group.
    pub pid: u32,
    /// Whether a running terminal was attached to.
    pub attached: bool,
}

/// Params of `terminal_input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalInputParams {
    pub terminal_id: String,
    /// Typed as is (escape sequences included).
    pub data: String,
}

/// Params of `terminal_resize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalResizeParams {
    pub terminal_id: String,
    pub cols: u16,
    pub rows: u16,
}

/// Params of `terminal_kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalKillParams {
    pub terminal_id: String,
}

/// `terminal_spawned`: the terminal runs and this connection receives its
/// output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalSpawnedEvent {
    pub terminal_id: String,
    pub pid: u32,
}

/// `terminal_output`: what the terminal printed, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalOutputEvent {
    pub terminal_id: String,
    pub data: String,
    /// Bytes of output up to the end of this piece, since the terminal
    /// started: the cursor to reattach with.
    pub offset: u64,
}

/// `terminal_exited`: the terminal's shell ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminalExitedEvent {
    pub terminal_id: String,
    /// The shell's exit status; 128 + the signal's number when a signal
    /// ended it.
    #[serde(rename = "exitCode")]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
