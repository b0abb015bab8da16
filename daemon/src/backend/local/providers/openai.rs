//! OpenAI's Chat Completions, streamed: the wire format of OpenAI and of
//! every compatible server.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ChatMessage, ModelEvent, ModelInfo, ModelRequest, ModelStream, ProviderConfig, ProviderError,
    known_context_window,
};

/// The most of an answer read from one stream.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The most of an error body kept.
const MAX_ERROR_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub(super) struct ChatCompletions {
    config: ProviderConfig,
    http: reqwest::Client,
}

impl ChatCompletions {
    pub(super) fn new(config: ProviderConfig) -> ChatCompletions {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("letta-daemon/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        ChatCompletions { config, http }
    }

    pub(super) fn configured_window(&self) -> Option<u64> {
        self.config.context_window
    }

    pub(super) fn default_model(&self) -> Option<&str> {
        self.config.default_model.as_deref()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn connect_error(&self, err: &reqwest::Error) -> ProviderError {
        ProviderError::Connect {
            provider: self.config.name.clone(),
            message: format!("{} ({})", err_without_url(err), self.config.base_url),
        }
    }

    pub(super) async fn list_models(&self, timeout: Duration) -> Vec<ModelInfo> {
        let request = self.authorized(self.http.get(self.url("/models")).timeout(timeout));
        let Ok(response) = request.send().await else {
            if !self.config.optional {
                tracing::info!(provider = %self.config.name, "cannot list the provider's models");
            }
            return Vec::new();
        };
        let Ok(body) = response
            .error_for_status()
            .map(reqwest::Response::json::<Value>)
        else {
            return Vec::new();
        };
        let Ok(body) = body.await else {
            return Vec::new();
        };
        body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|model| {
                let id = model["id"].as_str()?;
                Some(ModelInfo {
                    handle: format!("{}/{id}", self.config.name),
                    provider: self.config.name.clone(),
                    model: id.to_owned(),
                    context_window: model["context_length"]
                        .as_u64()
                        .or_else(|| model["context_window"].as_u64())
                        .or_else(|| known_context_window(id)),
                })
            })
            .collect()
    }

    pub(super) async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ProviderError> {
        let body = request_body(&request);
        let response = self
            .authorized(self.http.post(self.url("/chat/completions")))
            .json(&body)
            .send()
            .await
            .map_err(|err| self.connect_error(&err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.failure(response).await);
        }
        let state = Reading {
            events: response.bytes_stream().eventsource(),
            decoder: Decoder::default(),
            read: 0,
            provider: self.config.name.clone(),
            ended: false,
        };
        // Each SSE event becomes zero or more model events; the stream ends
        // at `[DONE]`, and one that ends before it was cut off.
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            if state.ended {
                return None;
            }
            let cut = |message: String| ProviderError::Stream {
                provider: state.provider.clone(),
                message,
            };
            let items = match state.events.next().await {
                None if state.decoder.finished() => return None,
                None => {
                    state.ended = true;
                    vec![Err(cut("the stream ended before [DONE]".to_owned()))]
                }
                Some(Err(err)) => {
                    state.ended = true;
                    vec![Err(cut(err.to_string()))]
                }
                Some(Ok(event)) => {
                    state.read += event.data.len();
                    if state.read > MAX_ANSWER_BYTES {
                        state.ended = true;
                        vec![Err(cut(format!(
                            "the answer is longer than {MAX_ANSWER_BYTES} bytes"
                        )))]
                    } else {
                        let items = state.decoder.decode(&state.provider, &event.data);
                        state.ended = state.decoder.finished();
                        items
                    }
                }
            };
            Some((futures_util::stream::iter(items), state))
        })
        .flatten();
        Ok(Box::pin(stream))
    }

    /// A non-2xx answer as an error, with the provider's message.
    async fn failure(&self, response: reqwest::Response) -> ProviderError {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds.min(60)));
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ERROR_BYTES {
                body.truncate(MAX_ERROR_BYTES);
                break;
            }
        }
        let text = String::from_utf8_lossy(&body);
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let message = parsed
            .as_ref()
            .and_then(|body| {
                body.pointer("/error/message")
                    .or_else(|| body.get("message"))
                    .or_else(|| body.get("error"))
            })
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(500).collect());
        let code = parsed
            .as_ref()
            .and_then(|body| body.pointer("/error/code"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let provider = self.config.name.clone();
        if code == "context_length_exceeded" || is_context_length_message(&message) {
            return ProviderError::ContextLength { provider, message };
        }
        ProviderError::Status {
            provider,
            status,
            message,
            retry_after,
        }
    }
}

