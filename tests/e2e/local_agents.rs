//! What only the local backend does: memory that the agent edits and that
//! changes its next prompt (across a restart too), searching its history,
//! and surviving model failures.

use serde_json::{Value, json};

use crate::support::backend::{Backend, LocalModel, cm};
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::{Daemon, Options, letta_server};

fn local(backend: &Backend) -> &LocalModel {
    match backend {
        Backend::Local(local) => local,
        _ => unreachable!("these scenarios run on the local backend"),
    }
}

/// The system prompt of the newest request the model received.
fn last_system_prompt(backend: &Backend) -> String {
    let requests = local(backend).model.requests();
    let last = requests.last().expect("the model was called");
    last["messages"][0]["content"].as_str().unwrap().to_owned()
}

/// A daemon on `backend`, a frontend, and a runtime on a new local agent
/// working in /tmp.
pub(crate) async fn started(backend: &Backend, name: &str) -> (Daemon, Frontend, Value) {
    let daemon = backend.daemon();
    let frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, name, std::path::Path::new("/tmp"), "standard").await;
    (daemon, frontend, runtime)
}

/// Runs one turn and returns its `turn_finished` frame.
pub(crate) async fn turn(frontend: &mut Frontend, runtime: &Value, text: &str, id: &str) -> Value {
    frontend.send(user_input(runtime, text, &cm(id))).await;
    frontend
        .wait_for("this turn's end", |frame| frame["type"] == "turn_finished")
        .await
}

#[tokio::test]
async fn memory_edits_persist_across_a_restart_and_change_the_next_prompt() {
    let backend = Backend::local().await;
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &frontend,
        "e2e-memory",
        std::path::Path::new("/tmp"),
        "standard",
    )
    .await;
    let agent_id = runtime["agent_id"].as_str().unwrap().to_owned();

    let script =
        r#"[[call:memory_insert {"label": "human", "new_string": "The user's name is Ada."}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "memory-1").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    // The memory tool ran inside the daemon: no approval was asked.
    assert!(frontend.deltas("approval_request_message").is_empty());
    let returned = frontend.deltas("tool_return_message");
    assert_eq!(returned.len(), 1, "{:?}", frontend.types());
    assert_eq!(returned[0]["status"], "success", "{}", returned[0]);
    // The step after the edit already saw it.
    assert!(
        last_system_prompt(&backend).contains("The user's name is Ada."),
        "{}",
        last_system_prompt(&backend)
    );

    daemon.stop();
    let restarted = Daemon::start_with(Options {
        data_dir: Some(daemon.data_dir.clone()),
        ..backend.options()
    });
    let mut after = Frontend::connect(&restarted).await;
    let agent = after
        .request(json!({ "type": "agent_retrieve", "agent_id": agent_id }))
        .await;
    let human = agent["agent"]["memory"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["label"] == "human")
        .cloned()
        .unwrap();
    assert_eq!(human["value"], "The user's name is Ada.", "{agent}");

    let synced = after
        .request(json!({ "type": "sync", "request_id": "s", "runtime": runtime }))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let finished = turn(&mut after, &runtime, "hello again", "memory-2").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let prompt = last_system_prompt(&backend);
    assert!(prompt.contains("<human>"), "{prompt}");
    assert!(prompt.contains("The user's name is Ada."), "{prompt}");
    assert!(prompt.contains("- chars_current=23"), "{prompt}");
}

#[tokio::test]
async fn conversation_search_finds_earlier_messages() {
    let backend = Backend::local().await;
    let (_daemon, mut frontend, runtime) = started(&backend, "e2e-search").await;
    turn(
        &mut frontend,
        &runtime,
        "the launch code is pelican",
        "search-1",
    )
    .await;
    let script = r#"[[call:conversation_search {"query": "pelican"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "search-2").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returned = frontend.deltas("tool_return_message");
    let text = returned[0]["tool_return"].as_str().unwrap();
    assert!(text.starts_with("Found"), "{text}");
    assert!(text.contains("the launch code is pelican"), "{text}");
}

