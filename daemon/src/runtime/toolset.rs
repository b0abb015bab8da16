//! Which built-in tools a runtime's turns offer: its toolset preference and
//! the agent's model, which `auto` chooses by.

use super::{Runtime, RuntimeError};
use crate::tools::AgentModel;
use crate::util::lock;

impl Runtime {
    /// Sets the toolset preference (persisted) and tells frontends; returns
    /// the toolset it now stands for.
    pub async fn set_toolset(&self, preference: &str) -> Result<&'static str, RuntimeError> {
        if !crate::tools::is_toolset(preference) {
            let known: Vec<&str> = crate::tools::toolset_names().collect();
            return Err(RuntimeError::Invalid(format!(
                "unknown toolset {preference:?}; choose one of {}",
                known.join(", ")
            )));
        }
        self.store.set_toolset(self.id, preference).await?;
        let current = {
            let mut state = lock(&self.state);
            state.toolset = preference.to_owned();
            state.current_toolset()
        };
        let draft = self.device_status_draft().await;
        self.log.emit(draft).await?;
        Ok(current)
    }

    /// Remembers the agent's model, seen in an agent the backend returned.
    pub fn note_agent_model(&self, agent: &serde_json::Value) {
        if let Some(model) = agent_model(agent) {
            lock(&self.state).model = Some(model);
        }
    }
}

/// An agent's model: its handle and, unless the provider is an
/// OpenAI-compatible proxy, the provider's type. A proxy (marked so in the
/// agent's settings, or Letta's `openai-proxy`, an OpenAI provider on
/// another base URL) serves other makers' models under OpenAI's API, so
/// its type says nothing about the model: Letta Code passes over it too
/// when a model is chosen.
pub fn agent_model(agent: &serde_json::Value) -> Option<AgentModel> {
    let handle = model_handle(agent)?;
    let settings = &agent["model_settings"];
    let proxy = settings["openai_compatible_proxy"] == true || handle.starts_with("openai-proxy/");
    let provider_type = settings["provider_type"]
        .as_str()
        .filter(|_| !proxy)
        .map(str::to_owned);
    Some(AgentModel {
        handle,
        provider_type,
    })
}

/// An agent's model as a `provider/model` handle: Letta's `model` field, or
/// built from its `llm_config`.
fn model_handle(agent: &serde_json::Value) -> Option<String> {
    if let Some(model) = agent["model"].as_str().filter(|model| !model.is_empty()) {
        return Some(model.to_owned());
    }
    let config = &agent["llm_config"];
    if let Some(handle) = config["handle"].as_str() {
        return Some(handle.to_owned());
    }
    Some(format!(
        "{}/{}",
        config["model_endpoint_type"].as_str()?,
        config["model"].as_str()?
    ))
}

#[cfg(test)]
mod tests {
    use super::{agent_model, model_handle};
    use serde_json::json;

    #[test]
    fn an_agents_model_is_read_as_a_handle() {
        assert_eq!(
            model_handle(&json!({"model": "openai/gpt-5", "llm_config": {"handle": "x/y"}}))
                .as_deref(),
            Some("openai/gpt-5")
        );
        assert_eq!(
            model_handle(&json!({"llm_config": {"handle": "anthropic/claude"}})).as_deref(),
            Some("anthropic/claude")
        );
        assert_eq!(
            model_handle(
                &json!({"llm_config": {"model_endpoint_type": "openai", "model": "gpt-4o"}})
            )
            .as_deref(),
            Some("openai/gpt-4o")
        );
        assert_eq!(model_handle(&json!({"name": "no model"})), None);
    }

    #[test]
    fn an_agents_provider_type_is_read_unless_it_is_a_compatible_proxy() {
        let settings = |settings: serde_json::Value| {
            agent_model(&json!({"model": "p/m", "model_settings": settings}))
                .and_then(|model| model.provider_type)
        };
        assert_eq!(
            settings(json!({"provider_type": "openai"})).as_deref(),
            Some("openai")
        );
        assert_eq!(
            settings(json!({"provider_type": "openai", "openai_compatible_proxy": true})),
            None
        );
        assert_eq!(settings(serde_json::Value::Null), None);
        let proxied = agent_model(&json!({
            "model": "openai-proxy/fake-model",
            "model_settings": {"provider_type": "openai"},
        }));
        assert_eq!(proxied.and_then(|model| model.provider_type), None);
    }
}
