//! `SetWorkingDirectory`: the agent moves its runtime; later calls and
//! permissions follow, and moving out of the working directory asks.

use serde_json::json;

use super::{approval, start_runtime};
use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, user_input};

async fn the_agent_moves_and_its_calls_follow(backend: Backend) {
    let project = tempfile::tempdir().unwrap();
    let project_path = project.path().canonicalize().unwrap();
    std::fs::create_dir(project_path.join("sub")).unwrap();
    std::fs::write(project_path.join("sub/inner.txt"), "deep inside\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let outside_path = outside.path().canonicalize().unwrap();

    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-workdir", &project_path, "standard").await;
    let script =
        r#"[[call:SetWorkingDirectory {"path": "sub"}]] [[call:Read {"file_path": "inner.txt"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "workdir-in").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(
        !frontend.asked_anyone(),
        "moving inside asks nobody: {:?}",
        frontend.types()
    );
    let returns = frontend.deltas("tool_return_message");
    assert!(
        returns.last().unwrap()["tool_return"]
            .as_str()
            .unwrap()
            .contains("deep inside"),
        "{returns:?}"
    );
    let sub = project_path.join("sub").display().to_string();
    frontend
        .seen_or_wait_for("the new directory in device status", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["current_working_directory"] == sub.as_str()
        })
        .await;

    // Out of the working directory: asked, and denied here.
    let script = format!(
        r#"[[call:SetWorkingDirectory {{"path": "{}"}}]]"#,
        outside_path.display()
    );
    frontend
        .send(user_input(&runtime, &script, &cm("workdir-out")))
        .await;
    let asked = frontend
        .wait_for("the question", |frame| frame["type"] == "control_request")
        .await;
    assert_eq!(
        asked["request"]["blocked_path"],
        outside_path.display().to_string().as_str(),
        "{asked}"
    );
    frontend
        .send(approval(
            &runtime,
            &asked["request_id"],
            json!({ "behavior": "deny", "message": "stay here" }),
            "deny-move",
        ))
        .await;
    let finished = frontend
        .wait_for("the turn's end", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let status = frontend
        .request(json!({ "type": "sync", "runtime": runtime }))
        .await;
    assert_eq!(status["success"], true, "{status}");
    let latest = frontend
        .wait_for("device status after the denial", |frame| {
            frame["type"] == "update_device_status"
        })
        .await;
    assert_eq!(
        latest["device_status"]["current_working_directory"],
        sub.as_str(),
        "a denied move leaves the directory as it was"
    );
}

on_both_backends!(the_agent_moves_and_its_calls_follow);
