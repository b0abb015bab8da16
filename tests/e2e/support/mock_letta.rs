//! A scripted Letta server for fault injection: the parts of the API the
//! daemon uses, answering like Letta 0.16.8 (background runs with 1-based
//! `seq_id`s, `data: [DONE]`, resume by `starting_after`, deduplication by
//! otid), plus faults a real server will not produce on demand.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// How one message send fails before the server takes it.
#[derive(Debug, Clone)]
pub enum SendFailure {
    /// Answer this status (with `Retry-After` seconds when given).
    Status {
        status: u16,
        retry_after: Option<u64>,
        detail: Value,
    },
    /// Take the message and start its run, then fail the response, as when
    /// a connection drops after the server acted.
    LostResponse,
    /// Never answer, and take nothing.
    Hang,
}

/// What the mock does wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Each run's first stream ends (without `[DONE]`) after this many chunks.
    pub drop_after: Option<usize>,
    /// Each run's first stream goes silent after this many chunks.
    pub stall_after: Option<usize>,
    /// Each run's first stream reports a model failure (`event: error`)
    /// after this many chunks.
    pub error_after: Option<usize>,
    /// Raw text put into each run's first stream after this many events
    /// (after a cut, it is the last thing sent).
    pub insert: Option<(usize, String)>,
    /// `(seq, by)`: in every stream of a run, the chunk numbered `seq` comes
    /// `by` places early, as when two of Letta 0.16.8's batched writes to
    /// its Redis stream race (the order is then the stream's, for every
    /// reader and every resume).
    pub overtake: Option<(u64, usize)>,
    /// Applied to successive sends, first to last.
    pub send_failures: VecDeque<SendFailure>,
    pub chunk_delay: Duration,
}

/// What the mock saw.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// When each `POST .../messages` arrived.
    pub sends: Vec<Instant>,
    /// `starting_after` of each resume.
    pub resumes: Vec<u64>,
    /// The body of each `POST .../messages`.
    pub bodies: Vec<Value>,
}

struct Run {
    id: String,
    conversation_id: String,
    chunks: Vec<Value>,
    stop_reason: &'static str,
    delay: Duration,
    streamed_once: bool,
}

#[derive(Default)]
struct MockState {
    faults: Faults,
    seen: Seen,
    next_id: u64,
    conversations: HashMap<String, (String, Vec<Value>)>,
    /// Per conversation: the calls the scripted model still has to make,
    /// and how it replies.
    scripts: HashMap<String, Script>,
    runs: Vec<Run>,
    run_by_otid: HashMap<String, String>,
    /// The model of each agent created here.
    models: HashMap<String, Value>,
}

pub struct MockLetta {
    pub url: String,
    state: Arc<Mutex<MockState>>,
    task: tokio::task::JoinHandle<()>,
}

/// Assistant text chunks per run.
pub const CHUNKS: usize = 10;

impl MockLetta {
    pub async fn start(faults: Faults) -> MockLetta {
        let state = Arc::new(Mutex::new(MockState {
            faults,
            ..MockState::default()
        }));
        let app = Router::new()
            .route("/v1/agents/", post(create_agent))
            .route("/v1/agents/{id}", get(get_agent).patch(update_agent))
            .route("/v1/conversations/", post(create_conversation))
            .route("/v1/conversations/{id}", get(get_conversation))
            .route(
                "/v1/conversations/{id}/messages",
                get(list_messages).post(send_messages),
            )
            .route("/v1/conversations/{id}/fork", post(fork_conversation))
            .route(
                "/v1/conversations/{id}/recompile",
                post(|Path(id): Path<String>| async move {
                    axum::Json(json!(format!(
                        "<base_instructions>mock prompt of {id}</base_instructions>"
                    )))
                }),
            )
            .route(
                "/v1/conversations/{id}/cancel",
                post(|| async { axum::Json(json!({})) }),
            )
            .route(
                "/v1/models/",
                get(|| async {
                    axum::Json(json!([
                        { "handle": "mock/default-model", "display_name": "Mock default" },
                        { "handle": "openai-proxy/fake-model", "display_name": "Scripted" },
                    ]))
                }),
            )
            .route("/v1/runs/", get(list_runs))
            .route("/v1/runs/{id}", get(get_run))
            .route("/v1/runs/{id}/stream", post(resume_run))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockLetta { url, state, task }
    }

    pub fn seen(&self) -> Seen {
        self.state.lock().unwrap().seen.clone()
    }

    /// The whole assistant text of every run, in order.
    pub fn full_texts(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .runs
            .iter()
            .map(|run| {
                run.chunks
                    .iter()
                    .filter_map(|chunk| chunk["content"].as_str())
                    .collect()
            })
            .collect()
    }

