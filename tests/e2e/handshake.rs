//! `initialize` and `app_server_info` on every transport.

use letta_client::{FrameClient, RpcClient};
use letta_protocol::methods::{AppServerInfo, Initialize};
use letta_protocol::{AppServerInfoParams, ClientInfo, InitializeParams};
use serde_json::json;

use crate::support::raw::{self, Lines};
use crate::support::{Daemon, TIMEOUT, http, within};

fn assert_honest_info(info: &letta_protocol::AppServerInfo) {
    assert!(info.success);
    assert_eq!(info.backend, letta_protocol::Backend::Api);
    assert_eq!(
        info.protocol_version,
        letta_protocol::LETTA_CODE_PROTOCOL_VERSION
    );
    assert_eq!(info.daemon_protocol_version, 2);
    assert_eq!(info.server.name, "letta-daemon");
    // Capabilities follow what is served.
    assert!(info.capabilities.runtime_start);
    assert!(info.capabilities.agent_management);
    assert!(info.capabilities.conversation_management);
    assert!(!info.capabilities.memory_management);
    assert_eq!(info.capabilities.runtime_external_tools_update, Some(true));
    // Every runtime has an agent.
    assert_eq!(info.capabilities.agent_free_conversations, Some(false));
    assert_eq!(info.letta_code_version, "0.34.12");
}

#[tokio::test]
async fn local_socket_handshake_and_info() {
    let daemon = Daemon::start();
    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    let params = InitializeParams {
        client_info: Some(ClientInfo {
            name: "e2e".into(),
            title: None,
            version: Some("1".into()),
        }),
        protocol_versions: Some(vec![1, 2]),
    };
    let init = within(client.call::<Initialize>(&params)).await.unwrap();
    assert_eq!(init.protocol, "letta-daemon");
    assert_eq!(init.protocol_version, 2);
    assert_eq!(init.server_info.version, env!("CARGO_PKG_VERSION"));
    let mut declared: Vec<&str> = letta_protocol::METHODS
        .iter()
        .map(|info| info.name)
        .collect();
    declared.sort_unstable();
    assert_eq!(
        init.capabilities.methods, declared,
        "every declared method is served"
    );
    assert!(
        init.capabilities
            .events
            .iter()
            .any(|event| event == "stream_delta")
    );
    assert_eq!(init.capabilities.max_message_bytes, 16 * 1024 * 1024);

    let info = within(client.call::<AppServerInfo>(&AppServerInfoParams {}))
        .await
        .unwrap();
    assert_honest_info(&info);
}

#[tokio::test]
async fn one_line_without_initialize_works() {
    let daemon = Daemon::start();
    let mut lines = Lines::connect(&daemon.socket()).await;
    let reply = lines
        .request(r#"{"jsonrpc":"2.0","id":"x","method":"app_server_info"}"#)
        .await;
    assert_eq!(reply["id"], "x");
    assert_eq!(reply["result"]["success"], true);
    assert_eq!(reply["result"]["daemon_protocol_version"], 2);
}

#[tokio::test]
async fn unsupported_protocol_version_is_refused() {
    let daemon = Daemon::start();
    let mut lines = Lines::connect(&daemon.socket()).await;
    let reply = lines
        .request(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol_versions":[1]}}"#,
        )
        .await;
    assert_eq!(reply["error"]["code"], -32003);
    assert_eq!(reply["error"]["data"]["supported"], json!([2]));
}

#[tokio::test]
async fn websocket_rpc_handshake_and_info() {
    let daemon = Daemon::start();
    let client = within(RpcClient::connect_ws(&daemon.ws_url("/rpc")))
        .await
        .unwrap();
    let init = within(client.call::<Initialize>(&InitializeParams::default()))
        .await
        .unwrap();
    assert_eq!(init.protocol_version, 2);
    let info = within(client.call::<AppServerInfo>(&AppServerInfoParams {}))
        .await
        .unwrap();
    assert_honest_info(&info);
}

#[tokio::test]
async fn letta_code_frames_on_ws_and_root() {
    let daemon = Daemon::start();
    for path in ["/ws", "/"] {
        let client = within(FrameClient::connect(&daemon.ws_url(path), None))
            .await
            .unwrap();
        let reply = client
            .request(
                json!({"type": "app_server_info", "request_id": "app-server-info-1"})
                    .as_object()
                    .unwrap()
                    .clone(),
                TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(reply["type"], "app_server_info_response", "on {path}");
        assert_eq!(reply["request_id"], "app-server-info-1");
        assert_eq!(reply["success"], true);
        let info = client
            .call::<AppServerInfo>(&AppServerInfoParams {}, TIMEOUT)
            .await
            .unwrap();
        assert_honest_info(&info);
    }
}

#[tokio::test]
async fn frames_echo_numeric_request_ids_and_answer_initialize() {
    let daemon = Daemon::start();
    let mut socket = raw::websocket(&daemon.ws_url("/ws"), &[]).await.unwrap();
    let reply = raw::exchange(&mut socket, r#"{"type":"initialize","request_id":42}"#).await;
    assert_eq!(reply["type"], "initialize_response");
    assert_eq!(reply["request_id"], 42);
    assert_eq!(reply["protocol_version"], 2);
}

#[tokio::test]
async fn http_endpoints() {
    let daemon = Daemon::start();
    let http = http();
    let health = http
        .get(format!("{}/healthz", daemon.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("{}/readyz", daemon.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let info: serde_json::Value = http
        .get(format!("{}/app-server-info", daemon.http_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    let over_rpc = within(client.call::<AppServerInfo>(&AppServerInfoParams {}))
        .await
        .unwrap();
    assert_eq!(info, serde_json::to_value(over_rpc).unwrap());
    let missing = http
        .get(format!("{}/nope", daemon.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
