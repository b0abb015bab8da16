//! Turns against a scripted Letta server that drops, stalls and refuses.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::frontend::{Frontend, user_input};
use crate::support::mock_letta::{CHUNKS, Faults, MockLetta, SendFailure};
use crate::support::{Daemon, Options};

async fn start(faults: Faults) -> (MockLetta, Daemon, Frontend, Value) {
    start_with(faults, Options::default()).await
}

/// A daemon with these options on a mock with these faults, a frontend,
/// and a runtime; streams stalled for a second are resumed.
async fn start_with(faults: Faults, options: Options) -> (MockLetta, Daemon, Frontend, Value) {
    let mock = MockLetta::start(faults).await;
    let daemon = Daemon::start_with(
        options
            .env("LETTA_BASE_URL", mock.url.clone())
            .arg("--stream-stall-timeout")
            .arg("1"),
    );
    let frontend = Frontend::connect(&daemon).await;
    let runtime = mock_runtime(&frontend).await;
    (mock, daemon, frontend, runtime)
}

/// A new runtime of an agent of the mock's model.
async fn mock_runtime(frontend: &Frontend) -> Value {
    let reply = frontend
        .request(json!({
            "type": "runtime_start",
            "create_agent": { "body": { "name": "mock", "model": "mock/default-model" } },
            "create_conversation": {},
        }))
        .await;
    assert_eq!(reply["success"], true, "{reply}");
    reply["runtime"].clone()
}

/// Runs one turn and returns the text streamed to the frontend.
async fn one_turn(frontend: &mut Frontend, runtime: &Value, otid: &str) -> String {
    frontend.send(user_input(runtime, "hello", otid)).await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let deltas = frontend.deltas("assistant_message");
    let seq_ids: Vec<u64> = deltas
        .iter()
        .filter_map(|delta| delta["seq_id"].as_u64())
        .collect();
    let mut unique = seq_ids.clone();
    unique.dedup();
    assert_eq!(seq_ids, unique, "no chunk repeated");
    assert_eq!(deltas.len(), CHUNKS, "no chunk lost: {seq_ids:?}");
    deltas
        .iter()
        .filter_map(|delta| delta["content"].as_str())
        .collect()
}

#[tokio::test]
async fn a_dropped_stream_is_resumed_from_the_cursor() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        drop_after: Some(4),
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-drop").await;
    assert_eq!(vec![text], mock.full_texts());
    // Four chunks arrived (a ping and three words): resume after seq 4.
    assert_eq!(mock.seen().resumes, vec![4]);
}

#[tokio::test]
async fn a_stalled_stream_is_resumed() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        stall_after: Some(6),
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-stall").await;
    assert_eq!(vec![text], mock.full_texts());
    assert_eq!(mock.seen().resumes, vec![6]);
}

/// A chunk that comes ahead of the ones before it (Letta's batched writes
/// to Redis can race) is held until they come: the frontend sees the text
/// in order, and nothing is skipped as if it had been seen.
#[tokio::test]
async fn a_chunk_that_overtakes_others_is_put_back_in_order() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        overtake: Some((8, 4)),
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-overtaken").await;
    assert_eq!(vec![text], mock.full_texts());
    assert_ascending(&frontend);
}

/// A stream cut while an early chunk is held is resumed after the last
/// chunk handed on in order, not after the held one.
#[tokio::test]
async fn a_stream_cut_while_a_chunk_is_held_is_resumed_before_it() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        overtake: Some((8, 4)),
        // The first stream brings seq 1, 2, 3, 8, 4 and is cut.
        drop_after: Some(5),
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-overtaken-cut").await;
    assert_eq!(vec![text], mock.full_texts());
    assert_ascending(&frontend);
    assert_eq!(mock.seen().resumes, vec![4]);
}

fn assert_ascending(frontend: &Frontend) {
    let seq_ids: Vec<u64> = frontend
        .deltas("assistant_message")
        .iter()
        .filter_map(|delta| delta["seq_id"].as_u64())
        .collect();
    assert!(seq_ids.is_sorted(), "{seq_ids:?}");
}

