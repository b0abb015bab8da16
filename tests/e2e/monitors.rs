//! Monitors: a background script's output lines wake an idle agent; after a
//! daemon restart a monitor is started again, or reported as ended if its
//! timeout passed while the daemon was down.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime};

/// The user messages (the daemon's included) holding `text`.
fn user_messages_with(messages: &[Value], text: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|message| message["message_type"] == "user_message")
        .map(|message| message["content"].to_string())
        .filter(|content| content.contains(text))
        .collect()
}

/// Waits for a turn the daemon started (not one this frontend asked for).
async fn next_turn(frontend: &mut Frontend, what: &str) {
    let finished = frontend
        .wait_for(what, |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

async fn a_monitor_line_wakes_an_idle_agent(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-monitor", cwd.path(), "unrestricted").await;
    // The marker is whole only in the script's output, not in its call.
    let marker = cm("monitor-line");
    let script = format!(
        r#"[[call:Monitor {{"description": "ticks", "command": "sleep 1; echo tick-\"\"{marker}", "timeout_ms": 60000}}]]"#
    );
    let finished = turn(&mut frontend, &runtime, &script, "monitor-start").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let started = frontend.last_tool_return();
    assert!(started.contains("started"), "{started}");
    // Two turns of the daemon's: the line, and the script's end (in either
    // order: the end does not wait for the last line's batch).
    next_turn(&mut frontend, "the first turn the monitor started").await;
    next_turn(&mut frontend, "the second turn the monitor started").await;
    let messages = frontend.stored_messages(&runtime).await;
    let events = user_messages_with(&messages, &format!("tick-{marker}"));
    assert_eq!(events.len(), 1, "{messages:#?}");
    assert!(
        events[0].contains("Events from your monitors") && events[0].contains("ticks"),
        "{}",
        events[0]
    );
    assert_eq!(
        user_messages_with(&messages, "exited with code 0").len(),
        1,
        "{messages:#?}"
    );
}

async fn events_gather_while_the_agent_is_busy(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-monitor-busy", cwd.path(), "unrestricted").await;
    let marker = cm("monitor-busy");
    // Two lines half a second apart (two events), both while the turn is
    // still busy with its Bash call.
    let script = format!(
        r#"[[call:Monitor {{"description": "two lines", "command": "sleep 1; echo first-\"\"{marker}; sleep 0.5; echo second-\"\"{marker}; sleep 600", "timeout_ms": 60000}}]] [[call:Bash {{"command": "sleep 4", "description": "busy"}}]]"#
    );
    let finished = turn(&mut frontend, &runtime, &script, "monitor-busy").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    next_turn(&mut frontend, "the turn the gathered events started").await;
    let messages = frontend.stored_messages(&runtime).await;
    let events = user_messages_with(&messages, &format!("first-{marker}"));
    assert_eq!(events.len(), 1, "{messages:#?}");
    assert!(
        events[0].contains(&format!("second-{marker}")),
        "both events in one message: {}",
        events[0]
    );
}

async fn a_persistent_monitor_comes_back_after_a_restart(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-monitor-restart", cwd.path(), "unrestricted").await;
    let marker = cm("monitor-restart");
    let watch = format!(
        "while true; do if [ -f go ]; then rm go; echo seen-\\\"\\\"{marker}; fi; sleep 0.2; done"
    );
    let script = format!(
        r#"[[call:Monitor {{"description": "go file", "command": "{watch}", "persistent": true}}]]"#
    );
    let finished = turn(&mut frontend, &runtime, &script, "monitor-persistent").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(
        frontend.deltas("tool_return_message")[0]["status"],
        "success"
    );
    daemon.stop();

    let (_restarted, mut after) = backend.restart(&daemon, &runtime).await;
    after
        .seen_or_wait_for("the monitor running again", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["background_processes"]
                    .as_array()
                    .is_some_and(|processes| {
                        processes.iter().any(|process| {
                            process["kind"] == "monitor" && process["status"] == "running"
                        })
                    })
        })
        .await;
    std::fs::write(cwd.path().join("go"), "").unwrap();
    next_turn(&mut after, "the turn the restarted monitor started").await;
    let messages = after.stored_messages(&runtime).await;
    assert_eq!(
        user_messages_with(&messages, &format!("seen-{marker}")).len(),
        1,
        "{messages:#?}"
    );
}

/// Needs turns that take well under the monitor's timeout, so it runs on
/// the mock server and the local backend only.
async fn a_monitor_whose_timeout_passed_while_down_is_reported(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-monitor-late", cwd.path(), "unrestricted").await;
    let short = cm("monitor-short");
    let script = format!(
        r#"[[call:Monitor {{"description": "{short}", "command": "sleep 600", "timeout_ms": 4000}}]]"#
    );
    let began = Instant::now();
    let finished = turn(&mut frontend, &runtime, &script, "monitor-short").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    daemon.stop();
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "the turn outlasted the monitor's timeout"
    );
    tokio::time::sleep_until((began + Duration::from_millis(4_500)).into()).await;

    let (_restarted, mut after) = backend.restart(&daemon, &runtime).await;
    next_turn(&mut after, "the turn telling the monitor ended").await;
    let messages = after.stored_messages(&runtime).await;
    let ended = user_messages_with(
        &messages,
        "reached its timeout while the daemon was stopped",
    );
    assert_eq!(ended.len(), 1, "{messages:#?}");
    assert!(ended[0].contains(&short), "{}", ended[0]);
}

mod fast_backends {
    #[tokio::test]
    async fn mock_server() {
        super::a_monitor_whose_timeout_passed_while_down_is_reported(
            crate::support::backend::Backend::mock().await,
        )
        .await
    }

    #[tokio::test]
    async fn local_backend() {
        super::a_monitor_whose_timeout_passed_while_down_is_reported(
            crate::support::backend::Backend::local().await,
        )
        .await
    }
}

on_both_backends!(
    a_monitor_line_wakes_an_idle_agent,
    events_gather_while_the_agent_is_busy,
    a_persistent_monitor_comes_back_after_a_restart,
);
