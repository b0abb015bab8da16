//! Built-in tools run by the daemon for an agent: permissions, approvals
//! answered from any frontend ([`approvals`]), and the tool-call journal
//! across crashes ([`journal`]).

mod approvals;
mod background;
mod images;
mod journal;
mod probes;
mod sessions;
mod workdir;
mod worktrees;

use std::path::Path;

use serde_json::{Value, json};

use crate::support::frontend::Frontend;
pub(super) use crate::support::frontend::start_runtime;

/// A project directory the runtime works in.
pub(super) fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "alpha\n").unwrap();
    dir
}

pub(crate) fn approval(
    runtime: &Value,
    request_id: &Value,
    decision: Value,
    correlation: &str,
) -> Value {
    json!({
        "type": "input",
        "request_id": correlation,
        "runtime": runtime,
        "payload": { "kind": "approval_response", "request_id": request_id, "decision": decision },
    })
}

/// The tool results the agent got, as the server stored them.
pub(super) async fn tool_returns(frontend: &Frontend, runtime: &Value) -> Vec<String> {
    frontend
        .stored_messages(runtime)
        .await
        .iter()
        .filter(|message| message["message_type"] == "tool_return_message")
        .map(|message| message["tool_return"].to_string())
        .collect()
}

pub(super) fn settings_allow(project: &Path) -> Value {
    let text = std::fs::read_to_string(project.join(".letta/settings.local.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["permissions"]["allow"].clone()
}