#[tokio::test]
async fn a_lost_send_response_streams_the_run_it_started() {
    let faults = Faults {
        send_failures: VecDeque::from([SendFailure::LostResponse]),
        ..Faults::default()
    };
    let (mock, _daemon, mut frontend, runtime) = start(faults).await;
    let text = one_turn(&mut frontend, &runtime, "cm-lost").await;
    assert_eq!(vec![text], mock.full_texts());
    assert_eq!(
        mock.seen().sends.len(),
        1,
        "the message was not sent a second time"
    );
    assert_eq!(mock.stored_with_otid("cm-lost"), 1);
}

#[tokio::test]
async fn server_errors_busy_and_rate_limits_are_waited_out() {
    let failures = VecDeque::from([
        SendFailure::Status {
            status: 503,
            retry_after: None,
            detail: json!("overloaded"),
        },
        SendFailure::Status {
            status: 409,
            retry_after: None,
            detail: json!("conversation busy"),
        },
        SendFailure::Status {
            status: 429,
            retry_after: Some(1),
            detail: json!("slow down"),
        },
    ]);
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        send_failures: failures,
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-retry").await;
    assert_eq!(vec![text], mock.full_texts());
    let sends = mock.seen().sends;
    assert_eq!(sends.len(), 4);
    assert!(
        sends[3] - sends[2] >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(mock.stored_with_otid("cm-retry"), 1);
    let retrying = frontend.seen.iter().any(|frame| {
        frame["type"] == "update_loop_status"
            && frame["loop_status"]["status"] == "RETRYING_API_REQUEST"
    });
    assert!(retrying, "frontends see the retries");
}

#[tokio::test]
async fn a_pending_approval_conflict_fails_the_turn_with_the_reason() {
    let failures = VecDeque::from([SendFailure::Status {
        status: 409,
        retry_after: None,
        detail: json!({ "code": "PENDING_APPROVAL", "message": "an approval is pending" }),
    }]);
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        send_failures: failures,
        ..Faults::default()
    })
    .await;
    frontend
        .send(user_input(&runtime, "hello", "cm-pending"))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "error");
    assert!(
        finished["error"]
            .as_str()
            .unwrap()
            .contains("PENDING_APPROVAL"),
        "{finished}"
    );
    assert_eq!(
        mock.seen().sends.len(),
        1,
        "a conflict that waiting cannot fix is not retried"
    );
    // No run was made: the loop error names the message that never got in.
    let failed = loop_error(&mut frontend).await;
    assert_eq!(
        failed["client_message_ids"],
        json!(["cm-pending"]),
        "{failed}"
    );
    assert_eq!(failed["is_terminal"], true, "{failed}");
    assert!(failed["run_id"].is_null(), "{failed}");
}

/// The `loop_error` delta of a failed turn.
async fn loop_error(frontend: &mut Frontend) -> Value {
    let failed = frontend
        .seen_or_wait_for("the loop error", |frame| {
            frame["type"] == "stream_delta" && frame["delta"]["message_type"] == "loop_error"
        })
        .await;
    assert_eq!(failed["delta"]["stop_reason"], "error", "{failed}");
    failed["delta"].clone()
}

/// `event: error` is the server saying the run failed (here, the model):
/// the turn ends with that error at once instead of resuming the stream as
/// if the network had dropped it.
#[tokio::test]
async fn a_model_failure_in_the_stream_ends_the_turn_with_its_error() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        error_after: Some(3),
        ..Faults::default()
    })
    .await;
    frontend
        .send(user_input(&runtime, "hello", "cm-model-failure"))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "error", "{finished}");
    assert!(
        finished["error"]
            .as_str()
            .unwrap()
            .contains("the model provider failed: scripted"),
        "{finished}"
    );
    assert!(
        mock.seen().resumes.is_empty(),
        "not resumed as a network fault"
    );
    // The run was made: the loop error names it, not the message.
    let failed = loop_error(&mut frontend).await;
    assert!(failed["run_id"].is_string(), "{failed}");
    assert!(failed["client_message_ids"].is_null(), "{failed}");
}

