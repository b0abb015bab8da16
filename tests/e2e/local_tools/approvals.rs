//! Permissions and approvals, end to end.

use serde_json::{Value, json};

use super::{approval, project, settings_allow, start_runtime, tool_returns};
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, user_input};

on_both_backends!(
    reads_run_at_once_and_writes_wait_for_any_frontend,
    deny_rules_beat_unrestricted_mode,
    a_denial_reaches_the_agent_and_a_saved_rule_stops_the_asking,
    aborting_withdraws_the_pending_approval,
    toolsets_and_allowlists_choose_the_offered_tools,
    an_approval_may_change_the_arguments,
);

async fn reads_run_at_once_and_writes_wait_for_any_frontend(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut one = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&one, "e2e-local-approve", project.path(), "standard").await;
    let mut two = Frontend::connect(&daemon).await;
    let synced = two
        .request(json!({"type": "sync", "request_id": "s-1", "runtime": runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");

    let script = r#"[[call:Read {"file_path": "a.txt"}]] [[call:Write {"file_path": "b.txt", "content": "hello\n"}]]"#;
    one.send(user_input(&runtime, script, &cm("approve"))).await;
    let asked = one.wait_for_type("control_request").await;
    let request = &asked["request"];
    assert_eq!(request["subtype"], "can_use_tool");
    assert_eq!(request["tool_name"], "Write");
    assert_eq!(
        asked["request_id"],
        format!("perm-{}", request["tool_call_id"].as_str().unwrap())
    );
    assert_eq!(
        request["diffs"],
        json!([{"mode": "advanced", "fileName": "b.txt", "hunks": [
            {"oldStart": 1, "oldLines": 0, "newStart": 1, "newLines": 1,
             "lines": [{"type": "add", "content": "hello"}]}]}])
    );
    assert_eq!(
        request["permission_suggestions"].as_array().unwrap().len(),
        2
    );
    // The read ran without asking, before the write was asked about.
    let read = one.deltas("tool_return_message");
    assert_eq!(read.len(), 1, "{:?}", one.types());
    assert!(
        read[0]["tool_return"]
            .as_str()
            .unwrap()
            .contains("1\talpha")
    );
    let waiting = one
        .seen_or_wait_for("pending approval in device status", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["pending_control_requests"][0]["request_id"]
                    == asked["request_id"]
        })
        .await;
    assert_eq!(
        waiting["device_status"]["pending_control_requests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    one.seen_or_wait_for("WAITING_ON_APPROVAL", |frame| {
        frame["loop_status"]["status"] == "WAITING_ON_APPROVAL"
    })
    .await;
    assert!(
        !project.path().join("b.txt").exists(),
        "nothing written before the answer"
    );

    // The other frontend answers; the first answer wins.
    two.seen_or_wait_for("the same request", |frame| {
        frame["request_id"] == asked["request_id"]
    })
    .await;
    let accepted = two
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "allow"}),
            "allow-2",
        ))
        .await;
    assert_eq!(accepted["accepted"], true, "{accepted}");
    let late = one
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "deny", "message": "too late"}),
            "deny-1",
        ))
        .await;
    assert_eq!(late["success"], false, "{late}");
    assert_eq!(late["error_code"], -32006, "{late}");
    assert!(
        late["error"].as_str().unwrap().contains("not pending"),
        "{late}"
    );

    let finished = one.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("b.txt")).unwrap(),
        "hello\n"
    );
    let ends: Vec<&Value> = one.deltas("client_tool_end");
    assert_eq!(ends.len(), 2);
    assert!(
        ends.iter().all(|end| end["status"] == "success"),
        "{ends:?}"
    );
    let last_status = one
        .seen
        .iter()
        .rev()
        .find(|frame| frame["type"] == "update_device_status")
        .unwrap();
    assert_eq!(
        last_status["device_status"]["pending_control_requests"],
        json!([])
    );
    let returns = tool_returns(&one, &runtime).await;
    assert_eq!(returns.len(), 2, "{returns:?}");
    assert!(
        returns.iter().any(|text| text.contains("Created")),
        "{returns:?}"
    );
    assert!(
        returns.iter().any(|text| text.contains("alpha")),
        "{returns:?}"
    );
}