#[tokio::test]
async fn a_bad_memory_edit_is_an_error_the_agent_sees() {
    let backend = Backend::local().await;
    let (_daemon, mut frontend, runtime) = started(&backend, "e2e-bad-edit").await;
    let script =
        r#"[[call:memory_replace {"label": "nobody", "old_string": "a", "new_string": "b"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "bad-edit").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let returned = frontend.deltas("tool_return_message");
    assert_eq!(returned[0]["status"], "error");
    assert!(
        returned[0]["tool_return"]
            .as_str()
            .unwrap()
            .contains("no memory block labelled \"nobody\""),
        "{}",
        returned[0]
    );
}

#[tokio::test]
async fn model_failures_are_retried_and_announced() {
    let backend = Backend::local().await;
    let (_daemon, mut frontend, runtime) = started(&backend, "e2e-retry").await;

    // 429 with Retry-After, then a 500, then a stream cut mid-answer: each
    // is tried again, and frontends see a retry delta for each.
    for (index, fault) in ["[[fail-once=429]]", "[[fail-once=500]]", "[[cut-once=3]]"]
        .iter()
        .enumerate()
    {
        let text = format!("{fault} still here {index}");
        let finished = turn(&mut frontend, &runtime, &text, &format!("retry-{index}")).await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
        frontend
            .seen
            .retain(|frame| frame["type"] != "turn_finished");
    }
    let retries = frontend.deltas("retry");
    assert_eq!(retries.len(), 3, "{retries:?}");
    assert!(
        retries[0]["message"].as_str().unwrap().contains("429"),
        "{}",
        retries[0]
    );
    assert!(
        retries[0]["delay_ms"].as_u64().unwrap() >= 1000,
        "Retry-After is honoured: {}",
        retries[0]
    );

    // A failure that does not go away ends the turn with the provider's
    // message.
    let finished = turn(&mut frontend, &runtime, "[[http=401]] no key", "fatal").await;
    assert_eq!(finished["stop_reason"], "error", "{finished}");
    assert!(
        finished["error"].as_str().unwrap().contains("401"),
        "{finished}"
    );
}

/// Texts long enough that a few turns fill a 2,000-token window.
fn long_text(index: usize) -> String {
    format!(
        "turn {index} marker{index} {}",
        "lorem ipsum dolor ".repeat(80)
    )
}

#[tokio::test]
async fn a_long_conversation_is_compacted_and_goes_on() {
    let backend = Backend::local_with("context_window = 2000").await;
    let (_daemon, mut frontend, runtime) = started(&backend, "e2e-compact").await;
    for index in 0..5 {
        let finished = turn(
            &mut frontend,
            &runtime,
            &long_text(index),
            &format!("long-{index}"),
        )
        .await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    }
    let statuses = frontend.deltas("status");
    assert!(!statuses.is_empty(), "{:?}", frontend.types());
    assert!(
        statuses[0]["message"]
            .as_str()
            .unwrap()
            .contains("Summarised"),
        "{}",
        statuses[0]
    );
    // The model was asked to summarise, and later prompts carry the summary
    // in place of the older messages.
    let requests = local(&backend).model.requests();
    assert!(requests.iter().any(|request| {
        request["tools"].is_null()
            && request["messages"][1]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("marker0")
    }));
    let last = requests.last().unwrap();
    assert!(
        last["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("<conversation_summary>")
    );
    let sent: Vec<String> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].to_string())
        .collect();
    assert!(
        !sent.iter().skip(1).any(|text| text.contains("marker0 ")),
        "the oldest turn left the prompt"
    );

    // The originals stay stored and searchable.
    let stored = frontend.stored_messages(&runtime).await;
    assert!(stored.iter().any(|message| {
        message["content"]
            .as_str()
            .is_some_and(|text| text.contains("marker0"))
    }));
    assert!(
        stored
            .iter()
            .any(|message| message["message_type"] == "summary_message")
    );
    let script = r#"[[call:conversation_search {"query": "marker0"}]]"#;
    turn(&mut frontend, &runtime, script, "search-compacted").await;
    let found = frontend.deltas("tool_return_message");
    assert!(
        found.last().unwrap()["tool_return"]
            .as_str()
            .unwrap()
            .contains("marker0")
    );
}

