//! The local backend, measured end to end with a scripted model that
//! letta-bench serves itself (OpenAI Chat Completions, as LM Studio speaks
//! it, so the daemon and the reference find it the same way:
//! `LMSTUDIO_BASE_URL`, model `lmstudio/bench-model`).
//!
//! * added latency per chunk: the model hands a chunk to HTTP -> the
//!   frontend reads its `stream_delta`;
//! * time-to-first-token overhead: (input sent -> model asked) plus (first
//!   chunk sent -> first delta read), the daemon's share of a turn's start;
//! * a whole turn with one tool call the frontend approves (`Write`), on
//!   the daemon and, given its command, on the reference, alternating;
//! * resident memory with ten local agents that have each held a turn.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::process::{free_port, serve_on_loopback, spawn_reference};
use crate::stats::{Summary, ms, us};
use crate::{cores, mib, spawn_daemon};

pub const MODEL: &str = "lmstudio/bench-model";

/// What the scripted model does with a request.
#[derive(Clone)]
struct Model {
    epoch: Instant,
    /// Text chunks per answer, and the pause before each.
    chunks: Arc<Mutex<(usize, Duration)>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// A chat request: when it arrived and when its answer was all sent (since
/// the model's `epoch`; `None` while it streams).
struct Request {
    arrived: Duration,
    answered: Option<Duration>,
}

/// Serves the model; returns its OpenAI base URL (`…/v1`).
async fn serve_model(model: Model) -> Result<String> {
    let app = Router::new()
        .route(
            "/v1/models",
            get(|| async {
                axum::Json(json!({ "object": "list", "data": [{ "id": "bench-model", "object": "model" }] }))
            }),
        )
        .route("/v1/chat/completions", post(answer))
        .with_state(model);
    Ok(format!("http://{}/v1", serve_on_loopback(app).await?))
}

/// The tools the user's script asks for, `[[call:Tool {"json": "args"}]]`
/// (as the Letta test server's scripted model reads them), one per answer
/// in order; once each has its result, text chunks carrying their send time.
async fn answer(State(model): State<Model>, axum::Json(body): axum::Json<Value>) -> Response {
    let request = model.epoch.elapsed();
    let index = model.requests.lock().map_or(0, |mut requests| {
        requests.push(Request {
            arrived: request,
            answered: None,
        });
        requests.len() - 1
    });
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let user_at = messages
        .iter()
        .rposition(|message| message["role"] == "user")
        .unwrap_or(0);
    let user = text_of(&messages.get(user_at).cloned().unwrap_or(Value::Null)["content"]);
    let answered = messages[user_at..]
        .iter()
        .filter(|message| message["role"] == "tool")
        .count();
    let chunk = |delta: Value, finish: Option<&str>| json!({ "id": "bench", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
    let events: Vec<Value> = match scripted_calls(&user).into_iter().nth(answered) {
        Some((name, arguments)) => vec![
            chunk(
                json!({ "tool_calls": [{ "index": 0, "id": format!("call_{}", model.epoch.elapsed().as_nanos()), "type": "function", "function": { "name": name, "arguments": arguments } }] }),
                None,
            ),
            chunk(json!({}), Some("tool_calls")),
        ],
        None => Vec::new(),
    };
    let (count, pause) = model
        .chunks
        .lock()
        .map(|chunks| *chunks)
        .unwrap_or((1, Duration::ZERO));
    let epoch = model.epoch;
    let texts = futures_util::stream::iter(0..if events.is_empty() { count } else { 0 }).then(move |_| async move {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let sent = epoch.elapsed().as_nanos().to_string();
        json!({ "id": "bench", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "content": format!("{sent} ") }, "finish_reason": null }] })
    });
    let closing = if events.is_empty() {
        vec![chunk(json!({}), Some("stop"))]
    } else {
        events
    };
    let requests = model.requests.clone();
    let done = futures_util::stream::once(async move {
        if let Ok(mut requests) = requests.lock()
            && let Some(request) = requests.get_mut(index)
        {
            request.answered = Some(epoch.elapsed());
        }
        "data: [DONE]\n\n".to_owned()
    });
    let stream = texts
        .chain(futures_util::stream::iter(closing))
        .map(|event| format!("data: {event}\n\n"))
        .chain(done)
        .map(|text| Ok::<_, std::convert::Infallible>(Bytes::from(text)));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// A message's text, whether its content is a string or a list of parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Each `[[call:Tool {json}]]` of `text`: the tool's name and its arguments.
fn scripted_calls(text: &str) -> Vec<(String, String)> {
    text.split("[[call:")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.split_once("]]")?.0;
            let (name, arguments) = rest.split_once(' ').unwrap_or((rest, "{}"));
            Some((name.to_owned(), arguments.trim().to_owned()))
        })
        .collect()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A frontend on `/ws` (Letta Code's frames, which both servers speak).
struct Frontend {
    socket: Socket,
    runtime: Value,
    turns: usize,
}

impl Frontend {
    async fn start(ws_url: &str, cwd: &str) -> Result<Frontend> {
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
            format!("{ws_url}/ws"),
            Some(letta_client::websocket_config()),
            true,
        )
        .await?;
        let start = json!({
            "type": "runtime_start", "request_id": "start",
            "create_agent": { "body": { "name": "bench", "model": MODEL } },
            "create_conversation": {}, "cwd": cwd, "mode": "standard",
        });
        socket.send(Message::Text(start.to_string().into())).await?;
        let started = read_until(&mut socket, |frame| {
            frame["type"] == "runtime_start_response"
        })
        .await?
        .1;
        if started["success"] != true {
            bail!("runtime_start failed: {started}");
        }
        Ok(Frontend {
            socket,
            runtime: started["runtime"].clone(),
            turns: 0,
        })
    }

    async fn send(&mut self, frame: Value) -> Result<()> {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await?;
        Ok(())
    }

    async fn input(&mut self, text: &str) -> Result<Instant> {
        self.turns += 1;
        let frame = json!({
            "type": "input", "request_id": format!("in-{}", self.turns), "runtime": self.runtime,
            "payload": { "kind": "create_message", "messages": [{ "role": "user", "content": text,
                "client_message_id": format!("bench-{}-{}", std::process::id(), unique_number()) }] },
        });
        let sent = Instant::now();
        self.send(frame).await?;
        Ok(sent)
    }

    /// Reads frames until `turn_finished`, approving every permission
    /// request; returns the arrival time of each text delta with its
    /// content.
    async fn finish_turn(&mut self) -> Result<Vec<(Instant, String)>> {
        let mut texts = Vec::new();
        loop {
            let (at, frame) = read_until(&mut self.socket, |_| true).await?;
            match frame["type"].as_str() {
                Some("stream_delta") if frame["delta"]["message_type"] == "assistant_message" => {
                    let content = match &frame["delta"]["content"] {
                        Value::String(text) => text.clone(),
                        // The reference sends content parts.
                        Value::Array(parts) => parts
                            .iter()
                            .filter_map(|part| part["text"].as_str())
                            .collect(),
                        _ => String::new(),
                    };
                    texts.push((at, content));
                }
                Some("control_request") => {
                    let approve = json!({
                        "type": "input", "request_id": "approve", "runtime": self.runtime,
                        "payload": { "kind": "approval_response", "request_id": frame["request_id"], "decision": { "behavior": "allow" } },
                    });
                    self.send(approve).await?;
                }
                Some("turn_finished") => {
                    if frame["stop_reason"] != "end_turn" {
                        bail!("the turn ended with {frame}");
                    }
                    return Ok(texts);
                }
                _ => {}
            }
        }
    }
}