async fn deny_rules_beat_unrestricted_mode(backend: Backend) {
    let project = project();
    std::fs::create_dir_all(project.path().join("victim")).unwrap();
    std::fs::create_dir_all(project.path().join(".letta")).unwrap();
    std::fs::write(
        project.path().join(".letta/settings.local.json"),
        r#"{"permissions": {"deny": ["Bash(rm:*)"]}}"#,
    )
    .unwrap();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-local-deny", project.path(), "unrestricted").await;
    let script = r#"[[call:Bash {"command": "ls && rm -rf victim", "description": "clean up"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("deny-rule")))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(project.path().join("victim").exists());
    assert!(
        frontend
            .seen
            .iter()
            .all(|frame| frame["type"] != "control_request")
    );
    let classified = frontend.deltas("approval_classification_end");
    assert_eq!(
        classified[0]["auto_denied_tool_call_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let returns = tool_returns(&frontend, &runtime).await;
    assert!(
        returns[0].contains("Permission denied") && returns[0].contains("Bash(rm:*)"),
        "{returns:?}"
    );

    // Unrestricted mode runs what no rule denies.
    let script = r#"[[call:Bash {"command": "touch made-by-bash", "description": "touch"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("deny-rule-2")))
        .await;
    frontend
        .wait_for("second turn_finished", |frame| {
            frame["type"] == "turn_finished" && frame["turn_id"] != finished["turn_id"]
        })
        .await;
    assert!(project.path().join("made-by-bash").exists());
}

async fn a_denial_reaches_the_agent_and_a_saved_rule_stops_the_asking(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-local-rule", project.path(), "standard").await;
    let touch = |name: &str| {
        format!(r#"[[call:Bash {{"command": "touch {name}", "description": "make a file"}}]]"#)
    };

    frontend
        .send(user_input(&runtime, &touch("one.txt"), &cm("rule-1")))
        .await;
    let asked = frontend.wait_for_type("control_request").await;
    let denied = frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "deny", "message": "not in this folder"}),
            "deny",
        ))
        .await;
    assert_eq!(denied["accepted"], true, "{denied}");
    let first = frontend.wait_for_type("turn_finished").await;
    assert!(!project.path().join("one.txt").exists());
    let returns = tool_returns(&frontend, &runtime).await;
    assert!(returns[0].contains("not in this folder"), "{returns:?}");

    frontend
        .send(user_input(&runtime, &touch("one.txt"), &cm("rule-2")))
        .await;
    let asked = frontend
        .wait_for("a second request", |frame| {
            frame["type"] == "control_request" && frame["request_id"] != asked["request_id"]
        })
        .await;
    let suggestion = &asked["request"]["permission_suggestions"][1];
    assert_eq!(suggestion["id"], "project", "{suggestion}");
    assert!(
        suggestion["text"]
            .as_str()
            .unwrap()
            .contains("Bash(touch:*)")
    );
    frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "allow", "selected_permission_suggestion_ids": ["project"]}),
            "allow-always",
        ))
        .await;
    let second = frontend
        .wait_for("second turn_finished", |frame| {
            frame["type"] == "turn_finished" && frame["turn_id"] != first["turn_id"]
        })
        .await;
    assert!(project.path().join("one.txt").exists());
    assert_eq!(settings_allow(project.path()), json!(["Bash(touch:*)"]));

    let asks_before = frontend
        .seen
        .iter()
        .filter(|frame| frame["type"] == "control_request")
        .count();
    frontend
        .send(user_input(&runtime, &touch("two.txt"), &cm("rule-3")))
        .await;
    frontend
        .wait_for("third turn_finished", |frame| {
            frame["type"] == "turn_finished"
                && frame["turn_id"] != first["turn_id"]
                && frame["turn_id"] != second["turn_id"]
        })
        .await;
    assert!(project.path().join("two.txt").exists());
    let asks_after = frontend
        .seen
        .iter()
        .filter(|frame| frame["type"] == "control_request")
        .count();
    assert_eq!(
        asks_before, asks_after,
        "the saved rule allowed it without asking"
    );
}

async fn aborting_withdraws_the_pending_approval(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-local-abort", project.path(), "standard").await;
    let script = r#"[[call:Write {"file_path": "never.txt", "content": "x"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("abort-approval")))
        .await;
    let asked = frontend.wait_for_type("control_request").await;
    let aborted = frontend
        .request(json!({"type": "abort_message", "request_id": "abort-1", "runtime": runtime}))
        .await;
    assert_eq!(aborted["aborted"], true, "{aborted}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "cancelled", "{finished}");
    let status = frontend
        .seen
        .iter()
        .rev()
        .find(|frame| frame["type"] == "update_device_status")
        .unwrap();
    assert_eq!(
        status["device_status"]["pending_control_requests"],
        json!([])
    );
    let late = frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "allow"}),
            "late",
        ))
        .await;
    assert_eq!(late["error_code"], -32006, "{late}");
    assert!(!project.path().join("never.txt").exists());

    // The conversation goes on.
    frontend
        .send(user_input(
            &runtime,
            "[[notool]] still there?",
            &cm("abort-approval-2"),
        ))
        .await;
    let next = frontend
        .wait_for("the next turn", |frame| {
            frame["type"] == "turn_finished" && frame["turn_id"] != finished["turn_id"]
        })
        .await;
    assert_eq!(
        next["stop_reason"],
        "end_turn",
        "{next}\n{}",
        daemon.stderr()
    );
}

