//! Agent turns against a real Letta server with a scripted model.

use serde_json::{Value, json};

use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, TURN_TIMEOUT, start_new_runtime, user_input};
use crate::support::{Daemon, Options, letta_server};

fn ext_tool() -> Value {
    json!([{
        "name": "Ext",
        "description": "Answers with a number.",
        "parameters": { "type": "object", "properties": { "x": { "type": "integer" } }, "required": ["x"] },
    }])
}

on_both_backends!(
    a_turn_with_an_external_tool,
    a_repeated_client_message_id_starts_nothing,
    inputs_queue_behind_a_running_turn,
    abort_cancels_the_turn_and_parks_the_queue,
    a_queued_input_is_removed_before_it_starts,
    an_external_tool_that_is_not_answered_in_time_fails,
    work_goes_on_without_frontends_and_replays_exactly_once,
    two_frontends_see_the_same_events,
    a_killed_daemon_finishes_the_turn_after_restart,
    an_agents_default_conversation
);

/// Starts a runtime with a new agent and conversation; returns its scope.
async fn new_runtime(frontend: &Frontend, name: &str) -> Value {
    let reply = frontend.request(start_new_runtime(name, ext_tool())).await;
    assert_eq!(reply["type"], "runtime_start_response", "{reply}");
    assert_eq!(reply["success"], true, "{reply}");
    assert_eq!(
        reply["created"],
        json!({"agent": true, "conversation": true})
    );
    reply["runtime"].clone()
}

fn assert_consecutive(seqs: &[u64]) {
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "event_seq must grow by one: {seqs:?}");
    }
}

/// The loop statuses announced, in order.
fn loop_statuses(frontend: &Frontend) -> Vec<String> {
    frontend
        .seen
        .iter()
        .filter(|frame| frame["type"] == "update_loop_status")
        .filter_map(|frame| frame["loop_status"]["status"].as_str())
        .map(str::to_owned)
        .collect()
}

/// The assistant's text as streamed.
fn streamed_text(frontend: &Frontend) -> String {
    frontend
        .deltas("assistant_message")
        .iter()
        .filter_map(|delta| delta["content"].as_str())
        .collect()
}

