//! A scripted model server speaking OpenAI's Chat Completions stream, for
//! the local backend: the same directives as the integration tier's
//! scripted model (`tests/tools/scripted_model.py`), read from the last
//! user message:
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
    pub url: String,
    state: Arc<Mutex<ModelState>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    pub async fn start() -> ScriptedModel {
        let state = Arc::new(Mutex::new(ModelState::default()));
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(chat))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedModel { url, state, task }
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

async fn chat(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let user_at = messages
        .iter()
        .rposition(|message| message["role"] == "user");
    let user_text = user_at
        .map(|at| text_of(&messages[at]["content"]))
        .unwrap_or_default();
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
        return error(code.parse().unwrap_or(500), "scripted failure", &code);
    }
    if attempt == 1 {
        if let Some(code) = directive("fail-once") {
            return error(code.parse().unwrap_or(500), "scripted failure once", &code);
        }
        if directive("context-once").is_some() {
            return error(
                400,
                "This model's maximum context length is 32000 tokens.",
                "context_length_exceeded",
            );
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

    let after_user = &messages[user_at.map_or(0, |at| at + 1)..];
    let done = after_user
        .iter()
        .filter(|message| message["role"] == "tool")
        .count();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let script = scripted_calls(&user_text);
    let mut calls: Vec<(String, String)> = Vec::new();
    let text = if done < script.len() {
        calls = if directive("parallel").is_some() {
            script[done..].to_vec()
        } else {
            vec![script[done].clone()]
        };
        String::new()
    } else if last["role"] == "tool" {
        format!("The tool said: {}", text_of(&last["content"]))
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
    let text = vec![text; repeat].join(" ");
    stream(chunks(&calls, &text), delay, cut)
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
