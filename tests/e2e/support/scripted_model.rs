//! A scripted model server for the local backend, speaking OpenAI's Chat
//! Completions (`/v1/chat/completions`) and Anthropic's Messages
//! (`/v1/messages`) streams. It follows the same directives as the
//! integration tier's scripted model (`tests/tools/scripted_model.py`),
//! read from the last user message:
//!
//!   [[call:Tool {"json": "args"}]]  call these tools in order, one per
//!                                   response, then answer in text
//!   [[parallel]]                    every scripted call in one response
//!   [[repeat=N]]                    the text answer N times
//!   [[delay=S]]                     seconds between streamed chunks
//!   [[http=CODE]]                   fail with that status
//!
//! and faults that happen once per user message, then the model behaves:
//!
//!   [[fail-once=CODE]]              the first request fails with CODE
//!                                   (429 comes with `Retry-After: 1`)
//!   [[cut-once=N]]                  the first answer breaks off after N chunks
//!   [[context-once]]                the first request is "too long"
//!
//! Without a call script the answer is "Echo: <user text>" (its first 200
//! characters), or after a tool result "The tool said: <result>".

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};

pub const MODEL_ID: &str = "fake-model";
const DEFAULT_DELAY: Duration = Duration::from_millis(20);

#[derive(Default)]
struct ModelState {
    /// Every request body, in order.
    requests: Vec<Value>,
    /// Requests seen per user message, for the `-once` faults.
    attempts: HashMap<String, usize>,
}

pub struct ScriptedModel {
    /// The OpenAI-style base URL (`…/v1`).
    pub url: String,
    /// The server's root, Anthropic's base URL.
    pub root: String,
    state: Arc<Mutex<ModelState>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    pub async fn start() -> ScriptedModel {
        let state = Arc::new(Mutex::new(ModelState::default()));
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/messages", post(messages))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let url = format!("{root}/v1");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedModel {
            url,
            root,
            state,
            task,
        }
    }

    /// Every chat request received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = State<Arc<Mutex<ModelState>>>;

async fn models() -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{ "id": MODEL_ID, "object": "model", "owned_by": "tests", "context_length": 32000 }],
    }))
    .into_response()
}

/// The text of a message's content (a string or parts), without system
/// reminders: like a real model, the script reads what the user wrote.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => without_reminders(text),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .map(without_reminders)
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn without_reminders(text: &str) -> String {
    const OPEN: &str = "<system-reminder>";
    const CLOSE: &str = "</system-reminder>";
    let mut rest = text;
    let mut kept = String::new();
    while let Some(start) = rest.find(OPEN) {
        kept.push_str(&rest[..start]);
        match rest[start..].find(CLOSE) {
            Some(end) => rest = rest[start + end + CLOSE.len()..].trim_start(),
            None => return kept,
        }
    }
    kept.push_str(rest);
    kept
}

/// `[[name=value]]` and `[[name]]` directives of a text.
fn directives(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        let Some(end) = rest[start..].find("]]") else {
            break;
        };
        let directive = &rest[start + 2..start + end];
        let (name, value) = directive.split_once('=').unwrap_or((directive, "1"));
        found.push((name.to_owned(), value.to_owned()));
        rest = &rest[start + end + 2..];
    }
    found
}

fn scripted_calls(text: &str) -> Vec<(String, String)> {
    directives(text)
        .into_iter()
        .filter_map(|(name, value)| {
            let call = name.strip_prefix("call:")?;
            // `[[call:Name {json}]]` has no '='; a json value may contain one.
            let whole = if value == "1" {
                call.to_owned()
            } else {
                format!("{call}={value}")
            };
            let (tool, args) = whole.split_once(' ').unwrap_or((&whole, "{}"));
            Some((tool.to_owned(), args.trim().to_owned()))
        })
        .collect()
}

fn error(status: u16, message: &str, code: &str) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "error": { "message": message, "type": "scripted", "code": code } })),
    )
        .into_response();
    if status == 429 {
        response
            .headers_mut()
            .insert("retry-after", "1".parse().unwrap());
    }
    response
}

/// A conversation as the script reads it, whichever wire format sent it.
enum Said {
    User(String),
    Tool(String),
    Assistant,
}

/// What the model does for one request.
struct Plan {
    calls: Vec<(String, String)>,
    text: String,
    delay: Duration,
    cut: Option<usize>,
}

