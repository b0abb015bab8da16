//! `<data-dir>/daemon.json`: how clients find a running daemon.

use serde::{Deserialize, Serialize};

/// File name of the discovery file inside the data directory.
pub const DAEMON_FILE_NAME: &str = "daemon.json";

/// Written by the daemon once it is ready, removed when it stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonFile {
    pub pid: u32,
    /// Path of the local socket (newline-delimited JSON-RPC).
    pub socket: String,
    /// Base WebSocket URL, `ws://HOST:PORT`; JSON-RPC is at `/rpc`, Letta
    /// Code frames at `/ws`.
    pub ws_url: String,
    /// Daemon version.
    pub version: String,
    pub protocol_version: u32,
    /// RFC 3339 start time.
    #[serde(default)]
    pub started_at: String,
}
