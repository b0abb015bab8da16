//! Client for the Letta server's REST API: agents, conversations, messages
//! and runs, with run streams as typed chunks ([`stream`]).
//!
//! Requests that are safe to repeat (reads, updates, deletes, stream
//! resumes) are retried with exponential backoff and jitter on connection
//! errors, 429 (honouring `Retry-After`) and 5xx. Sending a message is never
//! retried blindly: the caller owns that decision, because the message's
//! `otid` lets it look for the run a failed attempt may have started.

mod error;
pub mod stream;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

pub use error::LettaError;
pub use stream::{Chunk, RunStream, StreamItem, StreamMessage, ToolCallDelta};

use crate::config::LettaApiConfig;

/// Attempts for a retryable request, the first included.
const MAX_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A Letta server.
#[derive(Clone)]
pub struct LettaApi {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<crate::config::Secret>,
}

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    Never,
}

impl LettaApi {
    pub fn new(config: &LettaApiConfig) -> Result<LettaApi, LettaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("letta-daemon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| LettaError::Connect {
                url: config.base_url.clone(),
                message: err.to_string(),
            })?;
        Ok(LettaApi {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            api_key: config.api_key.clone(),
        })
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
        body: &Value,
    ) -> Result<RunStream, LettaError> {
        let path = format!("/v1/conversations/{}/messages", segment(conversation_id));
        let response = self
            .send(Method::POST, &path, None, Some(body), Retry::Never)
            .await?;
        Ok(RunStream::new(response))
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
        let response = self
            .send(Method::POST, &path, None, Some(&body), Retry::Safe)
            .await?;
        Ok(RunStream::new(response))
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
        let response = self.send(method, path, query, body, retry).await?;
        let text = response
            .text()
            .await
            .map_err(|err| LettaError::Decode(err.to_string()))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|err| LettaError::Decode(format!("{path}: {err}")))
    }

    /// Sends a request, retrying transient failures when `retry` allows;
    /// returns the successful response.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<&Value>,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Response, LettaError> {
        let mut attempt = 1;
        loop {
            match self
                .send_once(self.request(method.clone(), path, query, body))
                .await
            {
                Ok(response) => return Ok(response),
                Err(err)
                    if retry == Retry::Safe && err.is_transient() && attempt < MAX_ATTEMPTS =>
                {
                    let wait = err
                        .retry_after()
                        .unwrap_or_else(|| backoff(attempt))
                        .min(MAX_BACKOFF * 6);
                    tracing::debug!(%method, path, attempt, error = %err, ?wait, "retrying Letta request");
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
            request = request.bearer_auth(key.expose());
        }
        request
    }

    async fn send_once(&self, request: RequestBuilder) -> Result<Response, LettaError> {
        let response = request.send().await.map_err(|err| LettaError::Connect {
            url: self.base_url.clone(),
            message: without_url(&err),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        Err(LettaError::from_response(
            status.as_u16(),
            &body,
            retry_after,
        ))
    }
}

/// Exponential backoff with jitter: a random wait between half and all of
/// `FIRST_BACKOFF * 2^(attempt-1)`, capped at `MAX_BACKOFF`.
pub(crate) fn backoff(attempt: u32) -> Duration {
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
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            assert!(wait <= MAX_BACKOFF, "{wait:?}");
            assert!(wait >= FIRST_BACKOFF / 2);
        }
    }
}
