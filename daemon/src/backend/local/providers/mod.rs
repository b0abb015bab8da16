//! Model providers the local backend calls directly. A model is named by a
//! `provider/model` handle. Providers speak OpenAI's Chat Completions
//! (OpenAI itself, Ollama, LM Studio, llama.cpp, OpenRouter and any
//! compatible server declared in `daemon.toml`) or Anthropic's Messages.

mod anthropic;
mod connect;
mod http;
mod openai;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::Stream;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::backend::LocalError;

pub use connect::{CONNECTED_FILE, Connectable, ConnectedBy, Standing};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI's Chat Completions.
    OpenAi,
    /// Anthropic's Messages.
    Anthropic,
}

/// A configured provider, as the daemon's configuration resolved it.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The handle prefix, e.g. `openai` in `openai/gpt-4.1`.
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<String>,
    /// A server that may or may not be running on this machine (Ollama, LM
    /// Studio, llama.cpp): listed only when it answers.
    pub optional: bool,
    /// The model new agents get when this provider is the first available.
    pub default_model: Option<String>,
    /// The context window of every model of this provider, when the
    /// provider does not say (or says wrong).
    pub context_window: Option<u64>,
    /// Anthropic: tokens of extended thinking per step; none turns it off.
    pub thinking_budget: Option<u64>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("optional", &self.optional)
            .finish()
    }
}

/// What a model is asked: the system prompt, the conversation and the tools.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<ChatMessage>,
    /// Shared by every step of a run.
    pub tools: Arc<[ToolSpec]>,
}

#[derive(Debug, Clone)]
pub enum ChatMessage {
    User(String),
    Assistant {
        content: String,
        tool_calls: Vec<ChatToolCall>,
        reasoning: Option<Reasoning>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

/// What the model thought before answering, with the provider's signature
/// when it wants it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasoning {
    pub text: String,
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// The JSON Schema as text: it is only ever written into requests, so
    /// it is serialized once rather than with every step.
    pub parameters: Box<RawValue>,
}

impl ToolSpec {
    /// A tool whose schema is `parameters` (an object with no properties
    /// when `null`).
    pub fn new(name: String, description: String, parameters: &Value) -> ToolSpec {
        let parameters = match parameters {
            Value::Null => serde_json::value::to_raw_value(
                &serde_json::json!({ "type": "object", "properties": {} }),
            ),
            parameters => serde_json::value::to_raw_value(parameters),
        };
        ToolSpec {
            name,
            description,
            // A `Value` always serializes.
            parameters: parameters.unwrap_or_else(|_| RawValue::NULL.to_owned()),
        }
    }
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    Text(String),
    Reasoning(String),
    /// Seals the reasoning so it can be handed back (Anthropic).
    ReasoningSignature(String),
    /// A tool call begins (`index` orders parallel calls).
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArguments {
        index: usize,
        fragment: String,
    },
    Usage {
        prompt_tokens: u64,
        completion_tokens: u64,
    },
}

/// What calling a model fails with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot reach {provider}: {message}")]
    Connect { provider: String, message: String },
    #[error("{provider} answered {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The prompt is longer than the model's context window.
    #[error("{provider} says the prompt is too long: {message}")]
    ContextLength { provider: String, message: String },
    #[error("the answer from {provider} broke off: {message}")]
    Stream { provider: String, message: String },
}

