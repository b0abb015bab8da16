//! Events over JSON-RPC, replay after a cursor, retention, and frontends
//! that stop reading.

use serde_json::{Value, json};

use crate::support::mock_letta::{Faults, MockLetta};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::raw::{Lines, next_json, send_text};
use crate::support::{Daemon, Options};

async fn daemon_with_mock(extra: &[&str]) -> (MockLetta, Daemon) {
    let mock = MockLetta::start(Faults::default()).await;
    let mut options = Options::default().env("LETTA_BASE_URL", mock.url.clone());
    for arg in extra {
        options = options.arg(*arg);
    }
    (mock, Daemon::start_with(options))
}

/// Reads lines until the response with `id`, keeping event notifications.
async fn call(
    lines: &mut Lines,
    id: u64,
    method: &str,
    params: Value,
    events: &mut Vec<Value>,
) -> Value {
    lines
        .send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string())
        .await;
    loop {
        let message = lines.recv().await;
        if message["method"] == "event" {
            events.push(message["params"].clone());
        } else if message["id"] == id {
            return message;
        }
    }
}

/// Starts a runtime of a new mock agent named `name` on `lines`.
async fn start_runtime(lines: &mut Lines, name: &str, events: &mut Vec<Value>) -> Value {
    let started = call(
        lines,
        1,
        "runtime_start",
        json!({"create_agent": {"body": {"name": name, "model": "mock/default-model"}}, "create_conversation": {}}),
        events,
    )
    .await;
    let runtime = started["result"]["runtime"].clone();
    assert!(runtime["conversation_id"].is_string(), "{started}");
    runtime
}

async fn until_turn_finished(lines: &mut Lines, events: &mut Vec<Value>) {
    while !events.iter().any(|event| event["type"] == "turn_finished") {
        let message = lines.recv().await;
        assert_eq!(message["method"], "event", "{message}");
        events.push(message["params"].clone());
    }
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|event| event["event_seq"].as_u64())
        .collect()
}

#[tokio::test]
async fn json_rpc_clients_get_events_as_notifications_and_replay_after_a_cursor() {
    let (_mock, daemon) = daemon_with_mock(&[]).await;
    let mut lines = Lines::connect(&daemon.socket()).await;
    let mut events = Vec::new();
    let runtime = start_runtime(&mut lines, "rpc", &mut events).await;
    let input = json!({"runtime": runtime, "payload": {"kind": "create_message",
        "messages": [{"role": "user", "content": "hi", "client_message_id": "cm-rpc"}]}});
    let accepted = call(&mut lines, 2, "input", input, &mut events).await;
    assert_eq!(accepted["result"]["disposition"], "started");
    until_turn_finished(&mut lines, &mut events).await;
    let all = seqs(&events);
    assert_eq!(all[0], 1);
    for pair in all.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{all:?}");
    }

    // A second connection replays everything after event 5, then the state
    // snapshots, then answers: no gap, no duplicate.
    let mut other = Lines::connect(&daemon.socket()).await;
    let mut replayed = Vec::new();
    let synced = call(
        &mut other,
        1,
        "sync",
        json!({"runtime": runtime, "after_event_seq": 5}),
        &mut replayed,
    )
    .await;
    assert_eq!(synced["result"]["success"], true);
    let replayed_seqs = seqs(&replayed);
    let last = *all.last().unwrap();
    assert_eq!(
        replayed_seqs[..(last - 5) as usize],
        all[5..],
        "the replay is the log after the cursor"
    );
    let snapshots: Vec<&str> = replayed[(last - 5) as usize..]
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        snapshots,
        ["update_device_status", "update_loop_status", "update_queue"]
    );
    assert_eq!(replayed[(last - 5) as usize]["event_seq"], last + 1);
}