/// A user message that makes either scripted model call `Write` on `path`.
pub fn write_script(path: &str) -> String {
    let arguments = json!({ "file_path": path, "content": "bench\n" });
    format!("[[delay=0]] [[call:Write {arguments}]] Write the file.")
}

/// A unique enough number for message ids.
fn unique_number() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0)
}

async fn read_until(
    socket: &mut Socket,
    wanted: impl Fn(&Value) -> bool,
) -> Result<(Instant, Value)> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .context("no frame for 60 s")?;
        let Some(Ok(Message::Text(text))) = message else {
            bail!("the connection ended");
        };
        let at = Instant::now();
        let frame: Value = serde_json::from_str(text.as_str())?;
        if wanted(&frame) {
            return Ok((at, frame));
        }
    }
}

/// The environment a server needs to find the bench model (and no other).
pub fn model_env(model_url: &str) -> Vec<(String, String)> {
    vec![
        ("LMSTUDIO_BASE_URL".to_owned(), model_url.to_owned()),
        ("LETTA_DAEMON_BACKEND".to_owned(), "local".to_owned()),
        (
            "OLLAMA_BASE_URL".to_owned(),
            "http://127.0.0.1:1/v1".to_owned(),
        ),
        (
            "LLAMACPP_BASE_URL".to_owned(),
            "http://127.0.0.1:1/v1".to_owned(),
        ),
    ]
}

