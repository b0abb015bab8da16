//! `ViewImage`: the image itself reaches the model through a Letta server;
//! the local backend, whose tool results are text, does not offer it.

use base64::Engine as _;
use serde_json::{Value, json};

use super::start_runtime;
use crate::local_agents::turn;
use crate::support::Daemon;
use crate::support::backend::Backend;
use crate::support::frontend::Frontend;

/// A 2x1 PNG, unique enough to find in what the model was sent.
const IMAGE: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7B, 0x40, 0xE8,
    0xDD, 0x00, 0x00, 0x00, 0x0F, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x08, 0x00, 0x00, 0x08, 0xF0, 0x01, 0xFF, 0x87, 0x5D, 0x1B, 0x5D, 0x00, 0x00, 0x00, 0x00,
    0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// Runs a turn viewing an image; the daemon and what the turn needs live
/// as long as the answer.
async fn view_image(backend: &Backend) -> (Daemon, Frontend, Value, tempfile::TempDir) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("shot.png"), IMAGE).unwrap();
    let runtime = start_runtime(&frontend, "e2e-image", cwd.path(), "standard").await;
    let codex = frontend
        .request(
            json!({ "type": "update_toolset", "runtime": runtime, "toolset_preference": "codex" }),
        )
        .await;
    assert_eq!(codex["success"], true, "{codex}");
    let script = r#"[[call:ViewImage {"path": "shot.png"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "image-view").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    (daemon, frontend, runtime, cwd)
}

#[tokio::test]
async fn the_image_reaches_the_mock_server_as_image_content() {
    let backend = Backend::mock().await;
    let (_daemon, frontend, _runtime, _cwd) = view_image(&backend).await;
    assert!(
        !frontend.asked_anyone(),
        "viewing an image inside the project reads"
    );
    let shown = frontend.last_tool_return();
    assert!(shown.contains("[Image: shot.png, image/png"), "{shown}");
    let data = base64::engine::general_purpose::STANDARD.encode(IMAGE);
    let sent = backend.model_request(&data).await;
    let parts = &sent["messages"][0]["approvals"][0]["tool_return"];
    assert_eq!(parts[1]["type"], "image", "{parts}");
    assert_eq!(parts[1]["source"]["media_type"], "image/png", "{parts}");
}

/// A Letta server keeps the image in the conversation and hands it to
/// models that take images in tool results (Anthropic, Google, OpenAI's
/// Responses API); for chat-completions models, such as the scripted one
/// here, it puts a placeholder in its place.
#[tokio::test]
async fn a_letta_server_keeps_the_image() {
    let backend = Backend::Real;
    let (_daemon, frontend, runtime, _cwd) = view_image(&backend).await;
    let data = base64::engine::general_purpose::STANDARD.encode(IMAGE);
    let messages = frontend.stored_messages(&runtime).await;
    let stored = messages
        .iter()
        .find(|message| message["message_type"] == "tool_return_message")
        .unwrap_or_else(|| panic!("{messages:#?}"));
    assert!(stored.to_string().contains(&data), "{stored}");
    let asked = backend.model_request("[Image omitted]").await;
    assert!(asked.to_string().contains("shot.png"), "{asked}");
}

#[tokio::test]
async fn the_local_backend_does_not_offer_view_image() {
    let backend = Backend::local().await;
    let (_daemon, frontend, _runtime, _cwd) = view_image(&backend).await;
    let answer = frontend.last_tool_return();
    assert!(answer.contains("not available"), "{answer}");
    assert!(
        !backend
            .offered_tools("ViewImage")
            .await
            .contains(&"ViewImage".to_owned())
    );
}
