//! Crash paths that must lose or repeat nothing.

use serde_json::{Value, json};

use crate::support::backend::{Backend, on_both_backends};
use crate::support::frontend::{Frontend, TURN_TIMEOUT};
use crate::support::{Daemon, Options};

on_both_backends!(an_input_without_an_id_reaches_the_server_once_across_a_crash);

/// The daemon crashes right after the server took the message and before
/// anything about its run was stored; the frontend sent no
/// `client_message_id`. After the restart the turn finishes and the
/// conversation holds the message once.
async fn an_input_without_an_id_reaches_the_server_once_across_a_crash(backend: Backend) {
    let url = backend.url();
    let mut crashed = Daemon::start_with(
        Options::default()
            .env("LETTA_BASE_URL", url.clone())
            .env("LETTA_DAEMON_CRASH_AT", "message-sent"),
    );
    let mut before = Frontend::connect(&crashed).await;
    let started = before
        .request(crate::support::frontend::start_new_runtime(
            "e2e-no-id-crash",
            json!([]),
        ))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let runtime = started["runtime"].clone();
    let text = format!("no id here {}", std::process::id());
    let accepted = before
        .request(json!({
            "type": "input",
            "runtime": runtime,
            "payload": {
                "kind": "create_message",
                "messages": [{ "role": "user", "content": text }],
            },
        }))
        .await;
    assert_eq!(accepted["accepted"], true, "{accepted}");
    while let Ok(frame) = before.client.next_unsolicited(TURN_TIMEOUT).await {
        before.seen.push(frame);
    }
    let status = crashed.wait();
    assert!(!status.success(), "the daemon crashed on purpose: {status}");

    let restarted = Daemon::start_with(Options {
        data_dir: Some(crashed.data_dir.clone()),
        ..Options::default().env("LETTA_BASE_URL", url)
    });
    let mut after = Frontend::connect(&restarted).await;
    let synced = after
        .request(json!({"type": "sync", "request_id": "sync", "runtime": runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let finished = after
        .seen_or_wait_for("turn_finished", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(
        finished["stop_reason"],
        "end_turn",
        "{finished}\n{}",
        restarted.stderr()
    );
    let copies = after
        .stored_messages(&runtime)
        .await
        .into_iter()
        .filter(|message| {
            message["message_type"] == "user_message" && content_text(message).contains(&text)
        })
        .count();
    assert_eq!(copies, 1, "the user message is stored exactly once");
}

fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