#[tokio::test]
async fn a_context_length_error_compacts_and_retries_once() {
    let backend = Backend::local().await;
    let (_daemon, mut frontend, runtime) = started(&backend, "e2e-too-long").await;
    turn(&mut frontend, &runtime, "an earlier turn", "too-long-0").await;
    let finished = turn(
        &mut frontend,
        &runtime,
        "[[context-once]] now too long",
        "too-long-1",
    )
    .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(frontend.deltas("status").len(), 1, "{:?}", frontend.types());

    // And on request, also when the history holds a script of tool calls
    // (the summarising model is offered no tools, so it answers in text).
    let other = start_runtime(
        &frontend,
        "e2e-compact-asked",
        std::path::Path::new("/tmp"),
        "standard",
    )
    .await;
    let refused = frontend
        .request(
            json!({ "type": "conversation_compact", "conversation_id": other["conversation_id"] }),
        )
        .await;
    assert_eq!(
        refused["success"], false,
        "nothing to compact yet: {refused}"
    );
    let scripts = [
        r#"[[call:conversation_search {"query": "plain"}]] searched"#,
        "a plain turn",
    ];
    for (index, script) in scripts.iter().enumerate() {
        turn(&mut frontend, &other, script, &format!("asked-{index}")).await;
    }
    let compacted = frontend
        .request(json!({
            "type": "conversation_compact",
            "conversation_id": other["conversation_id"],
        }))
        .await;
    assert_eq!(compacted["success"], true, "{compacted}");
    let compaction = &compacted["compaction"];
    assert!(
        compaction["num_messages_before"].as_u64().unwrap()
            > compaction["num_messages_after"].as_u64().unwrap(),
        "{compacted}"
    );
}

/// On a Letta server the switch is the agent's: the server is told, and
/// the agent says so after.
#[tokio::test]
async fn update_model_switches_a_server_agents_model() {
    let backend = Backend::mock().await;
    let daemon = backend.daemon();
    let frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &frontend,
        "e2e-server-model",
        std::path::Path::new("/tmp"),
        "standard",
    )
    .await;
    let updated = frontend
        .request(json!({ "type": "update_model", "runtime": runtime, "payload": { "model_handle": "mock/default-model" } }))
        .await;
    assert_eq!(updated["success"], true, "{updated}");
    assert_eq!(updated["model_handle"], "mock/default-model", "{updated}");
    let agent = frontend
        .request(json!({ "type": "agent_retrieve", "agent_id": runtime["agent_id"] }))
        .await;
    assert_eq!(agent["agent"]["model"], "mock/default-model", "{agent}");
}

#[tokio::test]
async fn update_model_switches_a_local_agents_model() {
    let backend = Backend::local().await;
    let (_daemon, frontend, runtime) = started(&backend, "e2e-model").await;
    let unknown = frontend
        .request(json!({ "type": "update_model", "runtime": runtime, "payload": { "model_handle": "nowhere/model" } }))
        .await;
    assert_eq!(unknown["success"], false, "{unknown}");
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("no provider \"nowhere\""),
        "{unknown}"
    );
    let updated = frontend
        .request(json!({ "type": "update_model", "runtime": runtime, "payload": { "model_handle": "openai-proxy/other-model" } }))
        .await;
    assert_eq!(updated["success"], true, "{updated}");
    let agent = frontend
        .request(json!({ "type": "agent_retrieve", "agent_id": runtime["agent_id"] }))
        .await;
    assert_eq!(
        agent["agent"]["model"], "openai-proxy/other-model",
        "{agent}"
    );
}

