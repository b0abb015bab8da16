//! Client for the Letta server's REST API: agents, conversations, messages
//! and runs, with run streams as typed chunks ([`stream`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), letta_api::LettaError> {
//! let api = letta_api::LettaApi::new("http://localhost:8283", None)?;
//! let agents = api.list_agents(&serde_json::json!({ "limit": 10 })).await?;
//! # Ok(()) }
//! ```
//!
//! Requests that are safe to repeat (reads, updates, deletes, stream
//! resumes) are retried with exponential backoff and jitter on connection
//! errors, 429 (honouring `Retry-After`, capped at [`MAX_RETRY_AFTER`]) and
//! 5xx. Sending a message is never retried blindly: the caller owns that
//! decision, because the message's `otid` lets it look for the run a failed
//! attempt may have started.
//!
//! Every request has an overall deadline ([`DEFAULT_REQUEST_TIMEOUT`], see
//! [`LettaApi::with_request_timeout`]); for a run stream it covers opening
//! the stream, and the caller watches the stream for stalls.

mod agent_files;
mod error;
mod order;
pub mod stream;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde_json::{Value, json};

pub use error::LettaError;
pub use stream::{Chunk, RunStream, StreamItem, StreamMessage, ToolCallDelta};

/// Attempts for a retryable request, the first included.
const MAX_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured: a server (or a proxy) asking for
/// an hour must not park a turn for an hour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long one request may take, unless [`LettaApi::with_request_timeout`]
/// says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A Letta server.
#[derive(Clone)]
pub struct LettaApi {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<ApiKey>,
    request_timeout: Duration,
}

/// An API key that never shows in `Debug` output or logs.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    Never,
}

/// What the answer's body is: read whole within the deadline, or a stream
/// the caller reads for as long as the run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Whole,
    Stream,
}