async fn a_turn_with_an_external_tool(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-external-tool").await;

    let mut input = user_input(&runtime, r#"[[call:Ext {"x": 7}]]"#, &cm("external-1"));
    input["request_id"] = json!("input-1");
    let accepted = frontend.request(input).await;
    assert_eq!(accepted["type"], "input_accepted");
    assert_eq!(accepted["accepted"], true);
    assert_eq!(accepted["disposition"], "started");

    let call = frontend.wait_for_type("external_tool_call_request").await;
    assert_eq!(call["tool_name"], "Ext");
    assert_eq!(call["input"], json!({"x": 7}));
    assert_eq!(call["runtime"], runtime);
    frontend
        .send(json!({
            "type": "external_tool_call_response",
            "request_id": call["request_id"],
            "result": { "content": [{ "type": "text", "text": "forty-two" }] },
        }))
        .await;

    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(finished["run_id"].as_str().unwrap().starts_with("run-"));

    assert!(
        !frontend.deltas("approval_request_message").is_empty(),
        "{:?}",
        frontend.types()
    );
    assert_eq!(frontend.deltas("client_tool_start").len(), 1);
    assert_eq!(frontend.deltas("client_tool_end")[0]["status"], "success");
    let text = streamed_text(&frontend);
    assert!(
        text.contains("forty-two"),
        "the agent saw the tool's answer: {text}"
    );
    let seqs = frontend.event_seqs();
    assert_consecutive(&seqs);
    // Each of the two sends (the message, then the tool's result) is
    // announced once, before its answer is awaited.
    let statuses = loop_statuses(&frontend);
    let sends: Vec<usize> = statuses
        .iter()
        .enumerate()
        .filter(|(_, status)| *status == "SENDING_API_REQUEST")
        .map(|(at, _)| at)
        .collect();
    assert_eq!(sends.len(), 2, "{statuses:?}");
    for at in sends {
        assert_eq!(
            statuses.get(at + 1).map(String::as_str),
            Some("WAITING_FOR_API_RESPONSE"),
            "{statuses:?}"
        );
    }

    // What was streamed is what the server stored.
    let messages = frontend.stored_messages(&runtime).await;
    let stored_text: Vec<&str> = messages
        .iter()
        .filter(|message| message["message_type"] == "assistant_message")
        .filter_map(|message| message["content"].as_str())
        .collect();
    assert_eq!(stored_text, vec![text.as_str()]);
    let user_messages = messages
        .iter()
        .filter(|message| message["otid"] == cm("external-1").as_str())
        .count();
    assert_eq!(user_messages, 1);
    let tool_return = messages
        .iter()
        .find(|message| message["message_type"] == "tool_return_message")
        .unwrap();
    assert!(tool_return.to_string().contains("forty-two"));
}

async fn a_repeated_client_message_id_starts_nothing(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-idempotent").await;
    let mut first = user_input(&runtime, "[[notool]] hello once", &cm("once"));
    first["request_id"] = json!("first");
    let mut again = first.clone();
    again["request_id"] = json!("again");
    assert_eq!(frontend.request(first).await["disposition"], "started");
    let repeated = frontend.request(again).await;
    assert_eq!(repeated["accepted"], true);
    assert_eq!(
        repeated["disposition"], "started",
        "the first disposition is returned"
    );
    frontend.wait_for_type("turn_finished").await;

    // A later input proves no second turn was queued behind the first.
    let mut next = user_input(&runtime, "[[notool]] next", &cm("next"));
    next["request_id"] = json!("next");
    assert_eq!(frontend.request(next).await["disposition"], "started");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(
        frontend
            .seen
            .iter()
            .filter(|frame| frame["type"] == "turn_finished")
            .count(),
        2
    );
    assert_eq!(finished["stop_reason"], "end_turn");

    let sent_once = frontend
        .stored_messages(&runtime)
        .await
        .iter()
        .filter(|message| message["otid"] == cm("once").as_str())
        .count();
    assert_eq!(sent_once, 1, "the agent saw the message once");
}

async fn inputs_queue_behind_a_running_turn(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-queue").await;
    let mut slow = user_input(
        &runtime,
        "[[notool]] [[delay=0.05]] [[repeat=4]] first",
        &cm("first"),
    );
    slow["request_id"] = json!("slow");
    let mut second = user_input(&runtime, "[[notool]] second", &cm("second"));
    second["request_id"] = json!("second");
    assert_eq!(frontend.request(slow).await["disposition"], "started");
    let queued = frontend.request(second).await;
    assert_eq!(queued["disposition"], "queued", "{queued}");

    let first_done = frontend.wait_for_type("turn_finished").await;
    let second_done = frontend.wait_for_type("turn_finished").await;
    assert_ne!(first_done["turn_id"], second_done["turn_id"]);
    assert_eq!(first_done["stop_reason"], "end_turn", "{first_done}");
    assert_eq!(second_done["stop_reason"], "end_turn", "{second_done}");
    let queued: Vec<&Value> = frontend
        .seen
        .iter()
        .filter(|frame| frame["type"] == "update_queue")
        .filter(|frame| {
            frame["queue"]
                .as_array()
                .is_some_and(|queue| !queue.is_empty())
        })
        .collect();
    assert!(
        queued
            .iter()
            .any(|frame| frame["queue"][0]["client_message_id"] == cm("second").as_str()),
        "{:?}",
        frontend.types()
    );
    let dequeued = frontend.seen.iter().any(|frame| {
        frame["type"] == "update_queue"
            && frame["removed"][0]["client_message_id"] == cm("second").as_str()
    });
    assert!(dequeued);
    assert_consecutive(&frontend.event_seqs());
}

async fn abort_cancels_the_turn_and_parks_the_queue(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-abort").await;
    let slow = user_input(
        &runtime,
        "[[notool]] [[delay=0.2]] [[repeat=20]] long story",
        &cm("long"),
    );
    frontend.send(slow).await;
    frontend
        .send(user_input(&runtime, "[[notool]] after", &cm("after")))
        .await;
    frontend
        .wait_for("the first streamed text", |frame| {
            frame["delta"]["message_type"] == "assistant_message"
        })
        .await;

    let aborted = frontend
        .request(json!({"type": "abort_message", "runtime": runtime}))
        .await;
    assert_eq!(aborted["type"], "abort_message_response", "{aborted}");
    assert_eq!(aborted["aborted"], true, "{aborted}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "cancelled");

    // The queued input waits, parked, until resume_queue.
    let parked = frontend
        .seen_or_wait_for("a parked queue", |frame| {
            frame["type"] == "update_queue" && frame["queue"][0]["paused"] == true
        })
        .await;
    assert_eq!(
        parked["queue"][0]["client_message_id"],
        cm("after").as_str()
    );
    let resumed = frontend
        .request(json!({"type": "resume_queue", "runtime": runtime, "request_id": "resume-1"}))
        .await;
    assert_eq!(resumed["type"], "resume_queue_response");
    assert_eq!(resumed["resumed"], 1);
    let after = frontend.wait_for_type("turn_finished").await;
    assert_eq!(after["stop_reason"], "end_turn");
}

/// An external tool registered with `timeout_ms`: the turn goes on without
/// the answer once the time is up, the agent told why; a late answer is
/// refused.
async fn an_external_tool_that_is_not_answered_in_time_fails(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let mut tools = ext_tool();
    tools[0]["timeout_ms"] = json!(300);
    tools[0]["auto_background"] = json!(false);
    let reply = frontend
        .request(start_new_runtime("e2e-external-timeout", tools))
        .await;
    assert_eq!(reply["success"], true, "{reply}");
    let runtime = reply["runtime"].clone();
    let input = user_input(&runtime, r#"[[call:Ext {"x": 1}]]"#, &cm("external-late"));
    frontend.send(input).await;
    let call = frontend.wait_for_type("external_tool_call_request").await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert_eq!(frontend.deltas("client_tool_end")[0]["status"], "error");
    let text = streamed_text(&frontend);
    assert!(
        text.contains("did not answer within 300 ms"),
        "the agent was told: {text}"
    );

    frontend
        .send(json!({
            "type": "external_tool_call_response",
            "request_id": call["request_id"],
            "result": { "content": [{ "type": "text", "text": "too late" }] },
        }))
        .await;
    let late = frontend.wait_for_type("error").await;
    assert_eq!(late["command"], "external_tool_call_response", "{late}");
    assert_eq!(late["error_code"], -32006, "{late}");
}

/// `remove_queue_item` takes a waiting input out: its turn finishes
/// `cancelled` without running, the rest of the queue goes on.
async fn a_queued_input_is_removed_before_it_starts(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-remove-queued").await;
    let slow = user_input(
        &runtime,
        "[[notool]] [[delay=0.1]] [[repeat=4]] first",
        &cm("remove-first"),
    );
    assert_eq!(frontend.request(slow).await["disposition"], "started");
    let mut turns = Vec::new();
    for name in ["remove-second", "remove-third"] {
        let input = user_input(&runtime, &format!("[[notool]] {name}"), &cm(name));
        let queued = frontend.request(input).await;
        assert_eq!(queued["disposition"], "queued", "{queued}");
        turns.push(queued["turn_id"].as_str().unwrap().to_owned());
    }

    let remove = |item: &str| json!({ "type": "remove_queue_item", "request_id": "rm", "runtime": runtime, "item_id": item });
    let removed = frontend.request(remove(&cm("remove-second"))).await;
    assert_eq!(removed["type"], "remove_queue_item_response", "{removed}");
    assert_eq!(removed["success"], true, "{removed}");
    assert_eq!(removed["item_id"], cm("remove-second").as_str());
    let again = frontend.request(remove(&cm("remove-second"))).await;
    assert_eq!(again["success"], false, "{again}");

    let mut ended = Vec::new();
    while ended.len() < 3 {
        let finished = frontend.wait_for_type("turn_finished").await;
        ended.push((
            finished["turn_id"].as_str().unwrap().to_owned(),
            finished["stop_reason"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        ended[0],
        (turns[0].clone(), "cancelled".to_owned()),
        "{ended:?}"
    );
    assert_eq!(
        ended[2],
        (turns[1].clone(), "end_turn".to_owned()),
        "{ended:?}"
    );
    let cancelled = frontend.seen.iter().any(|frame| {
        frame["type"] == "update_queue"
            && frame["removed"][0]["client_message_id"] == cm("remove-second").as_str()
            && frame["removed"][0]["disposition"] == "cancelled"
    });
    assert!(cancelled, "{:?}", frontend.types());
    let stored = frontend.stored_messages(&runtime).await;
    let sent = |name: &str| {
        stored
            .iter()
            .any(|message| message["otid"] == cm(name).as_str())
    };
    assert!(sent("remove-first") && sent("remove-third"));
    assert!(
        !sent("remove-second"),
        "the removed input never reached the agent"
    );
    assert_consecutive(&frontend.event_seqs());
}

async fn work_goes_on_without_frontends_and_replays_exactly_once(backend: Backend) {
    let daemon = backend.daemon();
    let mut first = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&first, "e2e-replay").await;
    let text = "[[notool]] [[delay=0.05]] [[repeat=6]] keep going";
    first.send(user_input(&runtime, text, &cm("replay"))).await;
    let seen = first
        .wait_for("some streamed text", |frame| {
            frame["delta"]["message_type"] == "assistant_message"
        })
        .await;
    let last_seen = seen["event_seq"].as_u64().unwrap();
    // The terminal closes mid-turn.
    drop(first);

    // The turn finishes with nobody watching: daemon_status, which
    // subscribes to nothing, shows the runtime idle again and its last
    // event_seq. A second frontend then asks for everything after what the
    // first one saw.
    let observer = Frontend::connect(&daemon).await;
    let idle_at = tokio::time::timeout(TURN_TIMEOUT, async {
        loop {
            let status = observer.request(json!({"type": "daemon_status"})).await;
            let summary = status["runtimes"]
                .as_array()
                .and_then(|runtimes| {
                    runtimes.iter().find(|summary| {
                        summary["runtime"]["conversation_id"] == runtime["conversation_id"]
                    })
                })
                .cloned()
                .unwrap_or_default();
            if summary["is_processing"] == false {
                return summary["last_event_seq"].as_u64().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the turn did not finish");
    let mut second = Frontend::connect(&daemon).await;
    let synced = second
        .request(json!({"type": "sync", "runtime": runtime, "after_event_seq": last_seen, "request_id": "sync-1"}))
        .await;
    assert_eq!(synced["type"], "sync_response");
    assert_eq!(synced["success"], true);
    // Everything arrived before sync_response; drain what was queued.
    let finished = second.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn");
    assert!(
        finished["event_seq"].as_u64().unwrap() <= idle_at,
        "the turn finished while no frontend was connected: {finished} after {idle_at}"
    );
    let seqs = second.event_seqs();
    assert_eq!(
        seqs[0],
        last_seen + 1,
        "replay starts right after the cursor: {seqs:?}"
    );
    assert_consecutive(&seqs);
    let text: String = second
        .deltas("assistant_message")
        .iter()
        .filter_map(|delta| delta["content"].as_str())
        .collect();
    assert!(!text.is_empty());
}

async fn two_frontends_see_the_same_events(backend: Backend) {
    let daemon = backend.daemon();
    let mut one = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&one, "e2e-two").await;
    let mut two = Frontend::connect(&daemon).await;
    let joined = two
        .request(json!({
            "type": "runtime_start",
            "agent_id": runtime["agent_id"],
            "conversation_id": runtime["conversation_id"],
        }))
        .await;
    assert_eq!(joined["success"], true, "{joined}");
    assert_eq!(
        joined["created"],
        json!({"agent": false, "conversation": false})
    );
    one.send(user_input(&runtime, "[[notool]] for both", &cm("both")))
        .await;
    let a = one.wait_for_type("turn_finished").await;
    let b = two.wait_for_type("turn_finished").await;
    assert_eq!(a, b, "the same event, byte for byte");
    let deltas = |frontend: &Frontend| -> Vec<u64> {
        frontend
            .seen
            .iter()
            .filter(|frame| frame["type"] == "stream_delta")
            .filter_map(|frame| frame["event_seq"].as_u64())
            .collect()
    };
    assert_eq!(deltas(&one), deltas(&two));
}

async fn a_killed_daemon_finishes_the_turn_after_restart(backend: Backend) {
    let mut crashed = backend.daemon();
    let mut before = Frontend::connect(&crashed).await;
    let runtime = new_runtime(&before, "e2e-crash").await;
    let text = "[[notool]] [[delay=0.1]] [[repeat=8]] survive the crash";
    before.send(user_input(&runtime, text, &cm("crash"))).await;
    for _ in 0..3 {
        before
            .wait_for("streamed text", |frame| {
                frame["delta"]["message_type"] == "assistant_message"
            })
            .await;
    }
    let last_seen = before.event_seqs().into_iter().max().unwrap();
    crashed.kill();

    let restarted = Daemon::start_with(Options {
        data_dir: Some(crashed.data_dir.clone()),
        ..backend.options()
    });
    let mut after = Frontend::connect(&restarted).await;
    let synced = after
        .request(json!({"type": "sync", "runtime": runtime, "after_event_seq": last_seen, "request_id": "sync-after-crash"}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let finished = after.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let seqs = after.event_seqs();
    assert_eq!(seqs[0], last_seen + 1, "{seqs:?}");
    assert_consecutive(&seqs);

    // Nothing lost or repeated across the crash: the text seen before plus
    // the text replayed after is exactly what the server stored. A step
    // the local backend runs again is announced by a retry delta, which
    // voids what that step streamed before it.
    let mut streamed = String::new();
    for frame in before.seen.iter().chain(after.seen.iter()) {
        if frame["type"] != "stream_delta" {
            continue;
        }
        match frame["delta"]["message_type"].as_str() {
            Some("assistant_message") => {
                streamed.push_str(frame["delta"]["content"].as_str().unwrap_or_default())
            }
            Some("retry") => streamed.clear(),
            _ => {}
        }
    }
    if matches!(backend, Backend::Local(_)) {
        assert_eq!(after.deltas("retry").len(), 1, "{:?}", after.types());
    }
    let messages = after.stored_messages(&runtime).await;
    let stored: Vec<&str> = messages
        .iter()
        .filter(|message| message["message_type"] == "assistant_message")
        .filter_map(|message| message["content"].as_str())
        .collect();
    assert_eq!(stored, vec![streamed.as_str()]);
    let sent = messages
        .iter()
        .filter(|message| message["otid"] == cm("crash").as_str())
        .count();
    assert_eq!(sent, 1, "the user's message reached the agent once");
    assert!(
        restarted.stderr().contains("reattaching"),
        "{}",
        restarted.stderr()
    );
}

async fn an_agents_default_conversation(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let mut start = start_new_runtime("e2e-default", ext_tool());
    start.as_object_mut().unwrap().remove("create_conversation");
    let reply = frontend.request(start).await;
    assert_eq!(reply["success"], true, "{reply}");
    assert_eq!(
        reply["created"],
        json!({"agent": true, "conversation": false})
    );
    let runtime = reply["runtime"].clone();
    assert_eq!(runtime["conversation_id"], "default");
    frontend
        .send(user_input(
            &runtime,
            "[[notool]] hello default",
            &cm("default"),
        ))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(streamed_text(&frontend).contains("hello default"));
}

/// The mock drops streams itself (see `faults`); in front of the real
/// server a proxy cuts the first message stream mid-run.
#[tokio::test]
async fn real_server_stream_dropped_mid_run_is_resumed_without_loss_or_repeat() {
    let upstream = letta_server::base_url()
        .trim_start_matches("http://")
        .to_owned();
    let proxy = crate::support::cutting_proxy::CuttingProxy::start(upstream, 6).await;
    let daemon = Daemon::start_with(Options::default().env("LETTA_BASE_URL", proxy.url.clone()));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-dropped").await;
    frontend
        .send(user_input(
            &runtime,
            "[[notool]] [[delay=0.02]] [[repeat=3]] cut me off",
            &cm("cut"),
        ))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(
        proxy.cut.load(std::sync::atomic::Ordering::SeqCst),
        "the proxy cut the stream"
    );
    assert!(
        daemon.stderr().contains("resuming the run stream"),
        "{}",
        daemon.stderr()
    );

    let seq_ids: Vec<u64> = frontend
        .deltas("assistant_message")
        .iter()
        .filter_map(|delta| delta["seq_id"].as_u64())
        .collect();
    let mut unique = seq_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        seq_ids.len(),
        "no chunk repeated: {seq_ids:?}"
    );
    let messages = frontend.stored_messages(&runtime).await;
    let stored: Vec<&str> = messages
        .iter()
        .filter(|message| message["message_type"] == "assistant_message")
        .filter_map(|message| message["content"].as_str())
        .collect();
    assert_eq!(
        stored,
        vec![streamed_text(&frontend).as_str()],
        "no chunk lost"
    );
}

/// `input.terminal_consumer_id` comes back in the turn's `turn_finished`;
/// `turn_finished_ack` is accepted, and a malformed one refused by name.
#[tokio::test]
async fn a_terminal_consumer_is_named_in_turn_finished_and_may_ack_it() {
    let backend = Backend::mock().await;
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = new_runtime(&frontend, "e2e-consumer").await;
    let mut input = user_input(&runtime, "[[notool]] hello", &cm("consumer"));
    input["terminal_consumer_id"] = json!("desk-1");
    input["request_id"] = json!("consumer-input");
    assert_eq!(frontend.request(input).await["accepted"], true);
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(
        finished["terminal_consumer_ids"],
        json!(["desk-1"]),
        "{finished}"
    );

    let ack = |consumer: &str| {
        json!({ "type": "turn_finished_ack", "runtime": runtime,
                "idempotency_key": finished["idempotency_key"], "consumer_id": consumer })
    };
    frontend.send(ack("desk-1")).await;
    frontend.send(ack("")).await;
    // Commands on a connection take effect in order: had the first been
    // refused, its refusal would come first.
    let refused = frontend.wait_for_type("error").await;
    assert_eq!(refused["command"], "turn_finished_ack");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("consumer_id must have"),
        "{refused}"
    );

    let mut too_long = user_input(&runtime, "[[notool]] again", &cm("consumer-long"));
    too_long["terminal_consumer_id"] = json!("x".repeat(257));
    too_long["request_id"] = json!("consumer-long");
    let refused = frontend.request(too_long).await;
    assert_eq!(refused["success"], false, "{refused}");
}