    /// How many stored user messages carry this otid.
    pub fn stored_with_otid(&self, otid: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .conversations
            .values()
            .flat_map(|(_, messages)| messages)
            .filter(|message| message["otid"] == otid)
            .count()
    }
}

impl Drop for MockLetta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = State<Arc<Mutex<MockState>>>;

fn next_id(state: &mut MockState, prefix: &str) -> String {
    state.next_id += 1;
    format!("{prefix}-mock-{}", state.next_id)
}

/// Like Letta, an agent needs a model.
async fn create_agent(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    if body["model"].as_str().is_none_or(str::is_empty) {
        let detail = "INVALID_ARGUMENT: Must specify either model or llm_config in request";
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "detail": detail })),
        )
            .into_response();
    }
    let mut state = state.lock().unwrap();
    let id = next_id(&mut state, "agent");
    state.models.insert(id.clone(), body["model"].clone());
    axum::Json(json!({ "id": id, "name": body["name"], "model": body["model"] })).into_response()
}

/// The context window every mock agent reports.
pub const CONTEXT_WINDOW: u64 = 32_000;

async fn get_agent(State(state): Shared, Path(id): Path<String>) -> Response {
    let model = state.lock().unwrap().models.get(&id).cloned();
    let mut agent = json!({ "id": id, "llm_config": { "context_window": CONTEXT_WINDOW } });
    if let Some(model) = model {
        agent["model"] = model;
    }
    axum::Json(agent).into_response()
}

/// Like Letta: a new `model` replaces the agent's.
async fn update_agent(
    State(state): Shared,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(model) = body.get("model") {
        state
            .lock()
            .unwrap()
            .models
            .insert(id.clone(), model.clone());
    }
    get_agent(State(state), Path(id)).await
}

async fn create_conversation(
    State(state): Shared,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let agent_id = query.get("agent_id").cloned().unwrap_or_default();
    let id = next_id(&mut state, "conv");
    state
        .conversations
        .insert(id.clone(), (agent_id.clone(), Vec::new()));
    axum::Json(json!({ "id": id, "agent_id": agent_id })).into_response()
}

/// Like Letta: a new conversation of the same agent with the source's
/// messages (through `message_id`, when given).
async fn fork_conversation(
    State(state): Shared,
    Path(source): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let Some((agent_id, mut messages)) = state.conversations.get(&source).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "detail": "no such conversation" })),
        )
            .into_response();
    };
    if let Some(through) = query.get("message_id")
        && let Some(at) = messages
            .iter()
            .position(|message| message["id"] == *through)
    {
        messages.truncate(at + 1);
    }
    let id = next_id(&mut state, "conv");
    state
        .conversations
        .insert(id.clone(), (agent_id.clone(), messages));
    axum::Json(json!({ "id": id, "agent_id": agent_id })).into_response()
}

async fn get_conversation(State(state): Shared, Path(id): Path<String>) -> Response {
    match state.lock().unwrap().conversations.get(&id) {
        Some((agent_id, _)) => {
            axum::Json(json!({ "id": id, "agent_id": agent_id })).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "detail": "no such conversation" })),
        )
            .into_response(),
    }
}

/// Like Letta: newest first unless `order=asc`, up to `limit`, before the
/// message `before`.
async fn list_messages(
    State(state): Shared,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = state.lock().unwrap();
    let mut messages = state
        .conversations
        .get(&id)
        .map(|(_, messages)| messages.clone())
        .unwrap_or_default();
    if let Some(before) = query.get("before")
        && let Some(at) = messages.iter().position(|message| message["id"] == *before)
    {
        messages.truncate(at);
    }
    if query.get("order").map(String::as_str) != Some("asc") {
        messages.reverse();
    }
    if let Some(limit) = query.get("limit").and_then(|limit| limit.parse().ok()) {
        messages.truncate(limit);
    }
    axum::Json(Value::Array(messages)).into_response()
}

async fn list_runs(State(state): Shared, Query(query): Query<HashMap<String, String>>) -> Response {
    let state = state.lock().unwrap();
    let conversation = query.get("conversation_id");
    let runs: Vec<Value> = state
        .runs
        .iter()
        .rev()
        .filter(|run| conversation.is_none_or(|id| *id == run.conversation_id))
        .map(|run| json!({ "id": run.id, "status": "completed" }))
        .collect();
    axum::Json(Value::Array(runs)).into_response()
}

async fn get_run(Path(id): Path<String>) -> Response {
    axum::Json(json!({ "id": id, "status": "completed" })).into_response()
}

