//! Background commands that come back: one that ends on its own starts a
//! turn telling the agent; one stopped with `TaskStop` ends quietly.

use serde_json::Value;

use super::start_runtime;
use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, last_user_text, on_both_backends};
use crate::support::frontend::Frontend;

fn notices(messages: &[Value]) -> usize {
    messages
        .iter()
        .filter(|message| {
            message["message_type"] == "user_message"
                && message["content"]
                    .to_string()
                    .contains("The background command")
        })
        .count()
}

async fn a_finished_background_command_wakes_the_agent(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-bg-done", cwd.path(), "unrestricted").await;
    let marker = cm("bg-done");
    let script = format!(
        r#"[[call:Bash {{"command": "sleep 1; echo finished-{marker}", "description": "wait", "run_in_background": true}}]]"#
    );
    let finished = turn(&mut frontend, &runtime, &script, "bg-start").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let told = frontend
        .wait_for("the turn the ended command started", |frame| {
            frame["type"] == "turn_finished"
        })
        .await;
    assert_eq!(told["stop_reason"], "end_turn", "{told}");
    let notice = last_user_text(&backend.model_request(&format!("finished-{marker}")).await);
    assert!(notice.contains("exited with code 0"), "{notice}");
    assert!(notice.contains(&format!("finished-{marker}")), "{notice}");
}

async fn task_stop_ends_a_background_command_quietly(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-bg-stop", cwd.path(), "unrestricted").await;
    let script = r#"[[call:Bash {"command": "sleep 600", "description": "long", "run_in_background": true}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "bg-long").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let started = frontend.deltas("tool_return_message");
    let started = started.last().unwrap()["tool_return"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = started
        .split_whitespace()
        .find(|word| word.starts_with("bash-"))
        .unwrap()
        .to_owned();

    let script = format!(r#"[[call:TaskStop {{"task_id": "{id}"}}]]"#);
    let finished = turn(&mut frontend, &runtime, &script, "bg-stop").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let stopped = frontend.deltas("tool_return_message");
    let stopped = stopped.last().unwrap();
    assert_eq!(stopped["status"], "success", "{stopped}");
    frontend
        .seen_or_wait_for("the job stopped in device status", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["background_processes"]
                    .as_array()
                    .is_some_and(|jobs| {
                        jobs.iter().any(|job| {
                            job["process_id"] == id.as_str() && job["ended_by"] == "stop"
                        })
                    })
        })
        .await;
    let again = turn(&mut frontend, &runtime, &script, "bg-stop-again").await;
    assert_eq!(again["stop_reason"], "end_turn", "{again}");
    let answer = frontend.deltas("tool_return_message");
    let answer = answer.last().unwrap();
    assert_eq!(answer["status"], "error", "{answer}");
    assert!(
        answer["tool_return"]
            .as_str()
            .unwrap()
            .contains("already ended"),
        "{answer}"
    );
    let messages = frontend.stored_messages(&runtime).await;
    assert_eq!(notices(&messages), 0, "a stopped command is not reported");
}

on_both_backends!(
    a_finished_background_command_wakes_the_agent,
    task_stop_ends_a_background_command_quietly,
);
