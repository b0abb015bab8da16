//! The `local` backend: agents that live in the daemon's own SQLite, with
//! model providers called directly. It answers like a Letta server (the
//! same calls, the same shapes, background runs with `seq_id`s that can be
//! resumed), so the turn machinery drives local runs exactly as it drives
//! server ones, with the same durability.

mod agent_file;
mod agents;
mod compaction;
mod contexts;
mod forks;
mod memory;
mod prompt;
pub mod providers;
mod run;
mod shapes;
mod stream;
pub(super) mod tool_sets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::LocalError;
use crate::store::Store;
use crate::store::local::{
    LocalConversationRow, LocalRunRow, LocalRunStatus, default_conversation_key,
};
use crate::util::lock;
pub use providers::{ProviderConfig, Providers};
pub use stream::LocalRunStream;

/// How local agents run (the defaults are the configuration's).
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Model steps one run may take before it stops with `max_steps`.
    pub max_steps: u32,
    /// The share of the context window a prompt may fill before older
    /// messages are summarised.
    pub compaction_threshold: f64,
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
    tool_sets: tool_sets::ToolSets,
    contexts: contexts::Contexts,
}

struct LiveRun {
    conversation_id: String,
    cancel: CancellationToken,
    chunks: Arc<Mutex<LiveChunks>>,
    /// The highest `seq_id` published so far.
    progress: watch::Sender<i64>,
}

/// Every chunk a driver streamed, in order, for its readers: they read
/// here while the run is driven and from the database before and after.
/// (A step's chunks are stored with the step when it ends; the frontends'
/// own event log commits each chunk before anyone sees it, and a step cut
/// by a crash is run again anyway.)
#[derive(Default)]
pub(super) struct LiveChunks {
    chunks: Vec<(i64, letta_api::Chunk)>,
    /// How the run ended, once the driver stored that (after publishing
    /// every chunk): readers then need not ask the database.
    ending: Option<LiveEnding>,
}

#[derive(Clone)]
pub(super) enum LiveEnding {
    Stopped,
    Failed(String),
}

impl LiveChunks {
    pub(super) fn publish(&mut self, chunks: impl IntoIterator<Item = (i64, letta_api::Chunk)>) {
        self.chunks.extend(chunks);
    }

    /// The first `seq_id` held here (earlier ones are in the database),
    /// and the chunks after `after`.
    pub(super) fn after(&self, after: i64) -> (Option<i64>, Vec<letta_api::Chunk>) {
        let first = self.chunks.first().map(|(seq, _)| *seq);
        let start = self.chunks.partition_point(|(seq, _)| *seq <= after);
        let chunks = self.chunks[start..]
            .iter()
            .map(|(_, chunk)| chunk.clone())
            .collect();
        (first, chunks)
    }
}

/// A reader's view of a driven run.
pub(super) struct LiveView {
    pub chunks: Arc<Mutex<LiveChunks>>,
    pub progress: watch::Receiver<i64>,
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
                tool_sets: tool_sets::ToolSets::default(),
                contexts: contexts::Contexts::default(),
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
        // A default conversation without its agent names none of ours.
        let Ok(key) = self.conversation_key(conversation_id, agent_id) else {
            return Ok(false);
        };
        Ok(self.store().local_conversation(&key).await?.is_some())
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

    /// A conversation by its wire id (`default` goes with `agent_id`).
    async fn conversation_row(
        &self,
        conversation_id: &str,
        agent_id: Option<&str>,
    ) -> Result<LocalConversationRow> {
        let key = self.conversation_key(conversation_id, agent_id)?;
        self.store()
            .local_conversation(&key)
            .await?
            .ok_or_else(|| LocalError::NotFound {
                what: "conversation",
                id: conversation_id.to_owned(),
            })
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
        Ok(self.stream_of(&run, after, false))
    }

    /// Streams a run after `after`; `fresh` when this process just started
    /// it.
    fn stream_of(&self, run: &LocalRunRow, after: u64, fresh: bool) -> LocalRunStream {
        let live = self.watch(run, fresh);
        LocalRunStream::new(
            self.clone(),
            run.id.clone(),
            i64::try_from(after).unwrap_or(i64::MAX),
            live,
        )
    }

    /// A view of a running run, starting a driver when none runs it;
    /// `None` for a run that ended.
    fn watch(&self, run: &LocalRunRow, fresh: bool) -> Option<LiveView> {
        if run.status != LocalRunStatus::Running {
            return None;
        }
        let mut live = lock(&self.inner.live);
        if let Some(existing) = live.get(&run.id) {
            return Some(LiveView {
                chunks: existing.chunks.clone(),
                progress: existing.progress.subscribe(),
            });
        }
        let (progress, receiver) = watch::channel(0);
        let cancel = CancellationToken::new();
        let chunks = Arc::new(Mutex::new(LiveChunks::default()));
        live.insert(
            run.id.clone(),
            LiveRun {
                conversation_id: run.conversation_id.clone(),
                cancel: cancel.clone(),
                chunks: chunks.clone(),
                progress: progress.clone(),
            },
        );
        drop(live);
        let backend = self.clone();
        let run = run.clone();
        let driven = chunks.clone();
        tokio::spawn(async move {
            let run_id = run.id.clone();
            run::Driver::new(backend.clone(), run, cancel, driven, progress, fresh)
                .drive()
                .await;
            lock(&backend.inner.live).remove(&run_id);
        });
        Some(LiveView {
            chunks,
            progress: receiver,
        })
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
