//! Where agents live: on a Letta server (`api`, through the letta-api
//! crate) or in the daemon itself (`local`). Both answer the same calls
//! with the same shapes (Letta's agents, conversations, messages and runs),
//! so the turn machinery above is one for both.

mod error;
pub mod local;
mod send;

use letta_api::{LettaApi, StreamItem};
use serde_json::Value;

pub use error::{BackendError, LocalError};
pub use local::{LocalBackend, LocalSettings};
pub use send::{ClientTools, SendRequest};

/// The conversation id Letta uses for an agent's default conversation; the
/// agent goes along in the request.
pub const DEFAULT_CONVERSATION: &str = "default";

/// Which backend: `api` (a Letta server) or `local` (the daemon itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Api,
    Local,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Api => "api",
            BackendKind::Local => "local",
        }
    }

    /// Whether a tool result may carry images: the Letta server takes
    /// image content parts; the local backend sends tool results as text.
    pub fn takes_images(self) -> bool {
        self == BackendKind::Api
    }
}

/// One backend.
#[derive(Clone)]
pub enum Backend {
    Api(LettaApi),
    Local(LocalBackend),
}

/// The chunks of one run, from either backend.
pub enum RunStream {
    Api(letta_api::RunStream),
    Local(local::LocalRunStream),
}

impl RunStream {
    /// The next item; `None` when the stream ended (a stream that ends
    /// without [`StreamItem::Done`] was cut off).
    pub async fn next(&mut self) -> Option<Result<StreamItem, BackendError>> {
        match self {
            RunStream::Api(stream) => stream.next().await.map(|item| item.map_err(Into::into)),
            RunStream::Local(stream) => stream.next().await,
        }
    }
}

/// Calls forwarded to the backend as they are, with Letta's shapes.
macro_rules! both {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Backend::Api(api) => Ok(api.$method($($arg),*).await?),
            Backend::Local(local) => Ok(local.$method($($arg),*).await?),
        }
    };
}

impl Backend {
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Api(_) => BackendKind::Api,
            Backend::Local(_) => BackendKind::Local,
        }
    }

    pub async fn retrieve_agent(&self, agent_id: &str) -> Result<Value, BackendError> {
        both!(self.retrieve_agent(agent_id))
    }

    pub async fn create_agent(&self, body: &Value) -> Result<Value, BackendError> {
        both!(self.create_agent(body))
    }

    pub async fn update_agent(&self, agent_id: &str, body: &Value) -> Result<Value, BackendError> {
        both!(self.update_agent(agent_id, body))
    }

    pub async fn delete_agent(&self, agent_id: &str) -> Result<Value, BackendError> {
        both!(self.delete_agent(agent_id))
    }

    pub async fn list_agents(&self, query: &Value) -> Result<Value, BackendError> {
        both!(self.list_agents(query))
    }

    pub async fn list_conversations(&self, query: &Value) -> Result<Value, BackendError> {
        both!(self.list_conversations(query))
    }

    pub async fn retrieve_conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Value, BackendError> {
        both!(self.retrieve_conversation(conversation_id))
    }

    pub async fn create_conversation(
        &self,
        agent_id: &str,
        body: &Value,
    ) -> Result<Value, BackendError> {
        both!(self.create_conversation(agent_id, body))
    }

    pub async fn update_conversation(
        &self,
        conversation_id: &str,
        body: &Value,
    ) -> Result<Value, BackendError> {
        both!(self.update_conversation(conversation_id, body))
    }

    pub async fn list_conversation_messages(
        &self,
        conversation_id: &str,
        query: &Value,
    ) -> Result<Value, BackendError> {
        both!(self.list_conversation_messages(conversation_id, query))
    }

    pub async fn cancel_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Value, BackendError> {
        both!(self.cancel_conversation(conversation_id, agent_id))
    }

    /// An agent as a Letta Agent File.
    pub async fn export_agent(
        &self,
        agent_id: &str,
        conversation_id: Option<&str>,
    ) -> Result<Value, BackendError> {
        match self {
            Backend::Api(api) => Ok(api.export_agent(agent_id).await?),
            Backend::Local(local) => Ok(local.export_agent(agent_id, conversation_id).await?),
        }
    }

    /// Creates the agents of an Agent File; answers `{"agent_ids": [...]}`.
    pub async fn import_agents(
        &self,
        agent_file: &Value,
        model: Option<&str>,
        embedding: Option<&str>,
    ) -> Result<Value, BackendError> {
        match self {
            Backend::Api(api) => {
                // A file written by the daemon names its model by handle
                // only; the server resolves it.
                let named = agent_file["agents"][0]["llm_config"]
                    .is_null()
                    .then(|| agent_file["agents"][0]["model"].as_str())
                    .flatten();
                Ok(api
                    .import_agent(agent_file, model.or(named), embedding)
                    .await?)
            }
            Backend::Local(local) => Ok(local.import_agents(agent_file, model).await?),
        }
    }

    /// Summarises older messages of a conversation out of its context.
    pub async fn compact_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        body: &Value,
    ) -> Result<Value, BackendError> {
        match self {
            Backend::Api(api) => Ok(api
                .compact_conversation(conversation_id, agent_id, body)
                .await?),
            Backend::Local(local) => Ok(local
                .compact_conversation(conversation_id, agent_id)
                .await?),
        }
    }

    /// Copies a conversation (up to `message_id`, inclusive) into a new
    /// one of the same agent.
    pub async fn fork_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        hidden: Option<bool>,
        message_id: Option<&str>,
    ) -> Result<Value, BackendError> {
        match self {
            Backend::Api(api) => {
                let mut query = serde_json::Map::new();
                if let Some(agent_id) = agent_id {
                    query.insert("agent_id".to_owned(), Value::from(agent_id));
                }
                if let Some(hidden) = hidden {
                    query.insert("hidden".to_owned(), Value::from(hidden));
                }
                if let Some(message_id) = message_id {
                    query.insert("message_id".to_owned(), Value::from(message_id));
                }
                Ok(api
                    .fork_conversation(conversation_id, &Value::Object(query))
                    .await?)
            }
            Backend::Local(local) => Ok(local
                .fork_conversation(conversation_id, agent_id, message_id)
                .await?),
        }
    }

    /// The conversation's system prompt compiled again from the agent's
    /// memory.
    pub async fn recompile_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
        dry_run: bool,
    ) -> Result<Value, BackendError> {
        match self {
            Backend::Api(api) => Ok(api
                .recompile_conversation(conversation_id, agent_id, dry_run)
                .await?),
            Backend::Local(local) => Ok(local
                .recompile_conversation(conversation_id, agent_id)
                .await?),
        }
    }

    pub async fn list_runs(&self, query: &Value) -> Result<Value, BackendError> {
        both!(self.list_runs(query))
    }

    pub async fn list_models(&self) -> Result<Value, BackendError> {
        both!(self.list_models())
    }

    /// Sends messages (a user turn, or approval results) and streams the
    /// run they start.
    pub async fn send_messages(
        &self,
        conversation_id: &str,
        request: &SendRequest,
    ) -> Result<RunStream, BackendError> {
        match self {
            Backend::Api(api) => Ok(RunStream::Api(
                api.send_messages(conversation_id, &request.api_body())
                    .await?,
            )),
            Backend::Local(local) => Ok(RunStream::Local(
                local.send_messages(conversation_id, request).await?,
            )),
        }
    }

    /// Streams a run's chunks after `after`.
    pub async fn resume_stream(&self, run_id: &str, after: u64) -> Result<RunStream, BackendError> {
        match self {
            Backend::Api(api) => Ok(RunStream::Api(api.resume_stream(run_id, after).await?)),
            Backend::Local(local) => {
                Ok(RunStream::Local(local.resume_stream(run_id, after).await?))
            }
        }
    }
}