impl ProviderError {
    /// Worth trying again: connection failures, cut streams, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Connect { .. } | ProviderError::Stream { .. } => true,
            ProviderError::Status { status, .. } => *status == 429 || *status >= 500,
            ProviderError::ContextLength { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A provider's client, by wire format.
#[derive(Clone)]
enum Client {
    Chat(openai::ChatCompletions),
    Anthropic(anthropic::Messages),
}

impl Client {
    fn new(config: ProviderConfig) -> Client {
        match config.kind {
            ProviderKind::OpenAi => Client::Chat(openai::ChatCompletions::new(config)),
            ProviderKind::Anthropic => Client::Anthropic(anthropic::Messages::new(config)),
        }
    }

    fn config(&self) -> &ProviderConfig {
        match self {
            Client::Chat(client) => client.config(),
            Client::Anthropic(client) => client.config(),
        }
    }

    async fn list_models(&self, timeout: Duration) -> Vec<ModelInfo> {
        match self {
            Client::Chat(client) => client.list_models(timeout).await,
            Client::Anthropic(client) => client.list_models(timeout).await,
        }
    }

    async fn stream(
        &self,
        model: &str,
        request: &ModelRequest,
    ) -> Result<ModelStream, ProviderError> {
        match self {
            Client::Chat(client) => client.stream(model, request).await,
            Client::Anthropic(client) => client.stream(model, request).await,
        }
    }
}

pub type ModelStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<ModelEvent, ProviderError>> + Send>>;

/// Every configured provider, by name: those the configuration names, and
/// those a frontend connected (`connect_provider`), which can change while
/// the daemon runs.
#[derive(Clone)]
pub struct Providers {
    set: Arc<RwLock<ProviderSet>>,
    /// Set in `daemon.toml` or with `--default-model`.
    default_model: Option<String>,
    /// Context windows providers reported, by handle.
    windows: Arc<Mutex<HashMap<String, u64>>>,
    /// Where connected providers' credentials are kept.
    connected: Option<Arc<connect::ConnectedFile>>,
}

#[derive(Default)]
struct ProviderSet {
    by_name: BTreeMap<String, Client>,
    order: Vec<String>,
    /// From the configuration; connecting cannot change them.
    configured: Vec<ProviderConfig>,
    /// Connected by frontends, kept in the credentials file.
    connected: Vec<ProviderConfig>,
}

impl ProviderSet {
    fn new(configured: Vec<ProviderConfig>, connected: Vec<ProviderConfig>) -> ProviderSet {
        // Connected providers come before the local servers that may not
        // run, so they are asked for a default model first.
        let (optional, required): (Vec<_>, Vec<_>) = configured
            .iter()
            .cloned()
            .partition(|config| config.optional);
        let all: Vec<ProviderConfig> = required
            .into_iter()
            .chain(connected.iter().cloned())
            .chain(optional)
            .collect();
        ProviderSet {
            order: all.iter().map(|config| config.name.clone()).collect(),
            by_name: all
                .into_iter()
                .map(|config| (config.name.clone(), Client::new(config)))
                .collect(),
            configured,
            connected,
        }
    }
}

/// The context window assumed when nothing says otherwise.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 32_768;

/// A model a provider offers.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub handle: String,
    pub provider: String,
    pub model: String,
    pub context_window: Option<u64>,
}

/// How long an optional local server gets to say which models it has.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Providers {
    pub fn new(configs: Vec<ProviderConfig>, default_model: Option<String>) -> Providers {
        Providers {
            set: Arc::new(RwLock::new(ProviderSet::new(configs, Vec::new()))),
            default_model,
            windows: Arc::default(),
            connected: None,
        }
    }

