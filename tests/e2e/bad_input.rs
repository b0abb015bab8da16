//! Every malformed input gets a typed error, and the connection goes on.

use std::time::Duration;

use serde_json::json;

use crate::support::raw::{self, Lines};
use crate::support::{Daemon, Options};

const INFO: &str = r#"{"jsonrpc":"2.0","id":"ok","method":"app_server_info"}"#;

fn small_limit() -> Options {
    Options::default().arg("--max-message-bytes").arg("4096")
}

async fn still_usable(lines: &mut Lines) {
    let reply = lines.request(INFO).await;
    assert_eq!(reply["id"], "ok");
    assert_eq!(reply["result"]["success"], true);
}

#[tokio::test]
async fn local_socket_malformed_messages() {
    let daemon = Daemon::start_with(small_limit());
    let mut lines = Lines::connect(&daemon.socket()).await;

    let reply = lines.request("{not json").await;
    assert_eq!(reply["error"]["code"], -32700);
    assert_eq!(reply["id"], serde_json::Value::Null);
    still_usable(&mut lines).await;

    lines.send_bytes(b"\xff\xfe{}").await;
    assert_eq!(lines.recv().await["error"]["code"], -32700);
    still_usable(&mut lines).await;

    let reply = lines
        .request(r#"{"id":7,"method":"app_server_info"}"#)
        .await;
    assert_eq!(reply["error"]["code"], -32600);
    assert_eq!(reply["id"], 7);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("jsonrpc")
    );

    let reply = lines
        .request(r#"{"jsonrpc":"2.0","id":8,"method":5}"#)
        .await;
    assert_eq!(reply["error"]["code"], -32600);
    let reply = lines
        .request(r#"{"jsonrpc":"2.0","id":9,"method":"initialize","params":"x"}"#)
        .await;
    assert_eq!(reply["error"]["code"], -32600);
    let reply = lines
        .request(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"initialize"}"#)
        .await;
    assert_eq!(reply["error"]["code"], -32600);
    let reply = lines.request("[1,2]").await;
    assert_eq!(reply[0]["error"]["code"], -32600);
    assert_eq!(reply[1]["error"]["code"], -32600);
    let reply = lines.request("42").await;
    assert_eq!(reply["error"]["code"], -32600);

    let reply = lines
        .request(r#"{"jsonrpc":"2.0","id":10,"method":"initialize","params":{"protocol_versions":"two"}}"#)
        .await;
    assert_eq!(reply["error"]["code"], -32602);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("initialize")
    );
    still_usable(&mut lines).await;
}

#[tokio::test]
async fn unknown_and_unimplemented_methods_are_named() {
    let daemon = Daemon::start();
    let mut lines = Lines::connect(&daemon.socket()).await;
    let reply = lines
        .request(r#"{"jsonrpc":"2.0","id":1,"method":"no_such_method"}"#)
        .await;
    assert_eq!(reply["error"]["code"], -32601);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_method")
    );
    assert_eq!(
        reply["error"]["data"],
        json!({"method": "no_such_method", "declared": false})
    );
}

#[tokio::test]
async fn batches_and_notifications() {
    let daemon = Daemon::start();
    let mut lines = Lines::connect(&daemon.socket()).await;
    let reply = lines
        .request(
            r#"[{"jsonrpc":"2.0","id":1,"method":"app_server_info"},
                {"jsonrpc":"2.0","method":"app_server_info"},
                {"jsonrpc":"2.0","id":2,"method":"nope"},
                [] ]"#
                .replace('\n', " ")
                .as_str(),
        )
        .await;
    let replies = reply.as_array().unwrap();
    assert_eq!(replies.len(), 3, "the notification gets no reply: {reply}");
    assert_eq!(replies[0]["id"], 1);
    assert_eq!(replies[1]["error"]["code"], -32601);
    assert_eq!(replies[2]["error"]["code"], -32600);

    assert_eq!(lines.request("[]").await["error"]["code"], -32600);

    // A lone notification is served but not answered.
    lines
        .send(r#"{"jsonrpc":"2.0","method":"app_server_info"}"#)
        .await;
    lines.expect_silence(Duration::from_millis(300)).await;
    still_usable(&mut lines).await;
}

#[tokio::test]
async fn local_socket_oversized_line_keeps_the_connection() {
    let daemon = Daemon::start_with(small_limit());
    let mut lines = Lines::connect(&daemon.socket()).await;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"pad":"{}"}}}}"#,
        "x".repeat(20_000)
    );
    let reply = lines.request(&huge).await;
    assert_eq!(reply["error"]["code"], -32001);
    assert_eq!(reply["error"]["data"]["limit"], 4096);
    still_usable(&mut lines).await;
    // Just under the limit is fine.
    let fits = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"initialize","params":{{"pad":"{}"}}}}"#,
        "x".repeat(3900)
    );
    assert_eq!(lines.request(&fits).await["result"]["protocol_version"], 2);
}

