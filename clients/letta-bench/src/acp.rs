//! The editor bridge's added latency per streamed chunk: the same chunks
//! read by a subscriber on the daemon's `/ws` and, through `letta-ctl acp`,
//! by an ACP client; the difference per chunk is what the bridge adds
//! (its own subscription, translation and stdio hop).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    ContentBlock, InitializeRequest, NewSessionRequest, PromptRequest, SessionNotification,
    SessionUpdate, TextContent,
};
use agent_client_protocol::{ByteStreams, Client};
use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::stats::Summary;
use crate::stream::{Mock, Script, send, serve_mock, until};

/// Per chunk: (what the direct subscriber saw, what the editor saw), as
/// time since the mock's epoch; and the editor's end-to-end latency.
pub struct BridgeFigures {
    pub added: Summary,
    pub end_to_end: Summary,
}

/// Measures against a daemon `start_daemon` starts (given the mock's URL;
/// it answers with the daemon's WebSocket URL and its data directory),
/// bridging with the `letta-ctl` at `ctl`.
pub async fn measure<F, Fut, D>(
    start_daemon: F,
    ctl: &Path,
    chunks: usize,
) -> Result<(BridgeFigures, D)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<(D, String, std::path::PathBuf)>>,
{
    let mock = Mock::new(Script {
        chunks,
        interval: Duration::from_millis(1),
    });
    let letta_url = serve_mock(mock.clone()).await?;
    let (daemon, ws_url, data_dir) = start_daemon(letta_url).await?;

    let mut bridge = tokio::process::Command::new(ctl)
        .args(["acp", "--agent", "agent-bench", "--no-start"])
        .env("LETTA_DAEMON_DATA_DIR", &data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", ctl.display()))?;
    let transport = ByteStreams::new(
        bridge.stdin.take().context("no stdin")?.compat_write(),
        bridge.stdout.take().context("no stdout")?.compat(),
    );

    let editor_seen: Arc<Mutex<HashMap<u64, Duration>>> = Arc::default();
    let direct_seen: Arc<Mutex<HashMap<u64, Duration>>> = Arc::default();
    let epoch = mock.epoch;
    let record = editor_seen.clone();
    let direct = direct_seen.clone();
    let frames_url = format!("{ws_url}/ws");
    Client
        .v1()
        .name("letta-bench")
        .on_receive_notification(
            async move |notification: SessionNotification, _cx| {
                let received = epoch.elapsed();
                if let SessionUpdate::AgentMessageChunk(chunk) = notification.update
                    && let ContentBlock::Text(text) = chunk.content
                    && let Ok(sent) = text.text.parse::<u64>()
                    && let Ok(mut seen) = record.lock()
                {
                    seen.insert(sent, received);
                }
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .connect_with(transport, async move |cx| {
            let fail = |err: anyhow::Error| {
                agent_client_protocol::Error::internal_error().data(err.to_string())
            };
            cx.send_request(InitializeRequest::new(ProtocolVersion::V1))
                .block_task()
                .await?;
            let cwd = std::env::temp_dir();
            let session = cx
                .send_request(NewSessionRequest::new(cwd))
                .block_task()
                .await?;
            let id = session.session_id.0.to_string();
            // The direct subscriber: the same runtime, on the daemon's /ws.
            let reader = subscribe(&frames_url, &id, epoch, direct)
                .await
                .map_err(fail)?;
            let prompt = PromptRequest::new(
                id.clone(),
                vec![ContentBlock::Text(TextContent::new("stream"))],
            );
            cx.send_request(prompt).block_task().await?;
            reader
                .await
                .map_err(|err| fail(err.into()))?
                .map_err(fail)?;
            Ok(())
        })
        .await
        .map_err(|err| anyhow::anyhow!("the ACP session failed: {err:?}"))?;
    // The editor's end is closed: the bridge ends by itself (so a profiler
    // wrapping it can write its figures), or is killed.
    if tokio::time::timeout(Duration::from_secs(10), bridge.wait())
        .await
        .is_err()
    {
        let _ = bridge.start_kill();
    }

    let editor = editor_seen
        .lock()
        .map(|seen| seen.clone())
        .unwrap_or_default();
    let direct = direct_seen
        .lock()
        .map(|seen| seen.clone())
        .unwrap_or_default();
    let mut added = Vec::new();
    let mut end_to_end = Vec::new();
    for (sent, at_editor) in &editor {
        end_to_end.push(at_editor.saturating_sub(Duration::from_nanos(*sent)));
        if let Some(at_subscriber) = direct.get(sent) {
            added.push(at_editor.saturating_sub(*at_subscriber));
        }
    }
    if added.len() < chunks / 2 {
        bail!("only {} of {chunks} chunks were seen by both", added.len());
    }
    Ok((
        BridgeFigures {
            added: Summary::of(&mut added).context("no chunks")?,
            end_to_end: Summary::of(&mut end_to_end).context("no chunks")?,
        },
        daemon,
    ))
}

/// Subscribes to the runtime of conversation `conversation` on `/ws` and
/// records when each chunk arrives, until the turn finishes.
async fn subscribe(
    url: &str,
    conversation: &str,
    epoch: std::time::Instant,
    seen: Arc<Mutex<HashMap<u64, Duration>>>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
        url,
        Some(letta_client::websocket_config()),
        true,
    )
    .await?;
    let start = json!({"type": "runtime_start", "request_id": "direct", "agent_id": "agent-bench", "conversation_id": conversation});
    send(&mut socket, start).await?;
    until(&mut socket, "runtime_start_response").await?;
    Ok(tokio::spawn(async move {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
                .await
                .context("stalled")?;
            let Some(Ok(Message::Text(text))) = message else {
                bail!("the subscriber's connection ended")
            };
            let received = epoch.elapsed();
            let frame: Value = serde_json::from_str(text.as_str())?;
            match frame["type"].as_str() {
                Some("stream_delta") if frame["delta"]["message_type"] == "assistant_message" => {
                    if let Some(Ok(sent)) =
                        frame["delta"]["content"].as_str().map(str::parse::<u64>)
                        && let Ok(mut seen) = seen.lock()
                    {
                        seen.insert(sent, received);
                    }
                }
                Some("turn_finished") => return Ok(()),
                _ => {}
            }
        }
    }))
}