/// Serves the bench model; returns its base URL and a handle to steer and
/// read it.
pub async fn start_model() -> Result<(String, ModelHandle)> {
    let model = Model {
        epoch: Instant::now(),
        chunks: Arc::new(Mutex::new((1, Duration::ZERO))),
        requests: Arc::default(),
    };
    let url = serve_model(model.clone()).await?;
    Ok((url, ModelHandle(model)))
}

/// Steers the bench model.
pub struct ModelHandle(Model);

impl ModelHandle {
    pub fn set_chunks(&self, count: usize, pause: Duration) {
        if let Ok(mut chunks) = self.0.chunks.lock() {
            *chunks = (count, pause);
        }
    }

    fn sent_at(&self, text: &str) -> Option<Instant> {
        let nanos: u64 = text.trim().parse().ok()?;
        Some(self.0.epoch + Duration::from_nanos(nanos))
    }

    fn last_arrival(&self) -> Option<Instant> {
        let requests = self.0.requests.lock().ok()?;
        requests
            .last()
            .map(|request| self.0.epoch + request.arrived)
    }

    /// The time the model spent answering the requests that arrived since
    /// `since`, each from its arrival to its last byte.
    pub fn busy_since(&self, since: Instant) -> Duration {
        let since = since.saturating_duration_since(self.0.epoch);
        self.0.requests.lock().map_or(Duration::ZERO, |requests| {
            requests
                .iter()
                .filter(|request| request.arrived >= since)
                .filter_map(|request| Some(request.answered?.saturating_sub(request.arrived)))
                .sum()
        })
    }

    /// Added latency per chunk over one turn of `count` chunks, 1 ms apart.
    pub async fn chunk_latency(&self, ws_url: &str, cwd: &str, count: usize) -> Result<Summary> {
        self.set_chunks(count, Duration::from_millis(1));
        let mut frontend = Frontend::start(ws_url, cwd).await?;
        frontend.input("stream").await?;
        let texts = frontend.finish_turn().await?;
        let mut samples: Vec<Duration> = texts
            .iter()
            .filter_map(|(at, text)| Some(at.saturating_duration_since(self.sent_at(text)?)))
            .collect();
        Summary::of(&mut samples).context("no chunks arrived")
    }

    /// The daemon's share of the time to first token, over `turns` turns:
    /// (input sent -> model asked) and (first chunk sent -> first frame
    /// read), each and summed.
    pub async fn ttft_overhead(
        &self,
        ws_url: &str,
        cwd: &str,
        turns: usize,
    ) -> Result<[Summary; 3]> {
        self.set_chunks(3, Duration::ZERO);
        let mut frontend = Frontend::start(ws_url, cwd).await?;
        let (mut before, mut after, mut total) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..turns {
            let sent = frontend.input("first token").await?;
            let texts = frontend.finish_turn().await?;
            let asked = self.last_arrival().context("the model was not asked")?;
            let Some((first_at, first)) = texts.first() else {
                bail!("no text arrived");
            };
            let chunk_sent = self.sent_at(first).context("unreadable chunk")?;
            before.push(asked.saturating_duration_since(sent));
            after.push(first_at.saturating_duration_since(chunk_sent));
            total.push(before[before.len() - 1] + after[after.len() - 1]);
        }
        Ok([
            Summary::of(&mut before).context("no turns")?,
            Summary::of(&mut after).context("no turns")?,
            Summary::of(&mut total).context("no turns")?,
        ])
    }

    /// Whole turns, each with one approved `Write`, on each server in
    /// turn; returns each server's summary.
    pub async fn approved_turns(
        &self,
        servers: &[(String, String)],
        cwd: &str,
        turns: usize,
    ) -> Result<Vec<(String, Summary)>> {
        self.set_chunks(5, Duration::ZERO);
        let mut frontends = Vec::new();
        for (_, url) in servers {
            frontends.push(Frontend::start(url, cwd).await?);
        }
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
        let target = format!("{cwd}/bench.txt");
        // A warm-up turn each, then alternating measured turns.
        for round in 0..=turns {
            for (index, frontend) in frontends.iter_mut().enumerate() {
                let sent = frontend.input(&write_script(&target)).await?;
                frontend.finish_turn().await?;
                if round > 0 {
                    samples[index].push(sent.elapsed());
                }
            }
        }
        servers
            .iter()
            .zip(samples.iter_mut())
            .map(|((name, _), samples)| {
                Ok((name.clone(), Summary::of(samples).context("no turns")?))
            })
            .collect()
    }