#[tokio::test]
async fn events_beyond_retention_cannot_be_replayed() {
    let (_mock, daemon) = daemon_with_mock(&["--event-retention", "10"]).await;
    let mut lines = Lines::connect(&daemon.socket()).await;
    let mut events = Vec::new();
    let runtime = start_runtime(&mut lines, "retention", &mut events).await;
    // Each sync adds three snapshot events.
    for id in 2..400 {
        call(
            &mut lines,
            id,
            "sync",
            json!({"runtime": runtime}),
            &mut events,
        )
        .await;
    }
    // Retention is applied by the daemon's maintenance task, once a second:
    // ask until the oldest events are gone.
    let mut id = 500;
    let refused = crate::support::within(async {
        loop {
            id += 1;
            let answer = call(
                &mut lines,
                id,
                "sync",
                json!({"runtime": runtime, "after_event_seq": 1}),
                &mut events,
            )
            .await;
            if answer.get("error").is_some() {
                return answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(refused["error"]["code"], -32011, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer kept")
    );
    // Where the log starts now, for a frontend that wants all that is left.
    let first_kept = refused["error"]["data"]["first_kept_event_seq"]
        .as_u64()
        .unwrap();
    assert!(first_kept > 2, "{refused}");
    let from_first = call(
        &mut lines,
        502,
        "sync",
        json!({"runtime": runtime, "after_event_seq": first_kept - 1}),
        &mut events,
    )
    .await;
    assert_eq!(from_first["result"]["success"], true, "{from_first}");
    let latest = seqs(&events).into_iter().max().unwrap();
    let fine = call(
        &mut lines,
        501,
        "sync",
        json!({"runtime": runtime, "after_event_seq": latest - 5}),
        &mut events,
    )
    .await;
    assert_eq!(fine["result"]["success"], true);
}

/// Asserts the event_seqs run from 1 with no gap and no duplicate.
fn assert_consecutive_from_one(seqs: &[u64]) {
    for (index, seq) in seqs.iter().enumerate() {
        assert_eq!(*seq, index as u64 + 1, "{seqs:?}");
    }
}

/// Makes events on `runtime` (three per sync) from a frontend of its own
/// that reads them all, unhindered, until the daemon says it cut another
/// one; returns the events that frontend received.
async fn sync_until_a_cut(daemon: &Daemon, runtime: &Value) -> Vec<Value> {
    let mut busy = Lines::connect(&daemon.socket()).await;
    let mut events = Vec::new();
    let mut id = 1;
    // How long the socket buffers take to fill depends on the machine and
    // its load (loopback TCP buffers grow to megabytes): a wide bound.
    let filled = tokio::time::timeout(std::time::Duration::from_secs(90), async {
        while !daemon
            .stderr()
            .contains("cutting a connection that does not read")
        {
            id += 1;
            let answer = call(
                &mut busy,
                id,
                "sync",
                json!({"runtime": runtime}),
                &mut events,
            )
            .await;
            assert_eq!(answer["result"]["success"], true, "{answer}");
        }
    })
    .await;
    assert!(
        filled.is_ok(),
        "the daemon never cut the frontend that stopped reading"
    );
    events
}

#[tokio::test]
async fn a_frontend_that_stops_reading_is_cut_with_the_reason_and_resumes_from_its_cursor() {
    let (_mock, daemon) = daemon_with_mock(&["--slow-client-timeout", "2"]).await;
    let mut slow = Lines::connect(&daemon.socket()).await;
    let mut slow_events = Vec::new();
    let runtime = start_runtime(&mut slow, "slow", &mut slow_events).await;

    // From here the slow frontend reads nothing.
    let events = sync_until_a_cut(&daemon, &runtime).await;

    // The slow frontend gets what was written to it before the cut, in
    // order, then the reason, then the end of the connection.
    let mut farewell = None;
    while let Some(message) = slow.recv_or_end().await {
        if message["method"] == "event" {
            assert!(farewell.is_none(), "an event after the reason: {message}");
            slow_events.push(message["params"].clone());
        } else {
            farewell = Some(message);
        }
    }
    let farewell = farewell.expect("the reason for the cut");
    assert_eq!(farewell["error"]["code"], -32002, "{farewell}");
    let reason = farewell["error"]["message"].as_str().unwrap();
    assert!(
        reason.contains("unread for 2 s") && reason.contains("after_event_seq"),
        "{reason}"
    );
    let received = seqs(&slow_events);
    assert_consecutive_from_one(&received);

    // It resumes from its cursor and misses nothing; the busy frontend saw
    // every event, too.
    let last = *received.last().unwrap();
    let mut again = Lines::connect(&daemon.socket()).await;
    let mut replayed = Vec::new();
    let synced = call(
        &mut again,
        1,
        "sync",
        json!({"runtime": runtime, "after_event_seq": last}),
        &mut replayed,
    )
    .await;
    assert_eq!(synced["result"]["success"], true, "{synced}");
    let resumed: Vec<u64> = received.into_iter().chain(seqs(&replayed)).collect();
    assert_consecutive_from_one(&resumed);
    let busy_seqs = seqs(&events);
    let busy_last = *busy_seqs.last().unwrap();
    assert!(
        resumed.len() as u64 > busy_last,
        "the resumed frontend has every event the busy one saw"
    );
    let first_seen_by_busy = busy_seqs[0];
    assert_consecutive_from_one(
        &(1..first_seen_by_busy)
            .chain(busy_seqs.iter().copied())
            .collect::<Vec<_>>(),
    );
}

#[tokio::test]
async fn a_websocket_frontend_that_stops_reading_gets_the_reason_and_a_close_frame() {
    let (_mock, daemon) = daemon_with_mock(&["--slow-client-timeout", "2"]).await;
    // A small receive buffer, so what it leaves unread backs up into the
    // daemon rather than into this machine's socket buffers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = daemon.ws_url("").trim_start_matches("ws://").to_owned();
    let stream = crate::support::within(socket.connect(address.parse().unwrap()))
        .await
        .unwrap();
    let (mut slow, _) = crate::support::within(tokio_tungstenite::client_async(
        daemon.ws_url("/ws"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    ))
    .await
    .unwrap();
    let start = json!({"type": "runtime_start", "request_id": "start",
        "create_agent": {"body": {"name": "slow-ws", "model": "mock/default-model"}},
        "create_conversation": {}});
    send_text(&mut slow, start.to_string()).await;
    let mut seqs = Vec::new();
    let runtime = loop {
        let frame = next_json(&mut slow).await;
        if frame["type"] == "runtime_start_response" {
            break frame["runtime"].clone();
        }
        seqs.extend(frame["event_seq"].as_u64());
    };

    sync_until_a_cut(&daemon, &runtime).await;

    // What was written before the cut, in order, then the reason as an
    // error frame, then a close frame saying to come back.
    let mut reason = None;
    let close = loop {
        match crate::support::within(slow.next()).await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if let Some(seq) = frame["event_seq"].as_u64() {
                    assert!(reason.is_none(), "an event after the reason: {frame}");
                    seqs.push(seq);
                } else if frame["type"] == "error" {
                    reason = frame["error"].as_str().map(str::to_owned);
                }
            }
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected frames and a close frame, got {other:?}"),
        }
    };
    let reason = reason.expect("the reason for the cut");
    assert!(reason.contains("after_event_seq"), "{reason}");
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1013, "{close:?}");
    assert_consecutive_from_one(&seqs);
}