/// A chunk that is not JSON ends the turn with a reason that says so
/// (resuming would only read it again).
#[tokio::test]
async fn a_chunk_that_is_not_json_ends_the_turn_with_the_reason() {
    let (_mock, _daemon, mut frontend, runtime) = start(Faults {
        insert: Some((
            3,
            "data: {\"message_type\": \"assistant_message\", oops\n\n".into(),
        )),
        ..Faults::default()
    })
    .await;
    frontend
        .send(user_input(&runtime, "hello", "cm-garbled"))
        .await;
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "error", "{finished}");
    let error = finished["error"].as_str().unwrap();
    assert!(error.contains("not a JSON object"), "{finished}");
}

/// Chunks of kinds the daemon does not know are passed on, and the turn
/// goes on.
#[tokio::test]
async fn chunks_of_unknown_kinds_do_not_stop_the_turn() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        insert: Some((
            3,
            "data: {\"message_type\": \"hologram_message\", \"content\": \"?\"}\n\n".into(),
        )),
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-unknown-kind").await;
    assert_eq!(vec![text], mock.full_texts());
}

/// A line cut in the middle as the connection drops is not taken for a
/// chunk: the stream is resumed after the last whole one.
#[tokio::test]
async fn a_line_cut_by_a_dropped_connection_is_resumed_past() {
    let (mock, _daemon, mut frontend, runtime) = start(Faults {
        drop_after: Some(4),
        insert: Some((4, "data: {\"message_type\": \"assistant_mess".into())),
        ..Faults::default()
    })
    .await;
    let text = one_turn(&mut frontend, &runtime, "cm-cut-line").await;
    assert_eq!(vec![text], mock.full_texts());
    assert_eq!(mock.seen().resumes, vec![4]);
}

/// The Letta server goes away in the middle of a run (its stream cut, its
/// port answering nothing) for longer than a few retries would wait, then
/// comes back: the run is followed from its cursor to the end and the
/// frontend receives all of it once.
#[tokio::test]
async fn a_server_gone_for_a_while_mid_run_is_waited_for() {
    let mock = MockLetta::start(Faults {
        chunk_delay: Duration::from_millis(200),
        ..Faults::default()
    })
    .await;
    let upstream = mock.url.trim_start_matches("http://").to_owned();
    let proxy = crate::support::outage_proxy::OutageProxy::start(upstream).await;
    let daemon = Daemon::start_with(Options::default().env("LETTA_BASE_URL", proxy.url.clone()));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = mock_runtime(&frontend).await;
    frontend
        .send(user_input(&runtime, "hello", "cm-outage"))
        .await;
    for _ in 0..3 {
        frontend
            .wait_for("streamed text", |frame| {
                frame["delta"]["message_type"] == "assistant_message"
            })
            .await;
    }
    proxy.set_down(true);
    tokio::time::sleep(OUTAGE).await;
    proxy.set_down(false);
    let text = {
        let finished = frontend.wait_for_type("turn_finished").await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
        frontend
            .deltas("assistant_message")
            .iter()
            .filter_map(|delta| delta["content"].as_str())
            .collect::<String>()
    };
    assert_eq!(vec![text], mock.full_texts());
    assert!(!mock.seen().resumes.is_empty());
}

/// Longer than a request's own retries (a few seconds) and than the
/// resumes the daemon used to allow a run (about half a minute at worst
/// counted in attempts, seconds when the server refused them outright).
const OUTAGE: Duration = Duration::from_secs(20);

/// A Letta server that takes a request and never answers is given up on
/// after the request timeout; the message (with its otid) is then sent
/// again and reaches the server once.
#[tokio::test]
async fn a_send_that_never_answers_times_out_and_is_sent_again() {
    let (mock, daemon, mut frontend, runtime) = start_with(
        Faults {
            send_failures: VecDeque::from([SendFailure::Hang]),
            ..Faults::default()
        },
        Options::default().arg("--letta-request-timeout").arg("1"),
    )
    .await;
    one_turn(&mut frontend, &runtime, "cm-hang").await;
    assert_eq!(mock.seen().sends.len(), 2);
    assert_eq!(mock.stored_with_otid("cm-hang"), 1);
    assert!(
        daemon.stderr().contains("did not answer within"),
        "the log says why it was sent again"
    );
}
