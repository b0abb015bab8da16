//! Every frame a desktop frontend receives — replies, failures and events
//! of a session that uses the whole desktop surface — validates against
//! Letta Code 0.34.12's own declarations of what its app-server sends.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::local_tools::approval;
use crate::support::backend::{Backend, cm};
use crate::support::frontend::{Frontend, start_new_runtime, user_input};
use crate::support::node;

/// Frame types the daemon sends that Letta Code does not declare: the
/// daemon's own replies (README, "Connecting") and the generic `error`
/// frame of a refused command.
const DAEMON_ONLY: &[&str] = &["error", "update_plan", "wake_cancel_response"];

/// Sends `frame` and keeps its reply.
async fn ask(frontend: &Frontend, replies: &mut Vec<Value>, frame: Value) -> Value {
    let reply = frontend.request(frame).await;
    replies.push(reply.clone());
    reply
}

#[tokio::test]
async fn frames_match_the_reference_declarations() {
    // The local backend: every chunk is the daemon's own, not a mock's.
    let backend = Backend::local().await;
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let workspace = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(workspace.path()).unwrap();
    let file = root.join("notes.md");
    std::fs::write(&file, "one\ntwo\n").unwrap();
    let root = root.display().to_string();
    let file = file.display().to_string();
    let mut replies = Vec::new();

    ask(
        &frontend,
        &mut replies,
        json!({ "type": "app_server_info" }),
    )
    .await;
    let mut start = start_new_runtime("e2e-declarations", Value::Null);
    start["cwd"] = json!(root);
    start.as_object_mut().unwrap().remove("external_tools");
    let started = ask(&frontend, &mut replies, start).await;
    let runtime = started["runtime"].clone();
    ask(
        &frontend,
        &mut replies,
        json!({ "type": "sync", "runtime": runtime, "request_id": "sync-1" }),
    )
    .await;

    // A turn that asks to run a command, approved.
    let script = r#"[[call:Bash {"command": "touch declared.txt", "description": "make a file"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("declared")))
        .await;
    let asked = frontend
        .wait_for("the approval request", |frame| {
            frame["type"] == "control_request"
        })
        .await;
    frontend
        .send(approval(
            &runtime,
            &asked["request_id"],
            json!({ "behavior": "allow" }),
            "approve-1",
        ))
        .await;
    frontend
        .wait_for("the turn's end", |frame| frame["type"] == "turn_finished")
        .await;

    for frame in [
        json!({ "type": "list_models" }),
        json!({ "type": "get_cwd_map" }),
        json!({ "type": "set_boot_working_directory", "cwd": root }),
        json!({ "type": "list_in_directory", "path": root, "include_files": true }),
        json!({ "type": "get_tree", "path": root, "depth": 2 }),
        json!({ "type": "search_files", "query": "notes", "cwd": root }),
        json!({ "type": "grep_in_files", "query": "two", "cwd": root }),
        json!({ "type": "read_file", "path": file }),
        json!({ "type": "read_file", "path": "/etc/passwd" }),
        json!({ "type": "edit_file", "file_path": file, "old_string": "two", "new_string": "three" }),
        json!({ "type": "list_connect_providers", "target": "local" }),
        json!({ "type": "conversation_fork", "conversation_id": runtime["conversation_id"] }),
        json!({ "type": "conversation_recompile", "conversation_id": runtime["conversation_id"] }),
        json!({ "type": "conversation_messages_list", "conversation_id": runtime["conversation_id"] }),
        json!({ "type": "channels_list" }),
        // Failures are the declared reply types too.
        json!({ "type": "list_in_directory", "path": "/etc" }),
        json!({ "type": "edit_file", "file_path": file, "old_string": "absent", "new_string": "x" }),
        json!({ "type": "cron_pause", "task_id": "no-such" }),
        json!({ "type": "cron_list", "agent_id": 5 }),
        json!({ "type": "connect_provider", "target": "local", "provider_id": "gemini", "fields": {} }),
        json!({ "type": "conversation_fork", "conversation_id": "conv-00000000-0000-4000-8000-000000000000" }),
        json!({ "type": "sync", "runtime": { "agent_id": "agent-x", "conversation_id": "conv-x" }, "request_id": "sync-x" }),
    ] {
        ask(&frontend, &mut replies, frame).await;
    }
    let added = ask(
        &frontend,
        &mut replies,
        json!({
            "type": "cron_add", "agent_id": runtime["agent_id"], "conversation_id": "default",
            "name": "n", "description": "", "cron": "0 9 * * *", "timezone": "UTC",
            "recurring": true, "prompt": "p",
        }),
    )
    .await;
    let task = added["task"]["id"].clone();
    for kind in [
        "cron_get",
        "cron_runs",
        "cron_pause",
        "cron_resume",
        "cron_delete",
    ] {
        ask(
            &frontend,
            &mut replies,
            json!({ "type": kind, "task_id": task }),
        )
        .await;
    }
    ask(&frontend, &mut replies, json!({ "type": "cron_list" })).await;
    ask(
        &frontend,
        &mut replies,
        json!({ "type": "cron_delete_all", "agent_id": runtime["agent_id"] }),
    )
    .await;

    // Watches and terminals answer with events.
    frontend
        .send(json!({ "type": "watch_file", "path": file }))
        .await;
    ask(
        &frontend,
        &mut replies,
        json!({ "type": "write_file", "path": file, "content": "four\n" }),
    )
    .await;
    frontend
        .wait_for("file_changed", |frame| frame["type"] == "file_changed")
        .await;
    frontend
        .send(json!({ "type": "terminal_spawn", "terminal_id": "declared", "cols": 80, "rows": 24, "cwd": root }))
        .await;
    frontend
        .wait_for("terminal_spawned", |frame| {
            frame["type"] == "terminal_spawned"
        })
        .await;
    frontend
        .send(json!({ "type": "terminal_input", "terminal_id": "declared", "data": "echo hi\n" }))
        .await;
    frontend
        .wait_for("terminal_output", |frame| {
            frame["type"] == "terminal_output"
        })
        .await;
    frontend
        .send(json!({ "type": "terminal_kill", "terminal_id": "declared" }))
        .await;
    frontend
        .wait_for("terminal_exited", |frame| {
            frame["type"] == "terminal_exited"
        })
        .await;

    let frames: Vec<&Value> = replies.iter().chain(frontend.seen.iter()).collect();
    let lines: String = frames.iter().map(|frame| format!("{frame}\n")).collect();
    let file = daemon.dir.path().join("frames.jsonl");
    std::fs::write(&file, lines).unwrap();
    let schema = node::install("letta-code-frames-schema.sh");
    let report = node::run_json(
        "validate-frames.mjs",
        &[schema.as_os_str(), file.as_os_str()],
        crate::support::TIMEOUT * 3,
    )
    .await;
    assert_eq!(report["refused"], json!([]), "{report:#}");
    let undeclared: BTreeMap<String, Value> =
        serde_json::from_value(report["undeclared"].clone()).unwrap();
    for kind in undeclared.keys() {
        assert!(DAEMON_ONLY.contains(&kind.as_str()), "{kind}: {report:#}");
    }
    // The session reached every kind of frame it set out to.
    let types: std::collections::BTreeSet<&str> = frames
        .iter()
        .filter_map(|frame| frame["type"].as_str())
        .collect();
    assert!(types.len() >= 39, "{types:?}");
    let undeclared_count: u64 = undeclared.values().filter_map(Value::as_u64).sum();
    assert_eq!(
        report["checked"].as_u64().unwrap() + undeclared_count,
        frames.len() as u64,
        "{report:#}"
    );
}