/// reqwest's message without the URL (which may carry credentials).
fn err_without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "");
    }
    text
}

fn is_context_length_message(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("context length")
        || lower.contains("context_length")
        || lower.contains("context window")
        || lower.contains("maximum context")
        || lower.contains("too many tokens")
}

/// A response being read.
struct Reading<S> {
    events: S,
    decoder: Decoder,
    read: usize,
    provider: String,
    ended: bool,
}

fn request_body(request: &ModelRequest) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": request.system })];
    messages.extend(request.messages.iter().map(|message| match message {
        ChatMessage::User(content) => json!({ "role": "user", "content": content }),
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => {
            let mut message = json!({ "role": "assistant", "content": content });
            if !tool_calls.is_empty() {
                message["tool_calls"] = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": { "name": call.name, "arguments": call.arguments },
                        })
                    })
                    .collect();
            }
            message
        }
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => json!({ "role": "tool", "tool_call_id": tool_call_id, "content": content }),
    }));
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                })
            })
            .collect();
    }
    body
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// DeepSeek, vLLM, LM Studio and llama.cpp name it this way,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter and Ollama this way.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Turns SSE payloads into model events; remembers which tool calls began.
#[derive(Default)]
struct Decoder {
    started: Vec<usize>,
    done: bool,
}

impl Decoder {
    fn decode(&mut self, provider: &str, data: &str) -> Vec<Result<ModelEvent, ProviderError>> {
        let data = data.trim();
        if data.is_empty() || self.done {
            return Vec::new();
        }
        if data == "[DONE]" {
            self.done = true;
            return Vec::new();
        }
        let chunk: StreamChunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(err) => {
                // Some servers report failures inside the stream.
                let message = serde_json::from_str::<Value>(data)
                    .ok()
                    .and_then(|value| {
                        value
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| format!("unreadable chunk: {err}"));
                return vec![Err(ProviderError::Stream {
                    provider: provider.to_owned(),
                    message,
                })];
            }
        };
        let mut events = Vec::new();
        for choice in chunk.choices {
            let delta = choice.delta;
            if let Some(reasoning) = delta.reasoning_content.or(delta.reasoning)
                && !reasoning.is_empty()
            {
                events.push(Ok(ModelEvent::Reasoning(reasoning)));
            }
            if let Some(text) = delta.content
                && !text.is_empty()
            {
                events.push(Ok(ModelEvent::Text(text)));
            }
            for (position, call) in delta.tool_calls.into_iter().enumerate() {
                let index = call.index.unwrap_or(position);
                let function = call.function.unwrap_or(FunctionDelta {
                    name: None,
                    arguments: None,
                });
                if !self.started.contains(&index) {
                    self.started.push(index);
                    events.push(Ok(ModelEvent::ToolCallStart {
                        index,
                        id: call
                            .id
                            .unwrap_or_else(|| format!("call_{:024x}", fastrand::u128(..) >> 32)),
                        name: function.name.unwrap_or_default(),
                    }));
                }
                if let Some(fragment) = function.arguments
                    && !fragment.is_empty()
                {
                    events.push(Ok(ModelEvent::ToolCallArguments { index, fragment }));
                }
            }
        }
        if let Some(usage) = chunk.usage {
            events.push(Ok(ModelEvent::Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            }));
        }
        events
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reasoning_and_tool_calls_decode() {
        let mut decoder = Decoder::default();
        let events = decoder.decode(
            "p",
            r#"{"choices":[{"delta":{"reasoning_content":"hm","content":"Hi"}}]}"#,
        );
        assert_eq!(
            events.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            vec![
                ModelEvent::Reasoning("hm".into()),
                ModelEvent::Text("Hi".into())
            ]
        );
        let events = decoder.decode(
            "p",
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"Bash","arguments":"{\"a\""}}]}}]}"#,
        );
        assert_eq!(events.len(), 2);
        let events =
            decoder.decode("p", r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#);
        assert_eq!(
            events[0].as_ref().unwrap(),
            &ModelEvent::ToolCallArguments {
                index: 0,
                fragment: ":1}".into()
            }
        );
        assert!(decoder.decode("p", "[DONE]").is_empty());
        assert!(decoder.finished());
        assert!(
            Decoder::default()
                .decode("p", "{oops")
                .pop()
                .unwrap()
                .is_err()
        );
    }
}
