//! Who may talk to the daemon, and what never leaks.

use letta_client::FrameClient;
use letta_protocol::AppServerInfoParams;
use letta_protocol::methods::AppServerInfo;

use crate::support::raw;
use crate::support::{Daemon, Options, TIMEOUT, http, start_expecting_failure, within};

const TOKEN: &str = "s3cret-token-for-tests";

fn with_token(dir: &std::path::Path) -> Options {
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    Options::default()
        .arg("--auth-token-file")
        .arg(token.to_str().unwrap())
}

#[tokio::test]
async fn web_pages_are_refused_without_a_token() {
    let daemon = Daemon::start();
    let response = http()
        .get(format!("{}/healthz", daemon.http_url()))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let err = raw::websocket(&daemon.ws_url("/ws"), &[("Origin", "https://evil.example")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    // Without Origin (a local program) it is fine.
    assert!(raw::websocket(&daemon.ws_url("/ws"), &[]).await.is_ok());
}

/// DNS rebinding: a page whose name was made to resolve to 127.0.0.1 sends
/// its own name as `Host` (and no `Origin` on a same-origin GET). Only
/// loopback names may be used without a token.
#[tokio::test]
async fn foreign_host_names_are_refused_without_a_token() {
    let daemon = Daemon::start();
    let url = format!("{}/app-server-info", daemon.http_url());
    let port = daemon.http_url().rsplit(':').next().unwrap().to_string();
    for host in ["evil.example", "evil.example:80", "127.0.0.1.evil.example"] {
        let response = http().get(&url).header("Host", host).send().await.unwrap();
        assert_eq!(response.status(), 403, "{host}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Host"), "{host}: {body}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("[::1]:{port}"),
    ] {
        let response = http().get(&url).header("Host", &host).send().await.unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    let err = raw::websocket(&daemon.ws_url("/ws"), &[("Host", "evil.example")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

/// With a token the name does not matter: the token is the proof.
#[tokio::test]
async fn with_a_token_any_host_name_may_be_used() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with(with_token(dir.path()));
    let response = http()
        .get(format!("{}/healthz", daemon.http_url()))
        .header("Host", "daemon.lan:4000")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_configured_token_is_required_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with(with_token(dir.path()));
    let http = http();
    let url = format!("{}/healthz", daemon.http_url());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&TOKEN[..TOKEN.len() - 1])
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let ok = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    // With a token, a web page that holds it may connect.
    let ok = http
        .get(&url)
        .bearer_auth(TOKEN)
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    for path in ["/ws", "/rpc"] {
        let err = raw::websocket(&daemon.ws_url(path), &[]).await.unwrap_err();
        assert!(err.to_string().contains("401"), "{path}: {err}");
    }
    let client = within(FrameClient::connect(&daemon.ws_url("/ws"), Some(TOKEN)))
        .await
        .unwrap();
    let info = client
        .call::<AppServerInfo>(&AppServerInfoParams {}, TIMEOUT)
        .await
        .unwrap();
    assert!(info.success);
}

#[test]
fn non_loopback_listen_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        listen: Some("ws://0.0.0.0:0".into()),
        ..Options::default()
    };
    let (code, stderr) = start_expecting_failure(dir.path(), &dir.path().join("data"), &options);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--auth-token-file"), "{stderr}");
    assert!(!dir.path().join("data").join("daemon.json").exists());
}

#[test]
fn socket_and_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let daemon = Daemon::start();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&daemon.socket()), 0o600);
    assert_eq!(mode(&daemon.data_dir), 0o700);
    assert_eq!(mode(&daemon.data_dir.join("daemon.json")), 0o600);
}

/// A Letta server that refuses everything and, like some proxies, echoes
/// the request's credentials in its error.
async fn echoing_server() -> String {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "detail": format!("bad credentials: {auth}") })),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Requests to Letta that fail with the key echoed back, at trace level:
/// neither the logs nor the answers carry the API key or the auth token.
#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let api_key = "sk-let-very-secret-api-key";
    let letta = echoing_server().await;
    let options = with_token(dir.path())
        .arg("--log")
        .arg("trace")
        .env("LETTA_API_KEY", api_key)
        .env("LETTA_BASE_URL", letta);
    let mut daemon = Daemon::start_with(options);
    let client = within(FrameClient::connect(&daemon.ws_url("/ws"), Some(TOKEN)))
        .await
        .unwrap();
    client
        .call::<AppServerInfo>(&AppServerInfoParams {}, TIMEOUT)
        .await
        .unwrap();
    let mut answers = Vec::new();
    for frame in [
        serde_json::json!({"type": "runtime_start", "agent_id": "agent-1"}),
        serde_json::json!({"type": "agent_list"}),
        serde_json::json!({"type": "list_models"}),
    ] {
        let serde_json::Value::Object(frame) = frame else {
            unreachable!()
        };
        let answer = client.request(frame, TIMEOUT).await.unwrap();
        assert_eq!(answer["success"], false, "{answer}");
        assert!(
            answer.to_string().contains("401"),
            "the request reached the server and failed: {answer}"
        );
        answers.push(answer.to_string());
    }
    let _ = http()
        .get(format!("{}/healthz", daemon.http_url()))
        .bearer_auth("wrong-guess")
        .send()
        .await;
    drop(client);
    assert!(daemon.stop().success());
    let logs = daemon.stderr();
    assert!(
        logs.contains("letta-daemon ready") && logs.contains("401"),
        "trace logging shows the failed requests: {logs}"
    );
    for text in answers.iter().chain([&logs]) {
        assert!(!text.contains(api_key), "API key leaked: {text}");
        assert!(!text.contains(TOKEN), "auth token leaked: {text}");
    }
}