/// Decides the answer, or the failure, for a conversation.
fn plan(state: &Shared, body: &Value, said: &[Said]) -> Result<Plan, Box<Response>> {
    let user_at = said.iter().rposition(|item| matches!(item, Said::User(_)));
    let user_text = match user_at.map(|at| &said[at]) {
        Some(Said::User(text)) => text.clone(),
        _ => String::new(),
    };
    let attempt = {
        let mut state = state.lock().unwrap();
        state.requests.push(body.clone());
        let attempts = state.attempts.entry(user_text.clone()).or_default();
        *attempts += 1;
        *attempts
    };
    let found = directives(&user_text);
    let directive = |name: &str| {
        found
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    if let Some(code) = directive("http") {
        let status = code.parse().unwrap_or(500);
        return Err(Box::new(error(status, "scripted failure", &code)));
    }
    if attempt == 1 {
        if let Some(code) = directive("fail-once") {
            let status = code.parse().unwrap_or(500);
            return Err(Box::new(error(status, "scripted failure once", &code)));
        }
        if directive("context-once").is_some() {
            return Err(Box::new(error(
                400,
                "This model's maximum context length is 32000 tokens.",
                "context_length_exceeded",
            )));
        }
    }
    let cut = directive("cut-once")
        .filter(|_| attempt == 1)
        .and_then(|count| count.parse::<usize>().ok());
    let delay = directive("delay")
        .and_then(|seconds| seconds.parse::<f64>().ok())
        .map_or(DEFAULT_DELAY, Duration::from_secs_f64);
    let repeat = directive("repeat")
        .and_then(|times| times.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);

    let done = said[user_at.map_or(0, |at| at + 1)..]
        .iter()
        .filter(|item| matches!(item, Said::Tool(_)))
        .count();
    // A model calls only tools it is offered: a request with none (a
    // summary asked for) is answered in text, whatever the script says.
    let offered = body["tools"]
        .as_array()
        .is_some_and(|tools| !tools.is_empty());
    let script = if offered {
        scripted_calls(&user_text)
    } else {
        Vec::new()
    };
    let mut calls: Vec<(String, String)> = Vec::new();
    let text = if done < script.len() {
        calls = if directive("parallel").is_some() {
            script[done..].to_vec()
        } else {
            vec![script[done].clone()]
        };
        String::new()
    } else if let Some(Said::Tool(result)) = said.last() {
        format!("The tool said: {result}")
    } else {
        let mut plain = user_text.clone();
        while let Some(start) = plain.find("[[") {
            match plain[start..].find("]]") {
                Some(end) => plain.replace_range(start..start + end + 2, ""),
                None => break,
            }
        }
        // Like the integration tier's model: at most 200 characters.
        let plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
        format!("Echo: {}", plain.chars().take(200).collect::<String>())
    };
    Ok(Plan {
        calls,
        text: vec![text; repeat].join(" "),
        delay,
        cut,
    })
}

async fn chat(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let said: Vec<Said> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|message| match message["role"].as_str() {
            Some("user") => Some(Said::User(text_of(&message["content"]))),
            Some("tool") => Some(Said::Tool(text_of(&message["content"]))),
            Some("assistant") => Some(Said::Assistant),
            _ => None,
        })
        .collect();
    match plan(&State(state), &body, &said) {
        Ok(plan) => stream(chunks(&plan.calls, &plan.text), plan.delay, plan.cut),
        Err(failure) => *failure,
    }
}

/// Anthropic's Messages. With `thinking` on, the model thinks first, and
/// refuses a conversation whose tool-using turns lost their signed
/// thinking, as the real API does.
async fn messages(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let thinking = body["thinking"]["type"] == "enabled";
    let mut said = Vec::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        let blocks: Vec<Value> = match &message["content"] {
            Value::String(text) => vec![json!({ "type": "text", "text": text })],
            Value::Array(blocks) => blocks.clone(),
            _ => Vec::new(),
        };
        if message["role"] == "assistant" {
            let uses_tools = blocks.iter().any(|block| block["type"] == "tool_use");
            let signed = blocks.first().is_some_and(|block| {
                block["type"] == "thinking" && block["signature"].as_str().is_some()
            });
            if thinking && uses_tools && !signed {
                return error(
                    400,
                    "messages: an assistant turn with tool_use must start with its thinking block",
                    "invalid_request_error",
                );
            }
            said.push(Said::Assistant);
            continue;
        }
        for block in blocks {
            match block["type"].as_str() {
                Some("tool_result") => said.push(Said::Tool(text_of(&block["content"]))),
                Some("text") => said.push(Said::User(text_of(&block["text"]))),
                _ => {}
            }
        }
    }
    match plan(&State(state), &body, &said) {
        Ok(plan) => stream_events(
            anthropic_events(&plan.calls, &plan.text, thinking),
            plan.delay,
            plan.cut,
        ),
        Err(failure) => *failure,
    }
}

