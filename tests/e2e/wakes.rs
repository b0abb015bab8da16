//! Wakes: a turn the agent scheduled fires when due — after the daemon was
//! killed and restarted too, at once if late — exactly once; frontends see
//! the scheduled wakes and can cancel them.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime};

pub(crate) fn in_seconds(seconds: i64) -> (String, std::time::Instant) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs((now + seconds) as u64),
    )
    .to_string();
    let due = std::time::Instant::now() + std::time::Duration::from_secs(seconds as u64 + 1);
    (at, due)
}

/// User messages a wake with this prompt sent.
fn woken_by(messages: &[Value], marker: &str) -> usize {
    messages
        .iter()
        .filter(|message| {
            let content = message["content"].to_string();
            message["message_type"] == "user_message"
                && content.contains("comes from a wake")
                && content.contains(marker)
        })
        .count()
}

fn scheduled(frame: &Value) -> usize {
    frame["device_status"]["scheduled_wakes"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn a_wake_fires_after_a_restart_exactly_once(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-wake", cwd.path(), "strict").await;
    let marker = format!("wake-prompt-{}", cm("wake"));
    // Far enough ahead that a slow first turn (the real server under load
    // took over 3 s) still schedules it in the future.
    let (at, due) = in_seconds(12);
    let script = format!(
        r#"[[call:Wake {{"action": "create", "name": "check back", "prompt": "{marker}", "scheduled_at": "{at}"}}]]"#
    );
    let finished = turn(&mut frontend, &runtime, &script, "wake-create").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(!frontend.asked_anyone(), "scheduling asks nobody");
    let created = frontend.last_tool_return();
    assert!(created.contains("\"created\""), "{created}");
    frontend
        .seen_or_wait_for("the wake in device status", |frame| {
            frame["type"] == "update_device_status" && scheduled(frame) == 1
        })
        .await;

    // Killed before it is due; back after it was due.
    daemon.kill();
    tokio::time::sleep_until(due.into()).await;
    let (mut restarted, mut after) = backend.restart(&daemon, &runtime).await;
    let woke = after
        .seen_or_wait_for("the woken turn's end", |frame| {
            frame["type"] == "turn_finished"
        })
        .await;
    assert_eq!(woke["stop_reason"], "end_turn", "{woke}");
    let request = backend.model_request(&marker).await;
    assert!(request.to_string().contains("check back"), "{request}");
    after
        .seen_or_wait_for("no wake left", |frame| {
            frame["type"] == "update_device_status" && scheduled(frame) == 0
        })
        .await;

    // Another restart: the fired wake does not fire again.
    restarted.kill();
    let (_again, mut last) = backend.restart(&daemon, &runtime).await;
    // A turn of its own outlasts the maintenance ticks a refire would need.
    let finished = turn(&mut last, &runtime, "after the wake", "wake-after").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let messages = last.stored_messages(&runtime).await;
    assert_eq!(woken_by(&messages, &marker), 1, "{messages:?}");
}

async fn frontends_cancel_wakes(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-wake-cancel", cwd.path(), "standard").await;
    let script = r#"[[call:Wake {"action": "create", "name": "later", "prompt": "p", "after_seconds": 3600}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "wake-later").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let status = frontend
        .seen_or_wait_for("the wake listed", |frame| {
            frame["type"] == "update_device_status" && scheduled(frame) == 1
        })
        .await;
    let id = status["device_status"]["scheduled_wakes"][0]["id"].clone();
    let cancelled = frontend
        .request(json!({ "type": "wake_cancel", "runtime": runtime, "id": id }))
        .await;
    assert_eq!(cancelled["success"], true, "{cancelled}");
    frontend
        .wait_for("the wake gone", |frame| {
            frame["type"] == "update_device_status" && scheduled(frame) == 0
        })
        .await;
    let again = frontend
        .request(json!({ "type": "wake_cancel", "runtime": runtime, "id": id }))
        .await;
    assert_eq!(again["success"], false, "{again}");
}

on_both_backends!(
    a_wake_fires_after_a_restart_exactly_once,
    frontends_cancel_wakes,
);
