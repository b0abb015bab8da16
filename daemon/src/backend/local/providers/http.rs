//! What every provider's HTTP client shares: authentication, error bodies
//! read within bounds, model lists, and a server-sent-event stream turned
//! into model events by a wire format's decoder.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::Value;

use super::{
    ModelEvent, ModelInfo, ModelStream, ProviderConfig, ProviderError, known_context_window,
};

/// The most of an answer read from one stream.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The most of an error body kept.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Turns one server-sent event of a wire format into model events.
pub(super) trait Decoder: Send + 'static {
    fn decode(
        &mut self,
        provider: &str,
        event: &str,
        data: &str,
    ) -> Vec<Result<ModelEvent, ProviderError>>;
    /// The stream said it is complete.
    fn finished(&self) -> bool;
}

/// How a provider takes its key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Auth {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// `x-api-key: KEY` with `anthropic-version`.
    Anthropic,
}

#[derive(Clone)]
pub(super) struct Endpoint {
    pub(super) config: ProviderConfig,
    http: reqwest::Client,
    auth: Auth,
}

impl Endpoint {
    pub(super) fn new(config: ProviderConfig, auth: Auth) -> Endpoint {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("letta-daemon/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Endpoint { config, http, auth }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = match self.auth {
            Auth::Bearer => request,
            Auth::Anthropic => request.header("anthropic-version", "2023-06-01"),
        };
        match (&self.config.api_key, self.auth) {
            (Some(key), Auth::Bearer) => request.bearer_auth(key),
            (Some(key), Auth::Anthropic) => request.header("x-api-key", key),
            (None, _) => request,
        }
    }

    fn connect_error(&self, err: &reqwest::Error) -> ProviderError {
        ProviderError::Connect {
            provider: self.config.name.clone(),
            message: format!("{} ({})", err_without_url(err), self.config.base_url),
        }
    }

    /// The models `GET {base}{path}` lists (`{"data": [{"id": ...}]}`).
    pub(super) async fn list_models(&self, path: &str, timeout: Duration) -> Vec<ModelInfo> {
        let request = self.authorized(self.http.get(self.url(path)).timeout(timeout));
        let body = match request.send().await {
            Ok(response) if response.status().is_success() => response.json::<Value>().await,
            Ok(response) => {
                tracing::info!(provider = %self.config.name, status = %response.status(), "the provider did not list its models");
                return Vec::new();
            }
            Err(err) => {
                if !self.config.optional {
                    tracing::info!(provider = %self.config.name, error = %err_without_url(&err), "cannot list the provider's models");
                }
                return Vec::new();
            }
        };
        let Ok(body) = body else {
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

    /// POSTs the JSON `body` to `{base}{path}` and decodes the event stream.
    pub(super) async fn stream(
        &self,
        path: &str,
        body: Vec<u8>,
        decoder: impl Decoder,
    ) -> Result<ModelStream, ProviderError> {
        let response = self
            .authorized(self.http.post(self.url(path)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|err| self.connect_error(&err))?;
        if !response.status().is_success() {
            return Err(self.failure(response).await);
        }
        let state = Reading {
            events: response.bytes_stream().eventsource(),
            decoder,
            read: 0,
            provider: self.config.name.clone(),
            ended: false,
        };
        // Each event becomes zero or more model events; the stream ends
        // when the decoder saw its end, and one that ends before was cut.
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
                    vec![Err(
                        cut("the stream ended before the answer did".to_owned()),
                    )]
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
                        let items =
                            state
                                .decoder
                                .decode(&state.provider, &event.event, &event.data);
                        state.ended = state.decoder.finished() || items.iter().any(Result::is_err);
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

/// A response being read.
struct Reading<S, D> {
    events: S,
    decoder: D,
    read: usize,
    provider: String,
    ended: bool,
}

/// reqwest's message without the URL (which may carry credentials).
fn err_without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "");
    }
    text
}

pub(super) fn is_context_length_message(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "context length",
        "context_length",
        "context window",
        "maximum context",
        "too many tokens",
        "prompt is too long",
    ]
    .iter()
    .any(|phrase| lower.contains(phrase))
}

/// The message of an error reported inside a stream.
pub(super) fn stream_error(provider: &str, data: &str, fallback: String) -> ProviderError {
    let message = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|value| {
            value
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or(fallback);
    if is_context_length_message(&message) {
        return ProviderError::ContextLength {
            provider: provider.to_owned(),
            message,
        };
    }
    ProviderError::Stream {
        provider: provider.to_owned(),
        message,
    }
}