/// Anthropic's stream: `(event name, data)` pairs.
fn anthropic_events(
    calls: &[(String, String)],
    text: &str,
    thinking: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |event: &str, data: Value| out.push((event.to_owned(), data.to_string()));
    push(
        "message_start",
        json!({ "type": "message_start", "message": { "id": "msg_scripted", "type": "message", "role": "assistant",
            "content": [], "model": MODEL_ID, "usage": { "input_tokens": 100, "output_tokens": 0 } } }),
    );
    let mut index = 0;
    if thinking {
        push(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": { "type": "thinking", "thinking": "" } }),
        );
        push(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": index, "delta": { "type": "thinking_delta", "thinking": "Thinking it over." } }),
        );
        push(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": index, "delta": { "type": "signature_delta", "signature": "sig-scripted" } }),
        );
        push(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": index }),
        );
        index += 1;
    }
    if calls.is_empty() {
        push(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": { "type": "text", "text": "" } }),
        );
        for (position, word) in text.split(' ').enumerate() {
            let piece = if position == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            };
            push(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": piece } }),
            );
        }
        push(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": index }),
        );
    }
    for (name, arguments) in calls {
        let id = format!("toolu_{:016x}", fastrand::u64(..));
        push(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": { "type": "tool_use", "id": id, "name": name, "input": {} } }),
        );
        let chars: Vec<char> = arguments.chars().collect();
        for piece in chars.chunks(chars.len().div_ceil(3).max(1)) {
            let piece: String = piece.iter().collect();
            push(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": index, "delta": { "type": "input_json_delta", "partial_json": piece } }),
            );
        }
        push(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": index }),
        );
        index += 1;
    }
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    push(
        "message_delta",
        json!({ "type": "message_delta", "delta": { "stop_reason": stop }, "usage": { "output_tokens": 10 } }),
    );
    push("message_stop", json!({ "type": "message_stop" }));
    out
}

fn stream_events(
    mut events: Vec<(String, String)>,
    delay: Duration,
    cut: Option<usize>,
) -> Response {
    if let Some(count) = cut {
        events.truncate(count);
    }
    let body = futures_util::stream::iter(events).then(move |(event, data)| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, Infallible>(Bytes::from(format!("event: {event}\ndata: {data}\n\n")))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

/// The stream's `data:` payloads.
fn chunks(calls: &[(String, String)], text: &str) -> Vec<String> {
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({
            "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": MODEL_ID,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
        .to_string()
    };
    let mut out = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    for (index, (name, arguments)) in calls.iter().enumerate() {
        let id = format!("call_{:016x}", fastrand::u64(..));
        out.push(chunk(
            json!({ "tool_calls": [{ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] }),
            None,
        ));
        // Arguments arrive in pieces, as real models split them.
        let chars: Vec<char> = arguments.chars().collect();
        for piece in chars.chunks(chars.len().div_ceil(3).max(1)) {
            let piece: String = piece.iter().collect();
            out.push(chunk(
                json!({ "tool_calls": [{ "index": index, "function": { "arguments": piece } }] }),
                None,
            ));
        }
    }
    if calls.is_empty() {
        for (index, word) in text.split(' ').enumerate() {
            let piece = if index == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            };
            out.push(chunk(json!({ "content": piece }), None));
        }
        out.push(chunk(json!({}), Some("stop")));
    } else {
        out.push(chunk(json!({}), Some("tool_calls")));
    }
    out.push(
        json!({ "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "choices": [],
                "usage": { "prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110 } })
        .to_string(),
    );
    out.push("[DONE]".to_owned());
    out
}

fn stream(mut payloads: Vec<String>, delay: Duration, cut: Option<usize>) -> Response {
    if let Some(count) = cut {
        payloads.truncate(count);
    }
    let body = futures_util::stream::iter(payloads).then(move |payload| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, Infallible>(Bytes::from(format!("data: {payload}\n\n")))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}