async fn toolsets_and_allowlists_choose_the_offered_tools(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &frontend,
        "e2e-local-toolsets",
        project.path(),
        "unrestricted",
    )
    .await;
    let mut finished = Vec::new();
    let turns = [
        // Only Read is allowed: the Write is not offered and does not run.
        (
            r#"[[call:Write {"file_path": "no.txt", "content": "x"}]]"#,
            json!({ "client_tool_allowlist": ["Read"] }),
        ),
        // The base toolset has no Glob; `include` adds it.
        (
            r#"[[call:Glob {"pattern": "*.txt"}]]"#,
            json!({ "client_toolset": { "base": "none", "include": ["Glob"] } }),
        ),
        // An empty allowlist offers nothing.
        (
            r#"[[call:Read {"file_path": "a.txt"}]]"#,
            json!({ "client_tool_allowlist": [] }),
        ),
    ];
    for (index, (script, options)) in turns.iter().enumerate() {
        let mut input = user_input(&runtime, script, &cm(&format!("toolsets-{index}")));
        for (key, value) in options.as_object().unwrap() {
            input["payload"][key] = value.clone();
        }
        frontend.send(input).await;
        let done = frontend
            .wait_for("turn_finished", |frame| {
                frame["type"] == "turn_finished" && !finished.contains(&frame["turn_id"])
            })
            .await;
        finished.push(done["turn_id"].clone());
    }
    assert!(!project.path().join("no.txt").exists());
    let returns = tool_returns(&frontend, &runtime).await;
    // A tool not offered is refused: by the real server, which only lets
    // the model call the client tools a send offers, or by the daemon.
    let refused = |text: &&String| text.contains("not available") || text.contains("Cannot call");
    assert_eq!(returns.iter().filter(refused).count(), 2, "{returns:?}");
    assert!(
        returns
            .iter()
            .any(|text| text.contains("a.txt") && !refused(&text)),
        "Glob ran: {returns:?}"
    );
}

async fn an_approval_may_change_the_arguments(backend: Backend) {
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-local-updated", project.path(), "standard").await;
    let script = r#"[[call:Write {"file_path": "note.txt", "content": "draft\n"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("updated-input")))
        .await;
    let asked = frontend.wait_for_type("control_request").await;
    let decision = json!({
        "behavior": "allow",
        "updated_input": { "file_path": "note.txt", "content": "reviewed\n" },
    });
    frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            decision,
            "allow-edited",
        ))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("note.txt")).unwrap(),
        "reviewed\n"
    );
}

/// Two calls wait for approval at once; saving a rule while answering the
/// first one also allows the second. (The real server's scripted model
/// makes one call at a time, so this runs on the mock only.)
#[tokio::test]
async fn a_saved_rule_allows_the_other_pending_calls() {
    let backend = Backend::mock().await;
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-local-recheck", project.path(), "standard").await;
    let script = r#"[[parallel]] [[call:Bash {"command": "touch first.txt"}]] [[call:Bash {"command": "touch second.txt"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("recheck")))
        .await;
    let first = frontend.wait_for_type("control_request").await;
    let second = frontend
        .wait_for("the second request", |frame| {
            frame["type"] == "control_request" && frame["request_id"] != first["request_id"]
        })
        .await;
    frontend
        .request(approval(
            &runtime,
            &first["request_id"],
            json!({"behavior": "allow", "selected_permission_suggestion_ids": ["session"]}),
            "allow-session",
        ))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(project.path().join("first.txt").exists());
    assert!(
        project.path().join("second.txt").exists(),
        "allowed by the saved rule"
    );
    let late = frontend
        .request(approval(
            &runtime,
            &second["request_id"],
            json!({"behavior": "allow"}),
            "late",
        ))
        .await;
    assert_eq!(
        late["error_code"], -32006,
        "the second one was decided already: {late}"
    );
}

/// Reads run together; commands run one after another, in order. (Several
/// calls in one response need the mock's [[parallel]].)
#[tokio::test]
async fn reads_run_together_and_commands_one_at_a_time() {
    let backend = Backend::mock().await;
    let project = project();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &frontend,
        "e2e-local-batches",
        project.path(),
        "unrestricted",
    )
    .await;
    let script = r#"[[parallel]] [[call:Read {"file_path": "a.txt"}]] [[call:Grep {"pattern": "alpha"}]] [[call:Bash {"command": "sleep 0.3; echo 1 >> order.txt"}]] [[call:Bash {"command": "echo 2 >> order.txt"}]]"#;
    let mut input = user_input(&runtime, script, &cm("batches"));
    input["payload"]["client_toolset"] = json!({ "include": ["Grep"] });
    frontend.send(input).await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let executing: Vec<usize> = frontend
        .seen
        .iter()
        .filter(|frame| frame["loop_status"]["status"] == "EXECUTING_CLIENT_SIDE_TOOL")
        .map(|frame| {
            frame["loop_status"]["executing_tool_call_ids"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(
        executing,
        [2, 1, 1],
        "the two reads together, then each command alone"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("order.txt")).unwrap(),
        "1\n2\n"
    );
}
