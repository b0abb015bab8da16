//! Runtimes: one agent conversation each, with its settings, its queue of
//! inputs, its turn worker and its event log.
//!
//! [`Runtimes`] finds or creates them; a [`Runtime`] accepts inputs, runs
//! turns one at a time in its worker ([`turn`]), and emits every change as a
//! durable event ([`event_log`]). Frontends only observe and steer: no turn
//! depends on a connection staying open.

mod approvals;
mod context;
mod copies;
mod error;
pub mod event_log;
mod mcp;
mod monitors;
mod notices;
mod plan;
mod queue;
pub use queue::check_consumer_id;
mod sink;
mod state;
mod subagents;
mod toolset;
mod turn;
mod waiters;
mod wakes;
mod workdir;
mod worktree;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::util::lock;
use std::time::Duration;

use letta_protocol::{
    DeviceStateChange, ExternalToolsGroup, PermissionMode, RuntimeScope, RuntimeSummary, events,
};
use tokio::sync::Notify;

use crate::backend::{Backend, Backends};
use crate::store::daemon_settings::BOOT_WORKING_DIRECTORY;
use crate::store::{RuntimeRow, Store, StoreError};
use crate::tools::{BackgroundJobs, ExecSessions};
use event_log::{Draft, EventLog, SubscribeError};
use state::{QueuedInput, RuntimeState};
use waiters::Waiters;

pub use error::RuntimeError;
pub use sink::{EventSink, Pushing, SinkGone, TryPushError};
pub use state::Registration;

pub use crate::backend::DEFAULT_CONVERSATION;

/// How runtimes behave; from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Events kept per runtime for replay.
    pub event_retention: u64,
    /// A run stream silent (pings included) for this long is resumed.
    pub stall_timeout: Duration,
    /// Where tool output too long to return is kept.
    pub tool_output_dir: PathBuf,
    /// Subagents working at once.
    pub max_subagents: usize,
}

/// Every runtime the daemon knows.
pub struct Runtimes {
    backends: Backends,
    store: Store,
    settings: RuntimeSettings,
    /// Where runtimes started without a working directory work.
    boot_cwd: std::sync::RwLock<String>,
    /// Counts changes of `boot_cwd`.
    cwd_revision: std::sync::atomic::AtomicU64,
    mcp: crate::mcp::McpServers,
    /// Itself, for runtimes that open others (subagents).
    me: std::sync::Weak<Runtimes>,
    by_key: tokio::sync::Mutex<HashMap<(String, String), Arc<Runtime>>>,
    /// Held while a subagent's launch is counted against `max_subagents`
    /// and recorded.
    launching: tokio::sync::Mutex<()>,
}

/// Runtimes open at once in one daemon.
pub const MAX_OPEN_RUNTIMES: usize = 10_000;

/// Inputs one runtime holds in its queue; a new one past it is refused.
pub const MAX_QUEUED_INPUTS: usize = 1000;

/// One agent conversation.
pub struct Runtime {
    pub id: i64,
    pub scope: RuntimeScope,
    pub log: Arc<EventLog>,
    /// Where the agent lives.
    backend: Backend,
    store: Store,
    stall_timeout: Duration,
    tool_output_dir: PathBuf,
    state: Mutex<RuntimeState>,
    /// Wakes the turn worker when there may be work.
    wake: Notify,
    external: Waiters,
    /// Turns waiting for approval decisions, by tool call id.
    approvals: Waiters,
    jobs: BackgroundJobs,
    /// The `exec_command` sessions among those jobs, with their input and
    /// output.
    sessions: ExecSessions,
    /// Where monitors send their events for delivery to the agent.
    monitor_events: tokio::sync::mpsc::Sender<crate::tools::monitor::MonitorEvent>,
    /// The daemon's MCP servers, shared with every runtime.
    mcp: crate::mcp::McpServers,
    /// Every runtime, to open a subagent's.
    runtimes: std::sync::Weak<Runtimes>,
    /// Counts the turns that ended, for whoever waits on one.
    turns_ended: tokio::sync::watch::Sender<u64>,
    /// Counts the subagents of this runtime that ended and were reported,
    /// for an `Agent` call waiting on one in the foreground.
    subagents_reported: tokio::sync::watch::Sender<u64>,
    copies: copies::Copies,
    settings_read: Mutex<Option<approvals::SettingsRead>>,
    offered: turn::OfferedCache,
}