async fn send_messages(
    State(state): Shared,
    Path(conversation_id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let hangs = {
        let mut guard = state.lock().unwrap();
        let hangs = matches!(guard.faults.send_failures.front(), Some(SendFailure::Hang));
        if hangs {
            guard.faults.send_failures.pop_front();
            guard.seen.sends.push(Instant::now());
        }
        hangs
    };
    if hangs {
        return std::future::pending::<Response>().await;
    }
    let mut guard = state.lock().unwrap();
    guard.seen.sends.push(Instant::now());
    guard.seen.bodies.push(body.clone());
    let otid = body["messages"][0]["otid"].as_str().map(str::to_owned);
    // Letta answers a repeated otid with the stream of the run it started.
    if let Some(run_id) = otid
        .as_ref()
        .and_then(|otid| guard.run_by_otid.get(otid))
        .cloned()
    {
        drop(guard);
        return stream_response(state, &run_id, 0);
    }
    let failure = guard.faults.send_failures.pop_front();
    if let Some(SendFailure::Status {
        status,
        retry_after,
        detail,
    }) = &failure
    {
        let mut headers = HeaderMap::new();
        if let Some(seconds) = retry_after {
            headers.insert("retry-after", seconds.to_string().parse().unwrap());
        }
        let status = StatusCode::from_u16(*status).unwrap();
        return (status, headers, axum::Json(json!({ "detail": detail }))).into_response();
    }
    let run_id = next_id(&mut guard, "run");
    let (chunks, stop_reason, delay) = reply(
        &mut guard,
        &conversation_id,
        &run_id,
        &body,
        otid.as_deref(),
    );
    if let Some(otid) = otid {
        guard.run_by_otid.insert(otid, run_id.clone());
    }
    guard.runs.push(Run {
        id: run_id.clone(),
        conversation_id,
        chunks,
        stop_reason,
        delay,
        streamed_once: false,
    });
    drop(guard);
    if matches!(failure, Some(SendFailure::LostResponse)) {
        return (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({ "detail": "upstream connection lost" })),
        )
            .into_response();
    }
    stream_response(state, &run_id, 0)
}