#[tokio::test]
async fn websocket_rpc_malformed_messages() {
    let daemon = Daemon::start_with(small_limit());
    let mut socket = raw::websocket(&daemon.ws_url("/rpc"), &[]).await.unwrap();
    assert_eq!(
        raw::exchange(&mut socket, "{oops").await["error"]["code"],
        -32700
    );
    assert_eq!(
        raw::exchange(&mut socket, r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#).await["error"]["code"],
        -32601
    );

    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1u8, 2, 3].into(),
        ))
        .await
        .unwrap();
    let reply = raw::next_json(&mut socket).await;
    assert_eq!(reply["error"]["code"], -32700);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("binary")
    );

    // Over the limit but within twice it: answered, connection kept.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"initialize","params":{{"pad":"{}"}}}}"#,
        "x".repeat(5000)
    );
    assert_eq!(
        raw::exchange(&mut socket, big).await["error"]["code"],
        -32001
    );
    assert_eq!(raw::exchange(&mut socket, INFO).await["id"], "ok");

    // Far over it: closed with 1009 and the reason.
    raw::send_text(&mut socket, "x".repeat(50_000)).await;
    let (code, reason) = raw::expect_close(&mut socket).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("4096"), "{reason}");
}

#[tokio::test]
async fn letta_code_frames_malformed_messages() {
    let daemon = Daemon::start_with(small_limit());
    let mut socket = raw::websocket(&daemon.ws_url("/ws"), &[]).await.unwrap();

    let reply = raw::exchange(&mut socket, "not json").await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["error_code"], -32700);

    let reply = raw::exchange(&mut socket, "[1]").await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["error_code"], -32600);

    let reply = raw::exchange(&mut socket, r#"{"request_id":"r-1","payload":{}}"#).await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["request_id"], "r-1");
    assert!(reply["error"].as_str().unwrap().contains("type"));

    // The reference never answers unknown commands; we name them.
    let reply = raw::exchange(
        &mut socket,
        r#"{"type":"no_such_command","request_id":"no_such_command-6"}"#,
    )
    .await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["request_id"], "no_such_command-6");
    assert_eq!(reply["command"], "no_such_command");
    assert!(reply["error"].as_str().unwrap().contains("no_such_command"));

    // A failing command answers in its own reply type.
    let reply = raw::exchange(
        &mut socket,
        r#"{"type":"runtime_start","request_id":"rs-1","create_agent":{"body":{}},"agent_id":"a"}"#,
    )
    .await;
    assert_eq!(reply["type"], "runtime_start_response");
    assert_eq!(reply["request_id"], "rs-1");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["error_code"], -32602);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("mutually exclusive")
    );
    let input = r#"{"type":"input","request_id":"in-1","runtime":{"agent_id":"a","conversation_id":"c"},
        "payload":{"kind":"create_message","messages":[]}}"#;
    let reply = raw::exchange(&mut socket, input.replace('\n', "")).await;
    assert_eq!(reply["type"], "input_accepted");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["error_code"], -32004, "unknown runtime: {reply}");

    // Fire-and-forget commands still hear about failures.
    let reply = raw::exchange(
        &mut socket,
        r#"{"type":"sync","runtime":{"agent_id":"a","conversation_id":"c"}}"#,
    )
    .await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["command"], "sync");
    assert_eq!(reply["error_code"], -32004);
    assert_eq!(reply["error_code"], -32004);

    let big = format!(
        r#"{{"type":"app_server_info","request_id":"big","pad":"{}"}}"#,
        "x".repeat(5000)
    );
    let reply = raw::exchange(&mut socket, big).await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["error_code"], -32001);

    let reply = raw::exchange(
        &mut socket,
        r#"{"type":"app_server_info","request_id":"after"}"#,
    )
    .await;
    assert_eq!(reply["type"], "app_server_info_response");
    assert_eq!(reply["request_id"], "after");
}

#[tokio::test]
async fn many_bad_messages_do_not_hurt_other_clients() {
    let daemon = Daemon::start_with(small_limit());
    let mut noisy = Lines::connect(&daemon.socket()).await;
    let mut quiet = Lines::connect(&daemon.socket()).await;
    for i in 0..200 {
        noisy.send(&format!("{{garbage {i}")).await;
    }
    for _ in 0..200 {
        assert_eq!(noisy.recv().await["error"]["code"], -32700);
    }
    still_usable(&mut quiet).await;
    still_usable(&mut noisy).await;
}
