//! The `local` backend: agents that live in the daemon's own SQLite, with
//! model providers called directly. It answers like a Letta server (the
//! same calls, the same shapes, background runs with `seq_id`s that can be
//! resumed), so the turn machinery drives local runs exactly as it drives
//! server ones, with the same durability.

mod agent_file;
mod agents;
mod compaction;
mod memory;
mod prompt;
pub mod providers;
mod run;
mod shapes;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::LocalError;
use crate::store::Store;
use crate::store::local::{LocalRunRow, LocalRunStatus, default_conversation_key};
use crate::util::lock;
pub use providers::{ProviderConfig, Providers};
pub use stream::LocalRunStream;

/// How local agents run.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Model steps one run may take before it stops with `max_steps`.
    pub max_steps: u32,
    /// The share of the context window a prompt may fill before older
    /// messages are summarised.
    pub compaction_threshold: f64,
}

impl Default for LocalSettings {
    fn default() -> LocalSettings {
        LocalSettings {
            max_steps: 50,
            compaction_threshold: 0.75,
        }
    }
}

/// Agents kept by the daemon; cheap to clone.
#[derive(Clone)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    providers: Providers,
    settings: LocalSettings,
    /// Runs being driven in this process, by run id.
    live: Mutex<HashMap<String, LiveRun>>,
}

struct LiveRun {
    conversation_id: String,
    cancel: CancellationToken,
    /// The highest `seq_id` committed so far.
    progress: watch::Sender<i64>,
}

type Result<T> = std::result::Result<T, LocalError>;

impl LocalBackend {
    pub fn new(store: Store, providers: Providers, settings: LocalSettings) -> LocalBackend {
        LocalBackend {
            inner: Arc::new(Inner {
                store,
                providers,
                settings,
                live: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn providers(&self) -> &Providers {
        &self.inner.providers
    }

    pub async fn has_agent(&self, agent_id: &str) -> Result<bool> {
        Ok(self.store().local_agent(agent_id).await?.is_some())
    }

    pub async fn has_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<bool> {
        if conversation_id == super::DEFAULT_CONVERSATION {
            return match agent_id {
                Some(agent_id) => self.has_agent(agent_id).await,
                None => Ok(false),
            };
        }
        Ok(self
            .store()
            .local_conversation(conversation_id)
            .await?
            .is_some())
    }

    /// The stored key of a conversation: the default one goes by its agent.
    fn conversation_key(&self, conversation_id: &str, agent_id: Option<&str>) -> Result<String> {
        if conversation_id == super::DEFAULT_CONVERSATION {
            let agent_id = agent_id.ok_or_else(|| {
                LocalError::Invalid("the default conversation needs its agent_id".to_owned())
            })?;
            return Ok(default_conversation_key(agent_id));
        }
        Ok(conversation_id.to_owned())
    }

    pub async fn list_runs(&self, query: &Value) -> Result<Value> {
        let agent_id = query["agent_id"].as_str();
        let conversation = match query["conversation_id"].as_str() {
            Some(id) => Some(self.conversation_key(id, agent_id)?),
            None => None,
        };
        let limit = limit_of(query, 50);
        let runs = self
            .store()
            .local_runs(conversation.as_deref(), agent_id, limit)
            .await?;
        Ok(Value::Array(runs.iter().map(shapes::run).collect()))
    }

    pub async fn list_models(&self) -> Result<Value> {
        let models = self.providers().list_models().await;
        Ok(Value::Array(
            models
                .iter()
                .map(|model| {
                    json!({
                        "handle": model.handle,
                        "model": model.model,
                        "display_name": model.model,
                        "provider_name": model.provider,
                        "model_endpoint_type": model.provider,
                        "context_window": model.context_window,
                    })
                })
                .collect(),
        ))
    }

    /// Stops the conversation's running run, if any.
    pub async fn cancel_conversation(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Value> {
        let key = self.conversation_key(conversation_id, agent_id)?;
        let cancelled: Vec<String> = lock(&self.inner.live)
            .iter()
            .filter(|(_, live)| live.conversation_id == key)
            .map(|(run_id, live)| {
                live.cancel.cancel();
                run_id.clone()
            })
            .collect();
        if cancelled.is_empty()
            && let Some(run) = self.store().running_local_run(&key).await?
        {
            // Left running by an earlier daemon and not resumed yet.
            run::end_unattended(self.store(), &run, LocalRunStatus::Cancelled, "cancelled").await?;
        }
        Ok(json!({ "cancelled_run_ids": cancelled }))
    }

    /// Streams run `run_id` after `after`, driving it first if it is still
    /// running and nobody in this process drives it (a daemon restarted
    /// during the run).
    pub async fn resume_stream(&self, run_id: &str, after: u64) -> Result<LocalRunStream> {
        let run = self
            .store()
            .local_run(run_id)
            .await?
            .ok_or_else(|| LocalError::NotFound {
                what: "run",
                id: run_id.to_owned(),
            })?;
        let progress = self.watch(&run);
        Ok(LocalRunStream::new(
            self.clone(),
            run.id,
            i64::try_from(after).unwrap_or(i64::MAX),
            progress,
        ))
    }

    /// A watch on a running run's progress, starting a driver when none
    /// runs it; `None` for a run that ended.
    fn watch(&self, run: &LocalRunRow) -> Option<watch::Receiver<i64>> {
        if run.status != LocalRunStatus::Running {
            return None;
        }
        let mut live = lock(&self.inner.live);
        if let Some(existing) = live.get(&run.id) {
            return Some(existing.progress.subscribe());
        }
        let (progress, receiver) = watch::channel(0);
        let cancel = CancellationToken::new();
        live.insert(
            run.id.clone(),
            LiveRun {
                conversation_id: run.conversation_id.clone(),
                cancel: cancel.clone(),
                progress: progress.clone(),
            },
        );
        drop(live);
        let backend = self.clone();
        let run = run.clone();
        tokio::spawn(async move {
            let run_id = run.id.clone();
            run::Driver::new(backend.clone(), run, cancel, progress)
                .drive()
                .await;
            lock(&backend.inner.live).remove(&run_id);
        });
        Some(receiver)
    }
}

/// `limit` of a list query, bounded.
fn limit_of(query: &Value, default: i64) -> i64 {
    query["limit"].as_i64().unwrap_or(default).clamp(1, 1000)
}

/// A Letta-style id: the prefix and a random (version 4) UUID.
fn new_id(prefix: &str) -> String {
    let bits = (fastrand::u128(..) & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{prefix}-{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