    /// Starts `agents` local agents on the server, one turn each.
    pub async fn agents(&self, ws_url: &str, cwd: &str, agents: usize) -> Result<()> {
        self.set_chunks(5, Duration::ZERO);
        for _ in 0..agents {
            let mut frontend = Frontend::start(ws_url, cwd).await?;
            frontend.input("hello").await?;
            frontend.finish_turn().await?;
        }
        Ok(())
    }
}

/// `letta-bench local --chunks-only`: the per-chunk latency alone.
pub async fn chunks_report(daemon: Vec<String>, chunks: usize) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let cwd = scratch.path().display().to_string();
    let (model_url, model) = start_model().await?;
    let mut envs = model_env(&model_url);
    envs.push(("HOME".to_owned(), cwd.clone()));
    let (server, _, port) = spawn_daemon(&daemon, &scratch.path().join("daemon"), &envs).await?;
    let latency = model
        .chunk_latency(&format!("ws://127.0.0.1:{port}"), &cwd, chunks)
        .await?;
    server.stop()?;
    println!(
        "local backend, {} chunks: p50 {} µs, p99 {} µs",
        latency.count,
        us(latency.p50),
        us(latency.p99)
    );
    Ok(())
}

/// `letta-bench local`: measures and prints the report.
pub async fn report(
    daemon: Vec<String>,
    chunks: usize,
    ttft_turns: usize,
    turns: usize,
    reference_cmd: Option<String>,
) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let cwd = scratch.path().join("work");
    std::fs::create_dir_all(&cwd)?;
    let cwd = cwd.display().to_string();
    let (model_url, model) = start_model().await?;
    let mut envs = model_env(&model_url);
    envs.push(("HOME".to_owned(), scratch.path().display().to_string()));

    let (server, _, port) = spawn_daemon(&daemon, &scratch.path().join("daemon"), &envs).await?;
    let ours = format!("ws://127.0.0.1:{port}");
    let chunk_latency = model.chunk_latency(&ours, &cwd, chunks).await?;
    let ttft = model.ttft_overhead(&ours, &cwd, ttft_turns).await?;

    let mut servers = vec![("letta-daemon".to_owned(), ours.clone())];
    let _reference = match &reference_cmd {
        Some(command) => {
            let port = free_port()?;
            let home = scratch.path().join("reference-home");
            std::fs::create_dir_all(&home)?;
            let mut reference_env = model_env(&model_url);
            reference_env.push(("HOME".to_owned(), home.display().to_string()));
            let (reference, _) = spawn_reference(command, port, &reference_env).await?;
            servers.push((
                "reference (local backend)".to_owned(),
                format!("ws://127.0.0.1:{port}"),
            ));
            Some(reference)
        }
        None => None,
    };
    let turn_figures = model.approved_turns(&servers, &cwd, turns).await?;
    server.stop()?;

    let (ten, _, port) = spawn_daemon(&daemon, &scratch.path().join("ten"), &envs).await?;
    model
        .agents(&format!("ws://127.0.0.1:{port}"), &cwd, 10)
        .await?;
    let rss = ten.tree_rss()?;
    ten.stop()?;

    println!("## letta-bench local\n");
    println!(
        "machine: {} cores; model: letta-bench's scripted Chat Completions server\n",
        cores()
    );
    println!(
        "### Added latency per chunk (model hands a chunk to HTTP -> frontend reads its frame)\n"
    );
    println!("| chunks | p50 µs | p90 µs | p99 µs | max µs |\n|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} |\n",
        chunk_latency.count,
        us(chunk_latency.p50),
        us(chunk_latency.p90),
        us(chunk_latency.p99),
        us(chunk_latency.max)
    );
    println!("### Time-to-first-token overhead\n");
    println!("| part | turns | p50 µs | p90 µs | p99 µs | max µs |\n|---|---|---|---|---|---|");
    let parts = ["input -> model asked", "first chunk -> first frame", "both"];
    for (part, summary) in parts.iter().zip(&ttft) {
        println!(
            "| {part} | {} | {} | {} | {} | {} |",
            summary.count,
            us(summary.p50),
            us(summary.p90),
            us(summary.p99),
            us(summary.max)
        );
    }
    println!();
    println!("### A whole turn with one approved Write (input -> turn_finished), alternating\n");
    println!("| server | turns | p50 ms | p90 ms | max ms |\n|---|---|---|---|---|");
    for (name, summary) in &turn_figures {
        println!(
            "| {name} | {} | {} | {} | {} |",
            summary.count,
            ms(summary.p50),
            ms(summary.p90),
            ms(summary.max)
        );
    }
    println!("\n### Memory\n");
    println!(
        "letta-daemon with 10 local agents, one turn each: {} MiB RSS",
        mib(rss)
    );
    Ok(())
}