    fn set(&self) -> std::sync::RwLockReadGuard<'_, ProviderSet> {
        self.set.read().unwrap_or_else(|err| err.into_inner())
    }

    /// The provider serving `handle` and the model name it knows.
    fn resolve(&self, handle: &str) -> Result<(Client, String), LocalError> {
        let Some((provider, model)) = handle.split_once('/') else {
            return Err(LocalError::Invalid(format!(
                "model {handle:?} is not a provider/model handle (e.g. openai/gpt-4.1)"
            )));
        };
        let set = self.set();
        match set.by_name.get(provider) {
            Some(client) => Ok((client.clone(), model.to_owned())),
            None => Err(LocalError::NoProvider(format!(
                "no provider {provider:?} is configured for model {handle:?}; configured: {}",
                if set.order.is_empty() {
                    "none".to_owned()
                } else {
                    set.order.join(", ")
                }
            ))),
        }
    }

    /// The clients in configuration order.
    fn clients(&self) -> Vec<Client> {
        let set = self.set();
        set.order
            .iter()
            .filter_map(|name| set.by_name.get(name).cloned())
            .collect()
    }

    /// How Letta names the kind of endpoint serving `handle`
    /// (`llm_config.model_endpoint_type`): the provider's own name where
    /// Letta knows it, else its wire format.
    pub fn endpoint_type(&self, handle: &str) -> &'static str {
        let Ok((client, _)) = self.resolve(handle) else {
            return "openai";
        };
        let config = client.config();
        match (config.kind, config.name.as_str()) {
            (ProviderKind::Anthropic, _) => "anthropic",
            (ProviderKind::OpenAi, "openrouter") => "openrouter",
            (ProviderKind::OpenAi, "ollama") => "ollama",
            (ProviderKind::OpenAi, "lmstudio") => "lmstudio",
            (ProviderKind::OpenAi, "llama-cpp") => "llamacpp",
            (ProviderKind::OpenAi, _) => "openai",
        }
    }

    /// Checks that a handle names a configured provider.
    pub fn check(&self, handle: &str) -> Result<(), LocalError> {
        self.resolve(handle).map(|_| ())
    }

    /// Streams a model's answer to `request` (whose `model` is a handle).
    pub async fn stream(&self, request: &ModelRequest) -> Result<ModelStream, ProviderError> {
        let (client, model) = match self.resolve(&request.model) {
            Ok(found) => found,
            Err(err) => {
                return Err(ProviderError::Status {
                    provider: request.model.clone(),
                    status: 400,
                    message: err.to_string(),
                    retry_after: None,
                });
            }
        };
        client.stream(&model, request).await
    }

    /// The context window of a model: configured for its provider, else as
    /// its provider reports it, else from known model families, else
    /// [`DEFAULT_CONTEXT_WINDOW`].
    pub async fn context_window(&self, handle: &str) -> u64 {
        let Ok((client, model)) = self.resolve(handle) else {
            return DEFAULT_CONTEXT_WINDOW;
        };
        let model = model.as_str();
        if let Some(window) = client.config().context_window {
            return window;
        }
        if let Some(window) = crate::util::lock(&self.windows).get(handle) {
            return *window;
        }
        let listed = client.list_models(PROBE_TIMEOUT).await;
        let mut windows = crate::util::lock(&self.windows);
        for info in &listed {
            if let Some(window) = info.context_window {
                windows.insert(info.handle.clone(), window);
            }
        }
        let window = windows
            .get(handle)
            .copied()
            .or_else(|| known_context_window(model))
            .unwrap_or(DEFAULT_CONTEXT_WINDOW);
        windows.insert(handle.to_owned(), window);
        window
    }

    /// What every available provider offers, in configuration order;
    /// optional local servers that do not answer are left out.
    pub async fn list_models(&self) -> Vec<ModelInfo> {
        let clients = self.clients();
        let lists = futures_util::future::join_all(
            clients
                .iter()
                .map(|client| client.list_models(PROBE_TIMEOUT)),
        )
        .await;
        lists.into_iter().flatten().collect()
    }

    /// The model a new agent gets: the configured default, else the first
    /// available provider's default (or first) model. The error names what
    /// to set when nothing is available.
    pub async fn default_model(&self) -> Result<String, LocalError> {
        if let Some(model) = &self.default_model {
            return Ok(model.clone());
        }
        for client in self.clients() {
            let config = client.config();
            if let Some(model) = &config.default_model {
                return Ok(format!("{}/{model}", config.name));
            }
            if let Some(first) = client.list_models(PROBE_TIMEOUT).await.into_iter().next() {
                return Ok(first.handle);
            }
        }
        Err(LocalError::NoProvider(
            "no model provider is available: set OPENAI_API_KEY (or OPENAI_BASE_URL for a \
             compatible server), ANTHROPIC_API_KEY or OPENROUTER_API_KEY, start Ollama \
             (OLLAMA_BASE_URL, default http://localhost:11434/v1), or declare [providers.NAME] \
             in ~/.letta/daemon.toml, then restart the daemon (letta-ctl daemon stop); connect one \
             from a frontend (connect_provider); or point it at a Letta server with LETTA_BASE_URL"
                .to_owned(),
        ))
    }
}

/// Feeds `text`, read as server-sent events (`event:` and `data:` lines,
/// blocks separated by blank lines), to every wire format's decoder.
#[cfg(feature = "fuzzing")]
pub fn decode_all(text: &str) {
    use http::Decoder;
    let mut chat = openai::ChatDecoder::default();
    let mut messages = anthropic::MessagesDecoder::default();
    for block in text.split("\n\n") {
        let mut event = "";
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim();
            } else if let Some(line) = line.strip_prefix("data:") {
                data.push(line.trim_start());
            }
        }
        let data = data.join("\n");
        chat.decode("fuzz", event, &data);
        messages.decode("fuzz", event, &data);
    }
}

/// A context window for models whose provider does not say, from what is
/// known of common model families.
pub fn known_context_window(model: &str) -> Option<u64> {
    let model = model.rsplit('/').next().unwrap_or(model);
    const KNOWN: &[(&str, u64)] = &[
        ("gpt-4.1", 1_047_576),
        ("gpt-5", 400_000),
        ("gpt-4o", 128_000),
        ("o3", 200_000),
        ("o4", 200_000),
        ("claude", 200_000),
        ("gemini", 1_048_576),
        ("llama3", 128_000),
        ("qwen", 32_768),
    ];
    KNOWN
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, window)| *window)
}