#[tokio::test]
async fn an_anthropic_model_thinks_and_uses_tools() {
    let backend = Backend::local_config(|model| {
        format!(
            "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\nthinking_budget = 2048\n",
            model.root
        )
    })
    .await;
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("a.txt"), "alpha beta\n").unwrap();
    let started = frontend
        .request(json!({
            "type": "runtime_start",
            "create_agent": { "body": { "name": "e2e-claude", "model": "claude/fake-model" } },
            "create_conversation": {},
            "cwd": project.path().display().to_string(),
            "mode": "standard",
        }))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let runtime = started["runtime"].clone();
    let script = r#"[[call:Read {"file_path": "a.txt"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "claude-read").await;
    // The step after the tool handed the signed thinking back, or the
    // model would have refused it.
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let reasoning = frontend.deltas("reasoning_message");
    assert!(!reasoning.is_empty(), "{:?}", frontend.types());
    assert_eq!(reasoning[0]["reasoning"], "Thinking it over.");
    let text: String = frontend
        .deltas("assistant_message")
        .iter()
        .filter_map(|delta| delta["content"].as_str())
        .collect();
    assert!(text.contains("alpha beta"), "{text}");
    let requests = local(&backend).model.requests();
    assert_eq!(requests[0]["thinking"]["budget_tokens"], 2048);
    assert!(
        requests[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|tool| tool["name"] == "memory_insert" && tool["input_schema"].is_object())
    );
}

#[tokio::test]
async fn a_run_stops_at_the_step_bound() {
    let backend = Backend::local().await;
    let daemon = Daemon::start_with(backend.options().env("LETTA_DAEMON_MAX_STEPS", "2"));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &frontend,
        "e2e-max-steps",
        std::path::Path::new("/tmp"),
        "standard",
    )
    .await;
    let call = r#"[[call:conversation_search {"query": "x"}]]"#;
    let finished = turn(&mut frontend, &runtime, &call.repeat(3), "max-steps").await;
    assert_eq!(finished["stop_reason"], "max_steps", "{finished}");
    assert_eq!(frontend.deltas("tool_return_message").len(), 2);
    // The conversation goes on.
    let finished = turn(&mut frontend, &runtime, "and now?", "after-max-steps").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

/// Bad requests about local agents get typed errors and change nothing;
/// with no Letta server configured, an unknown agent is the daemon's to
/// report, not a server's that nobody set up.
#[tokio::test]
async fn bad_requests_about_local_agents_get_typed_errors() {
    let backend = Backend::local().await;
    let (_daemon, frontend, runtime) = started(&backend, "e2e-bad-local").await;
    let create = |body: Value| json!({ "type": "agent_create", "body": body, "backend": "local" });
    let cases = [
        (
            create(json!({ "model": "nowhere/model" })),
            -32010,
            "no provider \"nowhere\"",
        ),
        (
            create(json!({ "model": "no-slash" })),
            -32602,
            "not a provider/model handle",
        ),
        (
            create(json!({ "memory_blocks": [{ "label": "a b", "value": "" }] })),
            -32602,
            "memory block label",
        ),
        (
            create(json!({ "memory_blocks": [{ "label": "x" }, { "label": "x" }] })),
            -32602,
            "two memory blocks",
        ),
        (
            create(json!({ "memory_blocks": [{ "label": "x", "value": "toolong", "limit": 3 }] })),
            -32602,
            "longer than its limit",
        ),
        (
            create(json!({ "name": 7 })),
            -32602,
            "name must be a string",
        ),
        (
            json!({ "type": "conversation_messages_list", "conversation_id": "default", "query": { "agent_id": "agent-missing" } }),
            -32008,
            "no local conversation",
        ),
        (
            json!({ "type": "agent_update", "agent_id": runtime["agent_id"], "body": { "model": "nowhere/x" } }),
            -32010,
            "no provider",
        ),
    ];
    for (frame, code, says) in cases {
        let answer = frontend.request(frame.clone()).await;
        assert_eq!(answer["success"], false, "{frame} -> {answer}");
        assert_eq!(answer["error_code"], code, "{frame} -> {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{frame} -> {answer}"
        );
    }
    // Nothing was created or changed.
    let listed = frontend
        .request(json!({ "type": "agent_list", "query": { "limit": 100 } }))
        .await;
    assert_eq!(listed["agents"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed["agents"][0]["model"],
        letta_server::MODEL,
        "{listed}"
    );
}