/// Both backends, the default for new agents, and where each agent lives.
#[derive(Clone)]
pub struct Backends {
    api: LettaApi,
    local: LocalBackend,
    default: BackendKind,
    /// A Letta server was configured (not just the default address).
    api_configured: bool,
}

impl Backends {
    pub fn new(
        api: LettaApi,
        local: LocalBackend,
        default: BackendKind,
        api_configured: bool,
    ) -> Backends {
        Backends {
            api,
            local,
            default,
            api_configured,
        }
    }

    /// Where an agent the daemon does not keep is looked for: the Letta
    /// server when one is configured, else the local backend (which says
    /// it has no such agent, rather than failing to reach a server nobody
    /// set up).
    fn elsewhere(&self) -> Backend {
        if self.api_configured || self.default == BackendKind::Api {
            self.get(BackendKind::Api)
        } else {
            self.get(BackendKind::Local)
        }
    }

    /// Where new agents go unless a request says otherwise.
    pub fn default_kind(&self) -> BackendKind {
        self.default
    }

    pub fn get(&self, kind: BackendKind) -> Backend {
        match kind {
            BackendKind::Api => Backend::Api(self.api.clone()),
            BackendKind::Local => Backend::Local(self.local.clone()),
        }
    }

    pub fn local(&self) -> &LocalBackend {
        &self.local
    }

    /// The backend an agent lives on: local if the daemon keeps it, else
    /// the Letta server.
    pub async fn for_agent(&self, agent_id: &str) -> Result<Backend, BackendError> {
        Ok(if self.local.has_agent(agent_id).await? {
            self.get(BackendKind::Local)
        } else {
            self.elsewhere()
        })
    }

    /// The backend a conversation lives on (the default conversation goes
    /// with its agent).
    pub async fn for_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Backend, BackendError> {
        Ok(
            if self
                .local
                .has_conversation(conversation_id, agent_id)
                .await?
            {
                self.get(BackendKind::Local)
            } else {
                self.elsewhere()
            },
        )
    }

    /// Every backend that can hold agents right now: the local one always,
    /// the Letta server when one is configured (or is the default).
    pub fn listed(&self) -> Vec<Backend> {
        match self.default {
            BackendKind::Api => vec![self.get(BackendKind::Api), self.get(BackendKind::Local)],
            BackendKind::Local if self.api_configured => {
                vec![self.get(BackendKind::Local), self.get(BackendKind::Api)]
            }
            BackendKind::Local => vec![self.get(BackendKind::Local)],
        }
    }
}
