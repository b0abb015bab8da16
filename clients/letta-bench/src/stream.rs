//! Streaming figures: the daemon's added latency per chunk, and how many
//! `stream_delta` events per second it delivers to many subscribers.
//!
//! letta-bench plays both ends: it serves a minimal Letta API whose run
//! streams carry their send time in each chunk, and it connects the
//! subscribers on `/ws`. Added latency is "chunk handed to the HTTP layer"
//! to "frame read by the subscriber", so it includes two loopback hops on
//! top of the daemon's parsing, SQLite commit and fan-out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::process::serve_on_loopback;
use crate::stats::Summary;

/// How the mock streams a run.
#[derive(Clone, Copy)]
pub(crate) struct Script {
    pub chunks: usize,
    /// Pause between chunks; zero streams as fast as possible.
    pub interval: Duration,
}

#[derive(Clone)]
pub(crate) struct Mock {
    /// Chunks carry the time since this instant when they were sent.
    pub epoch: Instant,
    script: Arc<std::sync::Mutex<Script>>,
    runs: Arc<AtomicUsize>,
    conversations: Arc<AtomicUsize>,
}

impl Mock {
    pub fn new(script: Script) -> Mock {
        Mock {
            epoch: Instant::now(),
            script: Arc::new(std::sync::Mutex::new(script)),
            runs: Arc::new(AtomicUsize::new(0)),
            conversations: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs started so far.
    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::Relaxed)
    }
}

/// Serves the mock Letta API; returns its base URL.
pub(crate) async fn serve_mock(mock: Mock) -> Result<String> {
    let app = Router::new()
        .route(
            "/v1/agents/",
            post(|| async { axum::Json(json!({ "id": "agent-bench" })) }),
        )
        .route(
            "/v1/agents/{id}",
            get(|Path(id): Path<String>| async move { axum::Json(json!({ "id": id })) }),
        )
        .route(
            "/v1/conversations/",
            post(|State(mock): State<Mock>| async move {
                let number = mock.conversations.fetch_add(1, Ordering::Relaxed);
                axum::Json(
                    json!({ "id": format!("conv-bench-{number}"), "agent_id": "agent-bench" }),
                )
            }),
        )
        .route(
            "/v1/conversations/{id}",
            get(|Path(id): Path<String>| async move {
                axum::Json(json!({ "id": id, "agent_id": "agent-bench" }))
            }),
        )
        .route("/v1/conversations/{id}/messages", post(run_stream))
        .with_state(mock);
    Ok(format!("http://{}", serve_on_loopback(app).await?))
}

async fn run_stream(State(mock): State<Mock>) -> Response {
    let run = mock.runs.fetch_add(1, Ordering::Relaxed);
    let script = mock.script.lock().map(|script| *script).unwrap_or(Script {
        chunks: 0,
        interval: Duration::ZERO,
    });
    let run_id = format!("run-bench-{run}");
    let epoch = mock.epoch;
    let chunks = futures_util::stream::iter(0..script.chunks).then(move |index| {
        let run_id = run_id.clone();
        async move {
            if !script.interval.is_zero() {
                tokio::time::sleep(script.interval).await;
            }
            // The send time, in the chunk's content, for the latency figure.
            let sent = epoch.elapsed().as_nanos().to_string();
            let chunk = json!({
                "message_type": "assistant_message",
                "id": "message-bench",
                "content": sent,
                "seq_id": index + 1,
                "run_id": run_id,
            });
            Ok::<_, std::convert::Infallible>(Bytes::from(format!("data: {chunk}\n\n")))
        }
    });
    let end = futures_util::stream::iter([
        format!(
            "data: {}\n\n",
            json!({ "message_type": "stop_reason", "stop_reason": "end_turn" })
        ),
        "data: [DONE]\n\n".to_owned(),
    ])
    .map(|event| Ok(Bytes::from(event)));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(chunks.chain(end)))
        .unwrap_or_default()
}

/// What one streaming benchmark measured.
pub struct StreamFigures {
    pub latency: Summary,
    /// (subscribers, chunks, events delivered per second, chunks per second)
    pub fan_out: Vec<(usize, usize, f64, f64)>,
}

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn send(socket: &mut Socket, frame: Value) -> Result<()> {
    socket.send(Message::Text(frame.to_string().into())).await?;
    Ok(())
}

/// Reads frames until one of `kind` arrives.
pub(crate) async fn until(socket: &mut Socket, kind: &str) -> Result<Value> {
    until_within(socket, kind, Duration::from_secs(60)).await
}

/// Reads frames until one of `kind` arrives, none more than `silence`
/// apart; pings and other non-text messages are skipped.
pub(crate) async fn until_within<S, E>(
    frames: &mut S,
    kind: &str,
    silence: Duration,
) -> Result<Value>
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(silence, frames.next())
            .await
            .with_context(|| format!("no frame for {silence:?} waiting for {kind}"))?;
        let Some(Ok(message)) = message else {
            bail!("connection ended waiting for {kind}")
        };
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str())?;
        if frame["type"] == kind {
            return Ok(frame);
        }
    }
}

