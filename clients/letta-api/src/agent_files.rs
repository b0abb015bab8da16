//! Letta's Agent File (`.af`): an agent with its memory blocks, tools and
//! message history, exported from and imported into a server.

use reqwest::Method;
use serde_json::Value;

use crate::{Body, LettaApi, LettaError, Retry, segment};

impl LettaApi {
    /// The agent as a Letta Agent File (`.af`): agent, memory blocks,
    /// tools and message history in one JSON document.
    pub async fn export_agent(&self, agent_id: &str) -> Result<Value, LettaError> {
        let path = format!("/v1/agents/{}/export", segment(agent_id));
        match self
            .json(Method::GET, &path, None, None, Retry::Safe)
            .await?
        {
            // The server answers with the file as a JSON string.
            Value::String(text) => serde_json::from_str(&text)
                .map_err(|err| LettaError::Decode(format!("{path}: {err}"))),
            other => Ok(other),
        }
    }

    /// Creates the agents of an Agent File; `model` and `embedding` (handles)
    /// replace theirs. Answers `{"agent_ids": [...]}`.
    pub async fn import_agent(
        &self,
        agent_file: &Value,
        model: Option<&str>,
        embedding: Option<&str>,
    ) -> Result<Value, LettaError> {
        let part = reqwest::multipart::Part::bytes(agent_file.to_string().into_bytes())
            .file_name("agent.af")
            .mime_str("application/json")
            .map_err(|err| LettaError::Decode(err.to_string()))?;
        let mut form = reqwest::multipart::Form::new().part("file", part);
        if let Some(model) = model {
            form = form.text("model", model.to_owned());
        }
        if let Some(embedding) = embedding {
            form = form.text("embedding", embedding.to_owned());
        }
        let mut request = self
            .http
            .post(format!("{}/v1/agents/import", self.base_url))
            .multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(&key.0);
        }
        // A multipart body cannot be cloned for a retry: one attempt.
        let response = self.send_once(request, Body::Whole).await?;
        let text = response
            .text()
            .await
            .map_err(|err| LettaError::Decode(err.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|err| LettaError::Decode(format!("/v1/agents/import: {err}")))
    }
}
