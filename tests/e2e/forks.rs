//! A conversation forked (whole, or through one of its messages) into a
//! new one that goes on by itself, and its system prompt compiled again.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime};
use crate::support::within;
use letta_protocol::{ConversationForkParams, ConversationRecompileParams, methods};

fn mentions(messages: &[Value], marker: &str) -> bool {
    messages
        .iter()
        .any(|message| message["content"].to_string().contains(marker))
}

async fn fork(frontend: &Frontend, runtime: &Value, body: Value) -> Value {
    let forked = frontend
        .request(json!({
            "type": "conversation_fork",
            "conversation_id": runtime["conversation_id"],
            "body": body,
        }))
        .await;
    assert_eq!(forked["type"], "conversation_fork_response", "{forked}");
    assert_eq!(forked["success"], true, "{forked}");
    let id = forked["conversation"]["id"].clone();
    assert!(id.is_string(), "{forked}");
    assert_ne!(id, runtime["conversation_id"], "{forked}");
    json!({ "agent_id": runtime["agent_id"], "conversation_id": id })
}

async fn a_conversation_is_forked_and_goes_on_by_itself(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-fork", cwd.path(), "standard").await;
    let first = format!("fork-first-{}", cm("fork"));
    let second = format!("fork-second-{}", cm("fork"));
    for (text, id) in [(&first, "fork-1"), (&second, "fork-2")] {
        let finished = turn(&mut frontend, &runtime, text, id).await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    }

    let whole = fork(&frontend, &runtime, json!({})).await;
    let copied = frontend.stored_messages(&whole).await;
    assert!(
        mentions(&copied, &first) && mentions(&copied, &second),
        "{copied:?}"
    );

    // The Letta server in the tests (0.16) forks whole conversations only.
    if !matches!(backend, Backend::Real) {
        let messages = frontend.stored_messages(&runtime).await;
        let through = messages
            .iter()
            .find(|message| {
                message["message_type"] == "user_message"
                    && message["content"].to_string().contains(&first)
            })
            .map(|message| message["id"].clone())
            .unwrap();
        let part = fork(&frontend, &runtime, json!({ "message_id": through })).await;
        let copied = frontend.stored_messages(&part).await;
        assert!(mentions(&copied, &first), "{copied:?}");
        assert!(!mentions(&copied, &second), "{copied:?}");
    }

    // The fork goes on by itself; the original is left as it was.
    let started = frontend
        .request(json!({
            "type": "runtime_start",
            "agent_id": whole["agent_id"],
            "conversation_id": whole["conversation_id"],
        }))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let third = format!("fork-third-{}", cm("fork"));
    let finished = turn(&mut frontend, &whole, &third, "fork-3").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(mentions(&frontend.stored_messages(&whole).await, &third));
    if !matches!(backend, Backend::Mock(_)) {
        // The model is asked with the history the fork copied.
        let asked = backend.model_request(&third).await.to_string();
        assert!(asked.contains(&first) && asked.contains(&second), "{asked}");
    }
    assert!(!mentions(&frontend.stored_messages(&runtime).await, &third));

    let compiled = frontend
        .request(json!({
            "type": "conversation_recompile",
            "conversation_id": runtime["conversation_id"],
            "body": { "dry_run": true },
        }))
        .await;
    assert_eq!(compiled["success"], true, "{compiled}");
    assert!(
        compiled["result"]
            .as_str()
            .is_some_and(|prompt| !prompt.trim().is_empty()),
        "{compiled}"
    );

    // The same over JSON-RPC, on the local socket.
    let client = within(letta_client::RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    let compiled = within(client.call::<methods::ConversationRecompile>(
        &ConversationRecompileParams {
            conversation_id: runtime["conversation_id"].as_str().unwrap().to_owned(),
            body: None,
        },
    ))
    .await
    .unwrap();
    assert!(compiled.result.is_some_and(|prompt| !prompt.is_empty()));
    let forked = within(
        client.call::<methods::ConversationFork>(&ConversationForkParams {
            conversation_id: runtime["conversation_id"].as_str().unwrap().to_owned(),
            body: None,
            acting_user_id: None,
        }),
    )
    .await
    .unwrap();
    assert!(
        forked
            .conversation
            .is_some_and(|conversation| conversation["id"].is_string())
    );

    let unknown = frontend
        .request(json!({ "type": "conversation_fork", "conversation_id": "conv-00000000-0000-4000-8000-000000000000" }))
        .await;
    assert_eq!(unknown["success"], false, "{unknown}");
    assert!(unknown["error"].is_string(), "{unknown}");
}

on_both_backends!(a_conversation_is_forked_and_goes_on_by_itself);