/// How long a chunk of the mock took to reach a frontend that read its
/// frame `received` after the mock's epoch: the mock puts its send time in
/// the chunk's content.
pub(crate) fn chunk_latency(delta: &Value, received: Duration) -> Duration {
    let sent: u64 = delta["content"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    received.saturating_sub(Duration::from_nanos(sent))
}

/// Measures against a daemon started by the caller with `LETTA_BASE_URL`
/// set to the URL `start_daemon` receives.
pub async fn measure<F, Fut, D>(
    start_daemon: F,
    latency_chunks: usize,
    fan_outs: &[usize],
    fan_out_chunks: usize,
) -> Result<(StreamFigures, D)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<(D, String)>>,
{
    let mock = Mock::new(Script {
        chunks: latency_chunks,
        interval: Duration::from_millis(1),
    });
    let letta_url = serve_mock(mock.clone()).await?;
    let (daemon, ws_url) = start_daemon(letta_url).await?;
    let frames_url = format!("{ws_url}/ws");

    let (mut owner, _) = tokio_tungstenite::connect_async_with_config(
        &frames_url,
        Some(letta_client::websocket_config()),
        true,
    )
    .await?;
    send(&mut owner, json!({"type": "runtime_start", "request_id": "start", "create_agent": {"body": {}}, "create_conversation": {}})).await?;
    let started = until(&mut owner, "runtime_start_response").await?;
    let runtime = started["runtime"].clone();

    // Latency: paced chunks, one subscriber.
    send(&mut owner, input(&runtime, 0)).await?;
    let mut samples = Vec::with_capacity(latency_chunks);
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), owner.next())
            .await
            .context("stalled")?;
        let Some(Ok(Message::Text(text))) = message else {
            bail!("connection ended")
        };
        let received = mock.epoch.elapsed();
        let frame: Value = serde_json::from_str(text.as_str())?;
        match frame["type"].as_str() {
            Some("stream_delta") if frame["delta"]["message_type"] == "assistant_message" => {
                samples.push(chunk_latency(&frame["delta"], received));
            }
            Some("turn_finished") => break,
            _ => {}
        }
    }
    let latency = Summary::of(&mut samples).context("no chunks")?;

    // Fan-out: chunks as fast as the mock can send, N subscribers.
    if let Ok(mut script) = mock.script.lock() {
        *script = Script {
            chunks: fan_out_chunks,
            interval: Duration::ZERO,
        };
    }
    let mut fan_out = Vec::new();
    for (round, &subscribers) in fan_outs.iter().enumerate() {
        let mut sockets = Vec::with_capacity(subscribers);
        for index in 0..subscribers {
            let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
                &frames_url,
                Some(letta_client::websocket_config()),
                true,
            )
            .await?;
            let start = json!({"type": "runtime_start", "request_id": format!("s{index}"), "agent_id": runtime["agent_id"], "conversation_id": runtime["conversation_id"]});
            send(&mut socket, start).await?;
            until(&mut socket, "runtime_start_response").await?;
            sockets.push(socket);
        }
        let readers: Vec<_> = sockets
            .into_iter()
            .map(|mut socket| {
                tokio::spawn(async move {
                    let mut deltas = 0usize;
                    let mut first = None;
                    while let Ok(Some(Ok(message))) =
                        tokio::time::timeout(Duration::from_secs(120), socket.next()).await
                    {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        if text.as_str().contains(r#""type":"stream_delta""#) {
                            first.get_or_insert_with(Instant::now);
                            deltas += 1;
                        } else if text.as_str().contains(r#""type":"turn_finished""#) {
                            break;
                        }
                    }
                    (deltas, first, Instant::now())
                })
            })
            .collect();
        send(&mut owner, input(&runtime, round + 1)).await?;
        until(&mut owner, "turn_finished").await?;
        let mut delivered = 0;
        let mut first_delta: Option<Instant> = None;
        let mut last_done = Instant::now();
        for reader in readers {
            let (deltas, first, done) = reader.await?;
            delivered += deltas;
            if let Some(first) = first {
                first_delta = Some(first_delta.map_or(first, |known| known.min(first)));
            }
            last_done = last_done.max(done);
        }
        if delivered < subscribers * fan_out_chunks {
            bail!(
                "{subscribers} subscribers received {delivered} deltas, expected {}",
                subscribers * fan_out_chunks
            );
        }
        let elapsed = last_done
            .duration_since(first_delta.unwrap_or(last_done))
            .as_secs_f64()
            .max(1e-9);
        fan_out.push((
            subscribers,
            fan_out_chunks,
            delivered as f64 / elapsed,
            fan_out_chunks as f64 / elapsed,
        ));
    }
    Ok((StreamFigures { latency, fan_out }, daemon))
}

fn input(runtime: &Value, turn: usize) -> Value {
    user_input(
        runtime,
        "stream",
        &format!("bench-{}-{turn}", std::process::id()),
    )
}

/// An `input` frame with one user message.
pub(crate) fn user_input(runtime: &Value, content: &str, client_message_id: &str) -> Value {
    json!({
        "type": "input",
        "runtime": runtime,
        "payload": {"kind": "create_message", "messages": [{
            "role": "user",
            "content": content,
            "client_message_id": client_message_id,
        }]},
    })
}
