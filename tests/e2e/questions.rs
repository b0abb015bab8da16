//! `AskUserQuestion`: the agent's questions reach frontends as a durable
//! request of their own kind; any frontend answers, after a restart too,
//! and the answers are the tool's result.

use serde_json::json;

use crate::local_tools::approval;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime, user_input};

const QUESTION: &str = r#"[[call:AskUserQuestion {"questions": [{"question": "Which color?", "header": "Color", "options": [{"label": "Red", "description": "warm"}, {"label": "Blue", "description": "cool"}]}]}]]"#;

async fn a_question_is_answered_by_another_frontend_after_a_restart(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut first = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&first, "e2e-question", cwd.path(), "unrestricted").await;
    first
        .send(user_input(&runtime, QUESTION, &cm("question")))
        .await;
    let asked = first
        .wait_for("the question", |frame| frame["type"] == "control_request")
        .await;
    assert_eq!(asked["request"]["subtype"], "ask_user_question", "{asked}");
    assert_eq!(
        asked["request"]["questions"][0]["header"], "Color",
        "{asked}"
    );
    let request_id = asked["request_id"].clone();

    daemon.kill();
    let (_restarted, mut second) = backend.restart(&daemon, &runtime).await;
    second
        .seen_or_wait_for("the question still pending", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["pending_control_requests"]
                    .as_array()
                    .is_some_and(|pending| {
                        pending.iter().any(|request| {
                            request["request_id"] == request_id
                                && request["request"]["subtype"] == "ask_user_question"
                        })
                    })
        })
        .await;
    second
        .send(approval(
            &runtime,
            &request_id,
            json!({ "behavior": "allow", "updated_input": { "answers": { "Which color?": "Blue" } } }),
            "answer",
        ))
        .await;
    let finished = second
        .wait_for("the turn's end", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returned = second.deltas("tool_return_message");
    let answer = returned.last().unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    assert!(
        answer["tool_return"]
            .as_str()
            .unwrap()
            .contains(r#""Which color?" = "Blue""#),
        "{answer}"
    );
}

async fn a_malformed_question_is_refused(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-question-bad", cwd.path(), "standard").await;
    let one_option = r#"[[call:AskUserQuestion {"questions": [{"question": "Sure?", "header": "Check", "options": [{"label": "Yes", "description": "go"}]}]}]]"#;
    frontend
        .send(user_input(&runtime, one_option, &cm("question-bad")))
        .await;
    let finished = frontend
        .wait_for("the turn's end", |frame| frame["type"] == "turn_finished")
        .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(
        !frontend.asked_anyone(),
        "a malformed question reaches nobody"
    );
    let refused = frontend.last_tool_return();
    assert!(refused.contains("2 to 4 options"), "{refused}");
}

on_both_backends!(
    a_question_is_answered_by_another_frontend_after_a_restart,
    a_malformed_question_is_refused,
);