impl Runtimes {
    pub fn new(backends: Backends, store: Store, settings: RuntimeSettings) -> Arc<Runtimes> {
        let boot_cwd = std::env::current_dir()
            .map(|dir| dir.display().to_string())
            .unwrap_or_else(|_| "/".to_owned());
        Arc::new_cyclic(|me| Runtimes {
            backends,
            store,
            settings,
            boot_cwd: std::sync::RwLock::new(boot_cwd),
            cwd_revision: std::sync::atomic::AtomicU64::new(0),
            mcp: crate::mcp::McpServers::default(),
            me: me.clone(),
            by_key: tokio::sync::Mutex::new(HashMap::new()),
            launching: tokio::sync::Mutex::new(()),
        })
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Where runtimes started without a working directory work.
    pub fn boot_cwd(&self) -> String {
        self.boot_cwd
            .read()
            .unwrap_or_else(|err| err.into_inner())
            .clone()
    }

    /// How many times the boot working directory changed since the daemon
    /// started.
    pub fn cwd_revision(&self) -> u64 {
        self.cwd_revision.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets (and keeps across restarts) the boot working directory, an
    /// existing directory given canonical; returns the new revision.
    pub async fn set_boot_cwd(&self, dir: String) -> Result<u64, RuntimeError> {
        self.store
            .set_daemon_setting(BOOT_WORKING_DIRECTORY, &dir)
            .await?;
        *self.boot_cwd.write().unwrap_or_else(|err| err.into_inner()) = dir;
        Ok(self
            .cwd_revision
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1)
    }

    /// Every runtime's agent (empty when none), conversation and working
    /// directory.
    pub async fn working_directories(&self) -> Result<Vec<(String, String, String)>, RuntimeError> {
        Ok(self.store.runtime_cwds().await?)
    }

    /// Loads every stored runtime and restarts their workers, so queued
    /// inputs and interrupted turns continue without anyone reconnecting.
    pub async fn restore(&self) -> Result<usize, RuntimeError> {
        if let Some(dir) = self.store.daemon_setting(BOOT_WORKING_DIRECTORY).await?
            && Path::new(&dir).is_dir()
        {
            *self.boot_cwd.write().unwrap_or_else(|err| err.into_inner()) = dir;
        }
        let rows = self.store.load_runtimes().await?;
        let count = rows.len();
        for row in rows {
            self.open(row).await?;
        }
        Ok(count)
    }

    /// Opens (or returns) the runtime of `agent_id`/`conversation_id` with
    /// these settings.
    pub async fn open_with(
        &self,
        agent_id: Option<&str>,
        conversation_id: &str,
        cwd: Option<String>,
        mode: Option<PermissionMode>,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        let agent_key = agent_id.unwrap_or_default();
        let existing = self.store.find_runtime(agent_key, conversation_id).await?;
        if existing.is_none() && self.by_key.lock().await.len() >= MAX_OPEN_RUNTIMES {
            return Err(RuntimeError::Overloaded(format!(
                "the daemon already holds {MAX_OPEN_RUNTIMES} runtimes, the most it opens"
            )));
        }
        if existing.is_none() {
            self.store.check_room().await?;
        }
        let cwd = cwd
            .or_else(|| existing.as_ref().map(|row| row.cwd.clone()))
            .unwrap_or_else(|| self.boot_cwd());
        let mode = mode
            .or_else(|| {
                existing
                    .as_ref()
                    .and_then(|row| parse_mode(&row.permission_mode))
            })
            .unwrap_or(PermissionMode::Standard);
        let row = self
            .store
            .upsert_runtime(
                agent_key,
                conversation_id,
                &cwd,
                mode.as_str(),
                &crate::util::now_rfc3339(),
            )
            .await?;
        let runtime = self.open(row).await?;
        runtime.set_device_state(Some(cwd), Some(mode));
        Ok(runtime)
    }

    async fn open(&self, row: RuntimeRow) -> Result<Arc<Runtime>, RuntimeError> {
        let key = (row.agent_id.clone(), row.conversation_id.clone());
        let mut by_key = self.by_key.lock().await;
        if let Some(runtime) = by_key.get(&key) {
            return Ok(runtime.clone());
        }

        let scope = RuntimeScope {
            agent_id: (!row.agent_id.is_empty()).then(|| row.agent_id.clone()),
            conversation_id: row.conversation_id.clone(),
            acting_user_id: None,
        };
        let log = EventLog::open(
            row.id,
            scope.clone(),
            self.store.clone(),
            self.settings.event_retention,
        )
        .await?;
        let backend = self
            .backends
            .for_conversation(&row.conversation_id, scope.agent_id.as_deref())
            .await?;
        let mode = parse_mode(&row.permission_mode).unwrap_or(PermissionMode::Standard);
        let mut state = RuntimeState::new(row.cwd.clone(), mode, row.queue_paused);
        state.toolset = row.toolset.clone();
        state.takes_images = backend.kind().takes_images();
        state.session_context = row.session_context;
        state.context_cwd = row.context_cwd.clone();
        state.context_skills = row.context_skills.clone();
        state.own_mcp_servers = serde_json::from_str(&row.mcp_servers)
            .unwrap_or_else(|_| serde_json::Value::Array(Vec::new()));
        state.has_subagents = !self.store.subagents_of(row.id, 1).await?.is_empty();
        for input in self.store.open_inputs(row.id).await? {
            let content = turn::content_of(&input.payload);
            state.queue.push(QueuedInput {
                row: input,
                content,
            });
        }
        let (monitor_events, events) = tokio::sync::mpsc::channel(monitors::EVENT_QUEUE);
        let runtime = Arc::new(Runtime {
            id: row.id,
            scope,
            log,
            backend,
            store: self.store.clone(),
            stall_timeout: self.settings.stall_timeout,
            tool_output_dir: self.settings.tool_output_dir.join(row.id.to_string()),
            state: Mutex::new(state),
            wake: Notify::new(),
            external: Waiters::default(),
            approvals: Waiters::default(),
            jobs: BackgroundJobs::default(),
            sessions: ExecSessions::default(),
            monitor_events,
            mcp: self.mcp.clone(),
            runtimes: self.me.clone(),
            turns_ended: tokio::sync::watch::Sender::new(0),
            subagents_reported: tokio::sync::watch::Sender::new(0),
            copies: copies::Copies::default(),
            settings_read: Mutex::new(None),
            offered: turn::OfferedCache::default(),
        });
        tokio::spawn(turn::work(runtime.clone()));
        tokio::spawn(notices::report_background_jobs(Arc::downgrade(&runtime)));
        tokio::spawn(monitors::deliver_events(Arc::downgrade(&runtime), events));
        let restoring = runtime.clone();
        tokio::spawn(async move { restoring.restore_monitors().await });
        by_key.insert(key, runtime.clone());
        Ok(runtime)
    }

    /// The runtime named by `scope`, which `runtime_start` must have opened.
    pub async fn get(&self, scope: &RuntimeScope) -> Result<Arc<Runtime>, RuntimeError> {
        let key = (
            scope.agent_id.clone().unwrap_or_default(),
            scope.conversation_id.clone(),
        );
        if let Some(runtime) = self.by_key.lock().await.get(&key) {
            return Ok(runtime.clone());
        }
        Err(RuntimeError::UnknownRuntime {
            agent: scope
                .agent_id
                .clone()
                .unwrap_or_else(|| "(none)".to_owned()),
            conversation: scope.conversation_id.clone(),
        })
    }

    /// Withdraws what a closed connection registered on any runtime.
    pub async fn connection_closed(&self, connection: usize) {
        for runtime in self.all().await {
            if let Err(err) = runtime.withdraw_external_tools(connection).await {
                tracing::warn!(connection, error = %err, "cannot withdraw a closed connection's tools");
            }
        }
    }

    /// Ends the background commands of every runtime, for the daemon's
    /// shutdown.
    pub async fn stop_background_jobs(&self) {
        for runtime in self.all().await {
            runtime.jobs.kill_all().await;
        }
    }

    /// Every open runtime.
    pub async fn all(&self) -> Vec<Arc<Runtime>> {
        self.by_key.lock().await.values().cloned().collect()
    }
}

impl Runtime {
    /// Whether this runtime is an agent's default conversation.
    pub(crate) fn is_default_conversation(&self) -> bool {
        self.scope.conversation_id == DEFAULT_CONVERSATION
    }

    /// The agent a request about this conversation must name: set for the
    /// default conversation, which Letta addresses by agent.
    pub(crate) fn addressed_agent(&self) -> Option<&str> {
        if self.is_default_conversation() {
            self.scope.agent_id.as_deref()
        } else {
            None
        }
    }

    /// Adds what a request about this conversation must carry: the agent,
    /// for the default conversation.
    pub(crate) fn scoped(&self, mut fields: serde_json::Value) -> serde_json::Value {
        if let (Some(agent_id), serde_json::Value::Object(map)) =
            (self.addressed_agent(), &mut fields)
        {
            map.insert("agent_id".to_owned(), serde_json::Value::from(agent_id));
        }
        fields
    }

    /// Subscribes a connection to this runtime's events (see
    /// [`EventLog::subscribe`]).
    pub async fn subscribe(
        &self,
        connection: Arc<dyn EventSink>,
        after: Option<u64>,
    ) -> Result<tokio::sync::watch::Receiver<u64>, RuntimeError> {
        self.log
            .subscribe(&connection, after)
            .await
            .map_err(|err| match err {
                SubscribeError::Expired { first_kept } => {
                    RuntimeError::EventsExpired { first_kept }
                }
                SubscribeError::Store(err) => RuntimeError::Store(err),
            })
    }

    /// Replays to `connection` what it asks for, then the current state, and
    /// returns (the last seq) once all of it is queued for the connection,
    /// before the reply.
    pub async fn sync(
        &self,
        connection: Arc<dyn EventSink>,
        after: Option<u64>,
    ) -> Result<u64, RuntimeError> {
        let mut delivered = self.subscribe(connection, after).await?;
        let last = self.emit_snapshots().await?;
        delivered
            .wait_for(|seq| *seq >= last)
            .await
            .map_err(|_| RuntimeError::Internal("the connection closed during sync".into()))?;
        Ok(last)
    }

    /// What `daemon_status` lists about this runtime.
    pub async fn summary(&self) -> Result<RuntimeSummary, RuntimeError> {
        let pending_approvals = self.pending_control_requests().await?;
        let last_input_at = self.store.last_input_at(self.id).await?;
        let state = lock(&self.state);
        Ok(RuntimeSummary {
            runtime: self.scope.clone(),
            loop_status: state.loop_status,
            is_processing: state.running.is_some() || state.recording_end,
            cwd: state.cwd.clone(),
            permission_mode: state.mode,
            queued_inputs: u32::try_from(state.queue.len()).unwrap_or(u32::MAX),
            queue_paused: state.paused,
            pending_approvals,
            external_tools: u32::try_from(
                state
                    .registrations
                    .iter()
                    .map(|registration| registration.group.tools.len())
                    .sum::<usize>(),
            )
            .unwrap_or(u32::MAX),
            last_event_seq: self.log.latest(),
            last_input_at,
        })
    }

    /// Emits device status, loop status and queue; returns the last seq.
    pub async fn emit_snapshots(&self) -> Result<u64, RuntimeError> {
        let cwd = lock(&self.state).cwd.clone();
        self.discover_skills(&cwd).await;
        self.log
            .emit_built(|| async {
                let mut drafts = vec![
                    self.device_status_draft().await,
                    self.loop_status_draft(),
                    self.queue_draft(Vec::new()),
                ];
                drafts.extend(self.plan_snapshot().await);
                match self.subagents_draft().await {
                    Ok(subagents) => drafts.extend(subagents),
                    Err(err) => tracing::warn!(error = %err, "cannot list the subagents"),
                }
                drafts
            })
            .await
            .map_err(RuntimeError::from)
    }

    pub async fn change_device_state(&self, change: DeviceStateChange) -> Result<(), RuntimeError> {
        let moved = change.cwd.is_some();
        let (cwd, mode) = self.set_device_state(change.cwd, change.mode);
        self.store
            .update_device_state(self.id, &cwd, mode.as_str())
            .await?;
        if moved {
            self.discover_skills(&cwd).await;
        }
        let draft = self.device_status_draft().await;
        self.log.emit(draft).await?;
        Ok(())
    }

    fn set_device_state(
        &self,
        cwd: Option<String>,
        mode: Option<PermissionMode>,
    ) -> (String, PermissionMode) {
        let mut state = lock(&self.state);
        if let Some(cwd) = cwd {
            state.cwd = cwd;
        }
        if let Some(mode) = mode {
            state.mode = mode;
        }
        (state.cwd.clone(), state.mode)
    }

    /// Replaces the tools `connection` registered on this runtime.
    pub async fn register_external_tools(
        &self,
        connection: usize,
        groups: Vec<ExternalToolsGroup>,
    ) -> Result<(), RuntimeError> {
        {
            let mut state = lock(&self.state);
            state
                .registrations
                .retain(|registration| registration.connection != connection);
            state.registrations.extend(
                groups
                    .into_iter()
                    .map(|group| Registration { connection, group }),
            );
        }
        let draft = self.device_status_draft().await;
        self.log.emit(draft).await?;
        Ok(())
    }

    /// Withdraws the tools `connection` registered, once it has closed:
    /// they are no longer offered to the agent, and a frontend that
    /// reconnects registers its own again.
    pub async fn withdraw_external_tools(&self, connection: usize) -> Result<(), StoreError> {
        let withdrawn = {
            let mut state = lock(&self.state);
            let before = state.registrations.len();
            state
                .registrations
                .retain(|registration| registration.connection != connection);
            state.registrations.len() != before
        };
        if withdrawn {
            let draft = self.device_status_draft().await;
            self.log.emit(draft).await?;
        }
        Ok(())
    }

    /// Stores a frontend's answer to an external tool call.
    pub async fn answer_external_call(
        &self,
        request_id: &str,
        result: serde_json::Value,
    ) -> Result<bool, RuntimeError> {
        let text = result.to_string();
        let answered = self
            .store
            .answer_external_call(self.id, request_id, &text)
            .await?;
        if answered {
            self.external.answered(request_id, result);
        }
        Ok(answered)
    }

    pub(crate) fn loop_status_draft(&self) -> Draft {
        let loop_status = lock(&self.state).loop_state();
        self.log
            .draft::<events::UpdateLoopStatus>(|envelope| letta_protocol::LoopStatusEvent {
                envelope,
                loop_status,
            })
    }

    pub(crate) async fn device_status_draft(&self) -> Draft {
        let mut pending = self.pending_control_requests().await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot list pending approvals");
            Vec::new()
        });
        pending.extend(self.subagents_pending().await);
        let jobs = serde_json::to_value(self.jobs.list()).unwrap_or_default();
        let settings_errors = self.settings_errors().await;
        let wakes = self.wakes_listed().await;
        let mut device_status = lock(&self.state).device_status(pending, settings_errors, jobs);
        device_status
            .extra
            .insert("scheduled_wakes".to_owned(), wakes);
        self.log
            .draft::<events::UpdateDeviceStatus>(|envelope| letta_protocol::DeviceStatusEvent {
                envelope,
                device_status,
            })
    }
}

fn parse_mode(name: &str) -> Option<PermissionMode> {
    serde_json::from_value(serde_json::Value::from(name)).ok()
}
