//! Which model providers the local backend may call: the well-known ones
//! found through their environment variables, and any OpenAI-compatible
//! server declared as `[providers.NAME]` in `daemon.toml`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;
use crate::backend::local::providers::{ProviderConfig, ProviderKind};

/// `[providers.NAME]` in `daemon.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderFile {
    /// The wire format: `openai` (Chat Completions, the default) or
    /// `anthropic` (Messages).
    kind: Option<String>,
    base_url: Option<String>,
    /// The environment variable holding the API key.
    api_key_env: Option<String>,
    /// The model new agents get when this provider is the first available.
    default_model: Option<String>,
    /// The context window of its models, in tokens.
    context_window: Option<u64>,
    /// Anthropic: tokens of extended thinking per step (off without it).
    thinking_budget: Option<u64>,
}

/// A provider that may be running on this machine, found at its default
/// address unless its variable says otherwise.
const LOCAL_SERVERS: &[(&str, &str, &str)] = &[
    ("ollama", "OLLAMA_BASE_URL", "http://localhost:11434/v1"),
    ("lmstudio", "LMSTUDIO_BASE_URL", "http://localhost:1234/v1"),
    ("llama-cpp", "LLAMACPP_BASE_URL", "http://localhost:8080/v1"),
];

const OPENAI_URL: &str = "https://api.openai.com/v1";
const ANTHROPIC_URL: &str = "https://api.anthropic.com";
const OPENROUTER_URL: &str = "https://openrouter.ai/api/v1";

/// The providers in the order a default model is looked for: declared
/// ones first, then hosted ones with a key, then local servers.
pub(super) fn resolve(
    declared: &BTreeMap<String, ProviderFile>,
    env: &BTreeMap<String, String>,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let var = |name: &str| {
        env.get(name)
            .filter(|value| !value.trim().is_empty())
            .cloned()
    };
    let mut providers = Vec::new();
    for (name, file) in declared {
        let invalid = |message: String| ConfigError::Provider {
            name: name.clone(),
            message,
        };
        if name.is_empty() || name.contains('/') {
            return Err(invalid(
                "a provider name must be non-empty and without '/'".to_owned(),
            ));
        }
        let kind = match file.kind.as_deref().unwrap_or("openai") {
            "openai" => ProviderKind::OpenAi,
            "anthropic" => ProviderKind::Anthropic,
            other => {
                return Err(invalid(format!(
                    "kind {other:?} is not supported; use \"openai\" (Chat Completions) or \"anthropic\" (Messages)"
                )));
            }
        };
        let base_url = match (&file.base_url, kind) {
            (Some(url), _) => url.clone(),
            (None, ProviderKind::Anthropic) => ANTHROPIC_URL.to_owned(),
            (None, ProviderKind::OpenAi) => return Err(invalid("base_url is required".to_owned())),
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid(format!(
                "base_url {base_url:?} is not an http(s) URL"
            )));
        }
        let api_key = match &file.api_key_env {
            Some(variable) => Some(var(variable).ok_or_else(|| {
                invalid(format!("api_key_env names {variable}, which is not set"))
            })?),
            None => None,
        };
        providers.push(ProviderConfig {
            name: name.clone(),
            kind,
            thinking_budget: file.thinking_budget,
            base_url,
            api_key,
            optional: false,
            default_model: file.default_model.clone(),
            context_window: file.context_window,
        });
    }
    let declared_name = |name: &str| declared.contains_key(name);
    if !declared_name("openai")
        && (var("OPENAI_API_KEY").is_some() || var("OPENAI_BASE_URL").is_some())
    {
        let base_url = var("OPENAI_BASE_URL").unwrap_or_else(|| OPENAI_URL.to_owned());
        // A compatible server at another address has its own models.
        let default_model = (base_url == OPENAI_URL).then(|| "gpt-4.1".to_owned());
        providers.push(ProviderConfig {
            name: "openai".to_owned(),
            kind: ProviderKind::OpenAi,
            thinking_budget: None,
            base_url,
            api_key: var("OPENAI_API_KEY"),
            optional: false,
            default_model,
            context_window: None,
        });
    }
    if !declared_name("anthropic")
        && let Some(key) = var("ANTHROPIC_API_KEY")
    {
        providers.push(ProviderConfig {
            name: "anthropic".to_owned(),
            kind: ProviderKind::Anthropic,
            base_url: var("ANTHROPIC_BASE_URL").unwrap_or_else(|| ANTHROPIC_URL.to_owned()),
            api_key: Some(key),
            optional: false,
            default_model: Some("claude-sonnet-4-5".to_owned()),
            context_window: None,
            thinking_budget: None,
        });
    }
    if !declared_name("openrouter")
        && let Some(key) = var("OPENROUTER_API_KEY")
    {
        providers.push(ProviderConfig {
            name: "openrouter".to_owned(),
            kind: ProviderKind::OpenAi,
            thinking_budget: None,
            base_url: OPENROUTER_URL.to_owned(),
            api_key: Some(key),
            optional: false,
            default_model: Some("openai/gpt-4.1".to_owned()),
            context_window: None,
        });
    }
    for (name, variable, default_url) in LOCAL_SERVERS {
        if declared_name(name) {
            continue;
        }
        providers.push(ProviderConfig {
            name: (*name).to_owned(),
            kind: ProviderKind::OpenAi,
            thinking_budget: None,
            base_url: var(variable).unwrap_or_else(|| (*default_url).to_owned()),
            api_key: None,
            optional: true,
            default_model: None,
            context_window: None,
        });
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn keys_and_declarations_pick_providers() {
        let found = resolve(&BTreeMap::new(), &env(&[("OPENAI_API_KEY", "sk-x")])).unwrap();
        let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["openai", "ollama", "lmstudio", "llama-cpp"]);
        assert_eq!(found[0].default_model.as_deref(), Some("gpt-4.1"));
        assert!(!format!("{:?}", found[0]).contains("sk-x"));

        let mut declared = BTreeMap::new();
        declared.insert(
            "lab".to_owned(),
            ProviderFile {
                base_url: Some("http://10.0.0.2:8000/v1".into()),
                api_key_env: Some("LAB_KEY".into()),
                ..ProviderFile::default()
            },
        );
        let err = resolve(&declared, &env(&[])).unwrap_err();
        assert!(err.to_string().contains("LAB_KEY"), "{err}");
        let found = resolve(&declared, &env(&[("LAB_KEY", "k")])).unwrap();
        assert_eq!(found[0].name, "lab");
        assert_eq!(found[0].api_key.as_deref(), Some("k"));

        declared.get_mut("lab").unwrap().kind = Some("grpc".into());
        assert!(resolve(&declared, &env(&[("LAB_KEY", "k")])).is_err());
    }
}