async fn resume_run(
    State(state): Shared,
    Path(run_id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let after = body["starting_after"].as_u64().unwrap_or(0);
    state.lock().unwrap().seen.resumes.push(after);
    stream_response(state, &run_id, after)
}

/// How the scripted model behaves in a conversation, from directives in the
/// user's message, as the shared fake model reads them: `[[call:Name {json}]]`
/// (in order, one per response), `[[delay=S]]` between chunks,
/// `[[repeat=N]]` for longer replies.
#[derive(Debug, Clone, Default)]
struct Script {
    calls: VecDeque<(String, String)>,
    delay: Duration,
    repeat: usize,
    /// All calls in one response (the real fake model makes one at a time).
    parallel: bool,
    text: String,
}

impl Script {
    fn parse(text: &str) -> Script {
        let mut script = Script {
            repeat: 1,
            ..Script::default()
        };
        let mut rest = text;
        while let Some(start) = rest.find("[[") {
            let Some(end) = rest[start..].find("]]") else {
                break;
            };
            let directive = &rest[start + 2..start + end];
            if let Some(call) = directive.strip_prefix("call:") {
                let (name, args) = call.split_once(' ').unwrap_or((call, "{}"));
                script
                    .calls
                    .push_back((name.to_owned(), args.trim().to_owned()));
            } else if let Some(seconds) = directive.strip_prefix("delay=") {
                script.delay = Duration::from_secs_f64(seconds.parse().unwrap_or(0.0));
            } else if directive == "parallel" {
                script.parallel = true;
            } else if let Some(times) = directive.strip_prefix("repeat=") {
                script.repeat = times.parse().unwrap_or(1);
            }
            rest = &rest[start + end + 2..];
        }
        script.text = text
            .split("]]")
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        script
    }
}

/// The chunks of the next run of a conversation, its stop reason and its
/// pace; stores the messages the server would.
fn reply(
    state: &mut MockState,
    conversation_id: &str,
    run_id: &str,
    body: &Value,
    otid: Option<&str>,
) -> (Vec<Value>, &'static str, Duration) {
    let mut stored = Vec::new();
    let mut tool_return = None;
    // Results of calls may come before a new user message, as on Letta.
    for message in body["messages"].as_array().into_iter().flatten() {
        if message["type"] == "approval" {
            for approval in message["approvals"].as_array().into_iter().flatten() {
                tool_return = approval["tool_return"].as_str().map(str::to_owned);
                stored.push(json!({ "message_type": "tool_return_message", "tool_call_id": approval["tool_call_id"], "tool_return": tool_return }));
            }
        } else {
            let text = super::scripted_model::text_of(&message["content"]);
            state
                .scripts
                .insert(conversation_id.to_owned(), Script::parse(&text));
            stored.push(
                json!({ "message_type": "user_message", "otid": otid, "content": message["content"] }),
            );
            tool_return = None;
        }
    }
    let script = state.scripts.entry(conversation_id.to_owned()).or_default();
    let delay = script.delay;
    let mut chunks = vec![json!({ "message_type": "ping", "seq_id": 1, "run_id": run_id })];
    // One call per response, or all of them at once with [[parallel]].
    let take = if script.parallel {
        script.calls.len()
    } else {
        1
    };
    let calls: Vec<(String, String)> = (0..take).filter_map(|_| script.calls.pop_front()).collect();
    let stop_reason = if !calls.is_empty() {
        for (index, (name, args)) in calls.into_iter().enumerate() {
            let call_id = format!("call-{run_id}-{index}");
            let pieces = [
                json!({ "name": name, "arguments": null, "tool_call_id": call_id }),
                json!({ "name": null, "arguments": args, "tool_call_id": call_id }),
            ];
            for piece in pieces {
                let seq = chunks.len() + 1;
                chunks.push(json!({ "message_type": "approval_request_message", "seq_id": seq, "run_id": run_id, "tool_call": piece, "tool_calls": piece }));
            }
            stored.push(json!({ "message_type": "approval_request_message", "tool_call": { "name": name, "arguments": args, "tool_call_id": call_id } }));
        }
        "requires_approval"
    } else {
        let opening = match &tool_return {
            Some(result) => format!("The tool said: {result} "),
            None => format!("Echo: {} ", script.text),
        };
        let mut pieces = vec![opening];
        pieces.extend((1..CHUNKS * script.repeat.max(1)).map(|index| format!("w{index} ")));
        for piece in &pieces {
            let seq = chunks.len() + 1;
            chunks.push(json!({ "message_type": "assistant_message", "id": format!("message-{run_id}"), "content": piece, "seq_id": seq, "run_id": run_id }));
        }
        stored.push(json!({ "message_type": "assistant_message", "id": format!("message-{run_id}"), "content": pieces.concat(), "run_id": run_id }));
        "end_turn"
    };
    let conversation = state
        .conversations
        .entry(conversation_id.to_owned())
        .or_insert_with(|| {
            (
                body["agent_id"].as_str().unwrap_or_default().to_owned(),
                Vec::new(),
            )
        });
    // Stored as Letta lists them: each with an id and the time it was made.
    let date = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let first = conversation.1.len();
    conversation
        .1
        .extend(stored.into_iter().enumerate().map(|(index, mut message)| {
            if message["id"].is_null() {
                message["id"] = json!(format!("message-{run_id}-{}", first + index));
            }
            message["date"] = json!(date);
            message
        }));
    (chunks, stop_reason, delay)
}

fn stream_response(state: Arc<Mutex<MockState>>, run_id: &str, after: u64) -> Response {
    let mut guard = state.lock().unwrap();
    let faults = guard.faults.clone();
    let Some(run) = guard.runs.iter_mut().find(|run| run.id == run_id) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "detail": "no such run" })),
        )
            .into_response();
    };
    let first = !std::mem::replace(&mut run.streamed_once, true);
    let delay = faults.chunk_delay.max(run.delay);
    let mut chunks = run.chunks.clone();
    if let Some((seq, by)) = faults.overtake
        && let Some(at) = chunks.iter().position(|chunk| chunk["seq_id"] == seq)
    {
        let chunk = chunks.remove(at);
        chunks.insert(at.saturating_sub(by), chunk);
    }
    let mut events: Vec<String> = chunks
        .iter()
        .filter(|chunk| chunk["seq_id"].as_u64().is_some_and(|seq| seq > after))
        .map(|chunk| format!("data: {chunk}\n\n"))
        .collect();
    let cut = if first {
        faults.drop_after.or(faults.stall_after)
    } else {
        None
    };
    let failure = faults.error_after.filter(|_| first);
    let ends = match (failure, cut) {
        (Some(count), _) => {
            events.truncate(count);
            events.push(
                "event: error\ndata: {\"error\": {\"message\": \"the model provider failed: scripted\", \"type\": \"llm_error\"}}\n\n"
                    .to_owned(),
            );
            Ending::Drop
        }
        (None, Some(count)) => {
            events.truncate(count);
            if faults.stall_after.is_some() {
                Ending::Stall
            } else {
                Ending::Drop
            }
        }
        (None, None) => {
            events.push(format!(
                "data: {}\n\n",
                json!({ "message_type": "stop_reason", "stop_reason": run.stop_reason })
            ));
            events.push(format!(
                "data: {}\n\n",
                json!({ "message_type": "usage_statistics", "total_tokens": 42 })
            ));
            events.push("data: [DONE]\n\n".to_owned());
            Ending::Done
        }
    };
    if let Some((at, raw)) = faults.insert.filter(|_| first) {
        events.insert(at.min(events.len()), raw);
    }
    drop(guard);
    let body = futures_util::stream::iter(events)
        .then(move |event| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, Infallible>(Bytes::from(event))
        })
        .chain(futures_util::stream::once(async move {
            if ends == Ending::Stall {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Bytes::new())
        }));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Done,
    Drop,
    Stall,
}