impl LettaApi {
    /// A client for the server at `base_url`, authenticating with
    /// `api_key` when given.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<LettaApi, LettaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("letta-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| LettaError::Connect {
                url: base_url.to_owned(),
                message: err.to_string(),
            })?;
        Ok(LettaApi {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.map(ApiKey),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Sets how long one request may take before it fails with
    /// [`LettaError::Timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> LettaApi {
        self.request_timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    // --- agents

    pub async fn list_agents(&self, query: &Value) -> Result<Value, LettaError> {
        self.json(Method::GET, "/v1/agents/", Some(query), None, Retry::Safe)
            .await
    }

    pub async fn retrieve_agent(&self, agent_id: &str) -> Result<Value, LettaError> {
        self.json(
            Method::GET,
            &format!("/v1/agents/{}", segment(agent_id)),
            None,
            None,
            Retry::Safe,
        )
        .await
    }

    pub async fn create_agent(&self, body: &Value) -> Result<Value, LettaError> {
        self.json(Method::POST, "/v1/agents/", None, Some(body), Retry::Never)
            .await
    }

    pub async fn update_agent(&self, agent_id: &str, body: &Value) -> Result<Value, LettaError> {
        self.json(
            Method::PATCH,
            &format!("/v1/agents/{}", segment(agent_id)),
            None,
            Some(body),
            Retry::Safe,
        )
        .await
    }

    pub async fn delete_agent(&self, agent_id: &str) -> Result<Value, LettaError> {
        self.json(
            Method::DELETE,
            &format!("/v1/agents/{}", segment(agent_id)),
            None,
            None,
            Retry::Safe,
        )
        .await
    }

    // --- models

    /// The language models the server offers, its default first.
    pub async fn list_models(&self) -> Result<Value, LettaError> {
        self.json(Method::GET, "/v1/models/", None, None, Retry::Safe)
            .await
    }

    // --- conversations

    pub async fn list_conversations(&self, query: &Value) -> Result<Value, LettaError> {
        self.json(
            Method::GET,
            "/v1/conversations/",
            Some(query),
            None,
            Retry::Safe,
        )
        .await
    }

    pub async fn retrieve_conversation(&self, conversation_id: &str) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}", segment(conversation_id));
        self.json(Method::GET, &path, None, None, Retry::Safe).await
    }

    /// Creates a conversation; the agent goes in the query string.
    pub async fn create_conversation(
        &self,
        agent_id: &str,
        body: &Value,
    ) -> Result<Value, LettaError> {
        let query = json!({ "agent_id": agent_id });
        self.json(
            Method::POST,
            "/v1/conversations/",
            Some(&query),
            Some(body),
            Retry::Never,
        )
        .await
    }

    pub async fn update_conversation(
        &self,
        conversation_id: &str,
        body: &Value,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}", segment(conversation_id));
        self.json(Method::PATCH, &path, None, Some(body), Retry::Safe)
            .await
    }

    /// Messages of a conversation (`query` takes `limit`, `before`,
    /// `after`, `order`, ...). For an agent's default conversation pass
    /// `default` and the agent in the query.
    pub async fn list_conversation_messages(
        &self,
        conversation_id: &str,
        query: &Value,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}/messages", segment(conversation_id));
        self.json(Method::GET, &path, Some(query), None, Retry::Safe)
            .await
    }

    pub async fn list_agent_messages(
        &self,
        agent_id: &str,
        query: &Value,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/agents/{}/messages", segment(agent_id));
        self.json(Method::GET, &path, Some(query), None, Retry::Safe)
            .await
    }

    /// Cancels whatever runs in the conversation.
    pub async fn cancel_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}/cancel", segment(conversation_id));
        let query = agent_id.map(|agent_id| json!({ "agent_id": agent_id }));
        self.json(Method::POST, &path, query.as_ref(), None, Retry::Safe)
            .await
    }

    /// Summarises older messages of a conversation out of its context.
    pub async fn compact_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        body: &Value,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}/compact", segment(conversation_id));
        let query = agent_id.map(|agent_id| json!({ "agent_id": agent_id }));
        self.json(
            Method::POST,
            &path,
            query.as_ref(),
            Some(body),
            Retry::Never,
        )
        .await
    }

    /// Copies a conversation into a new one of the same agent. `query`
    /// takes `agent_id` (for `default`), `hidden` and `message_id`.
    pub async fn fork_conversation(
        &self,
        conversation_id: &str,
        query: &Value,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}/fork", segment(conversation_id));
        self.json(Method::POST, &path, Some(query), None, Retry::Never)
            .await
    }

    /// Compiles a conversation's system prompt again; answers it as a
    /// string. Stored unless `dry_run`.
    pub async fn recompile_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        dry_run: bool,
    ) -> Result<Value, LettaError> {
        let path = format!("/v1/conversations/{}/recompile", segment(conversation_id));
        let body = agent_id.map(|agent_id| json!({ "agent_id": agent_id }));
        self.json(
            Method::POST,
            &path,
            Some(&json!({ "dry_run": dry_run })),
            body.as_ref(),
            Retry::Safe,
        )
        .await
    }

    // --- runs

    pub async fn retrieve_run(&self, run_id: &str) -> Result<Value, LettaError> {
        self.json(
            Method::GET,
            &format!("/v1/runs/{}", segment(run_id)),
            None,
            None,
            Retry::Safe,
        )
        .await
    }

    pub async fn list_runs(&self, query: &Value) -> Result<Value, LettaError> {
        self.json(Method::GET, "/v1/runs/", Some(query), None, Retry::Safe)
            .await
    }

    /// Sends messages to a conversation in background streaming mode and
    /// returns the run's stream. `body` is the whole request body.
    pub async fn send_messages(
        &self,
        conversation_id: &str,
        body: &impl Serialize,
    ) -> Result<RunStream, LettaError> {
        let path = format!("/v1/conversations/{}/messages", segment(conversation_id));
        self.stream(&path, body, 0, Retry::Never).await
    }

    /// Reattaches to a run's stream after `starting_after` (its last seen
    /// `seq_id`).
    pub async fn resume_stream(
        &self,
        run_id: &str,
        starting_after: u64,
    ) -> Result<RunStream, LettaError> {
        let path = format!("/v1/runs/{}/stream", segment(run_id));
        let body = json!({ "starting_after": starting_after, "include_pings": true });
        self.stream(&path, &body, starting_after, Retry::Safe).await
    }

    // --- plumbing

    async fn json(
        &self,
        method: Method,
        path: &str,
        query: Option<&Value>,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, LettaError> {
        let request = self.request(method, path, query, body);
        let response = self.send(request, Body::Whole, retry).await?;
        let text = response.text().await.map_err(|err| {
            if err.is_timeout() {
                self.timeout()
            } else {
                LettaError::Decode(err.to_string())
            }
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|err| LettaError::Decode(format!("{path}: {err}")))
    }

    /// POSTs `body` and returns the answer as the stream of a run's chunks
    /// after `after`.
    async fn stream(
        &self,
        path: &str,
        body: &impl Serialize,
        after: u64,
        retry: Retry,
    ) -> Result<RunStream, LettaError> {
        let request = self.request(Method::POST, path, None, None).json(body);
        let response = self.send(request, Body::Stream, retry).await?;
        Ok(RunStream::new(response, after))
    }

    /// Sends a request, retrying transient failures when `retry` allows;
    /// returns the successful response.
    async fn send(
        &self,
        request: RequestBuilder,
        body: Body,
        retry: Retry,
    ) -> Result<Response, LettaError> {
        let mut attempt = 1;
        loop {
            let Some(this_attempt) = request.try_clone() else {
                return Err(LettaError::Decode(
                    "the request cannot be sent twice".to_owned(),
                ));
            };
            match self.send_once(this_attempt, body).await {
                Ok(response) => return Ok(response),
                Err(err)
                    if retry == Retry::Safe && err.is_transient() && attempt < MAX_ATTEMPTS =>
                {
                    let wait = err.retry_after().unwrap_or_else(|| backoff(attempt));
                    tracing::debug!(attempt, error = %err, ?wait, "retrying Letta request");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: Option<&Value>,
        body: Option<&Value>,
    ) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(Value::Object(query)) = query {
            let pairs: Vec<(String, String)> = query
                .iter()
                .filter(|(_, value)| !value.is_null())
                .flat_map(|(key, value)| match value {
                    Value::Array(items) => items
                        .iter()
                        .map(|item| (key.clone(), query_value(item)))
                        .collect(),
                    other => vec![(key.clone(), query_value(other))],
                })
                .collect();
            request = request.query(&pairs);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(&key.0);
        }
        request
    }

    async fn send_once(&self, request: RequestBuilder, body: Body) -> Result<Response, LettaError> {
        let sent = match body {
            // The deadline covers reading the whole answer.
            Body::Whole => request.timeout(self.request_timeout).send().await,
            // A stream lasts as long as its run: only opening it has a deadline.
            Body::Stream => tokio::time::timeout(self.request_timeout, request.send())
                .await
                .map_err(|_| self.timeout())?,
        };
        let response = sent.map_err(|err| {
            if err.is_timeout() {
                self.timeout()
            } else {
                LettaError::Connect {
                    url: self.base_url.clone(),
                    message: without_url(&err),
                }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(retry_after);
        let body = self.redacted(response.text().await.unwrap_or_default());
        Err(LettaError::from_response(
            status.as_u16(),
            &body,
            retry_after,
        ))
    }
}

impl LettaApi {
    /// `text` without the API key: a server (or a proxy in front of it)
    /// that echoes the request in its error must not put the key into
    /// messages and logs.
    fn redacted(&self, text: String) -> String {
        match &self.api_key {
            Some(ApiKey(key)) if !key.is_empty() && text.contains(key.as_str()) => {
                text.replace(key.as_str(), "<redacted>")
            }
            _ => text,
        }
    }

    fn timeout(&self) -> LettaError {
        LettaError::Timeout {
            url: self.base_url.clone(),
            after: self.request_timeout,
        }
    }
}

/// A `Retry-After` header in seconds, capped at [`MAX_RETRY_AFTER`]. The
/// HTTP-date form is read as the cap.
fn retry_after(header: &str) -> Option<Duration> {
    let header = header.trim();
    if header.is_empty() {
        return None;
    }
    let wait = header
        .parse::<u64>()
        .map(Duration::from_secs)
        .unwrap_or(MAX_RETRY_AFTER);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter: a random wait between half and all of
/// `FIRST_BACKOFF * 2^(attempt-1)`, capped at `MAX_BACKOFF`.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(MAX_BACKOFF);
    let millis = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(fastrand::u64(millis / 2..=millis))
}

fn query_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes an id for use as one path segment.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// reqwest's error text without the URL, which may carry query secrets.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(segment("agent-1_ab"), "agent-1_ab");
        assert_eq!(segment("../x?y"), "%2E%2E%2Fx%3Fy");
    }

    #[test]
    fn retry_after_is_capped() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 86400 "), Some(MAX_RETRY_AFTER));
        assert_eq!(
            retry_after("Wed, 21 Oct 2099 07:28:00 GMT"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after(""), None);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Accepts connections and never answers.
        let _silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let api = LettaApi::new(&url, None)
            .unwrap()
            .with_request_timeout(Duration::from_millis(200));
        let err = api.retrieve_run("run-1").await.unwrap_err();
        assert!(matches!(err, LettaError::Timeout { .. }), "{err}");
        let err = api.resume_stream("run-1", 0).await.err().unwrap();
        assert!(matches!(err, LettaError::Timeout { .. }), "{err}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            assert!(wait <= MAX_BACKOFF, "{wait:?}");
            assert!(wait >= FIRST_BACKOFF / 2);
        }
    }
}
