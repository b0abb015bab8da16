//! Live command sessions (`exec_command`, `write_stdin`): a shell keeps its
//! state across calls and turns, outlives the frontend that started it, is
//! listed in device status, and its end reaches the agent.

use serde_json::{Value, json};

use super::start_runtime;
use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, last_user_text, on_both_backends};
use crate::support::frontend::Frontend;

/// The session id a tool result names, if its command still runs.
fn session_of(text: &str) -> Option<u64> {
    let rest = text.split("Still running as session ").nth(1)?;
    rest.split('.').next()?.parse().ok()
}

fn typed(session: u64, chars: &str) -> String {
    let input = json!({"session_id": session, "chars": chars, "yield_time_ms": 1500});
    format!("[[call:write_stdin {input}]]")
}

fn listed(frame: &Value, session: u64, status: &str) -> bool {
    frame["type"] == "update_device_status"
        && frame["device_status"]["background_processes"]
            .as_array()
            .is_some_and(|processes| {
                processes.iter().any(|process| {
                    process["process_id"] == session.to_string().as_str()
                        && process["kind"] == "exec"
                        && process["status"] == status
                })
            })
}

async fn a_shell_session_outlives_its_frontend(backend: Backend) {
    let daemon = backend.daemon();
    let mut first = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("inner")).unwrap();
    let runtime = start_runtime(&first, "e2e-exec", cwd.path(), "unrestricted").await;
    let codex = first
        .request(
            json!({ "type": "update_toolset", "runtime": runtime, "toolset_preference": "codex" }),
        )
        .await;
    assert_eq!(codex["success"], true, "{codex}");
    let start = r#"[[call:exec_command {"cmd": "bash --norc --noprofile", "description": "Open a shell", "tty": true, "login": false, "yield_time_ms": 500}]]"#;
    let finished = turn(&mut first, &runtime, start, "exec-start").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let started = first.last_tool_return();
    let session = session_of(&started).unwrap_or_else(|| panic!("{started}"));
    first
        .seen_or_wait_for("the session in device status", |frame| {
            listed(frame, session, "running")
        })
        .await;

    let finished = turn(
        &mut first,
        &runtime,
        &typed(session, "cd inner && MARK=kept\n"),
        "exec-cd",
    )
    .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    drop(first);

    // Another frontend, later: the same shell, with its directory and
    // variables.
    let mut second = Frontend::connect(&daemon).await;
    let synced = second
        .request(json!({ "type": "sync", "runtime": runtime }))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let finished = turn(
        &mut second,
        &runtime,
        &typed(session, "echo \"$MARK in $PWD\"\n"),
        "exec-echo",
    )
    .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let echoed = second.last_tool_return();
    let inner = std::fs::canonicalize(cwd.path().join("inner")).unwrap();
    assert!(
        echoed.contains(&format!("kept in {}", inner.display())),
        "{echoed}"
    );

    // The shell ends on its own while nobody reads it: the agent is told.
    // (What is typed is echoed: the marker is only whole in the output.)
    let marker = cm("exec-end");
    let leave = format!("sleep 3; echo \"bye-\"\"{marker}\"; exit 3\n");
    let finished = turn(&mut second, &runtime, &typed(session, &leave), "exec-exit").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    second
        .wait_for("the turn the ended session started", |frame| {
            frame["type"] == "turn_finished"
        })
        .await;
    let notice = last_user_text(&backend.model_request(&format!("bye-{marker}")).await);
    assert!(
        notice.contains(&format!("session {session}")) && notice.contains("exited with code 3"),
        "{notice}"
    );
    second
        .seen_or_wait_for("the ended session in device status", |frame| {
            listed(frame, session, "exited")
        })
        .await;
}

on_both_backends!(a_shell_session_outlives_its_frontend);
