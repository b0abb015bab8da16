//! Runtimes: one agent conversation each, with its settings, its queue of
//! inputs, its turn worker and its event log.
//!
//! [`Runtimes`] finds or creates them; a [`Runtime`] accepts inputs, runs
//! turns one at a time in its worker ([`turn`]), and emits every change as a
//! durable event ([`event_log`]). Frontends only observe and steer: no turn
//! depends on a connection staying open.

mod approvals;
pub mod event_log;
mod state;
mod turn;
mod waiters;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    AbortMessageResult, CreateMessage, DeviceStateChange, ExternalToolsGroup, InputAccepted,
    InputDisposition, PermissionMode, QueueRemoval, QueueRemovalDisposition, ResumeQueueResult,
    RuntimeScope, RuntimeSummary, events,
};
use tokio::sync::Notify;

use crate::rpc::ConnectionInfo;
use crate::store::{RuntimeRow, Store, StoreError};
use crate::tools::BackgroundJobs;
use event_log::{Draft, EventLog, SubscribeError};
use letta_api::{LettaApi, LettaError};
use state::{QueuedInput, RuntimeState};
use waiters::Waiters;

pub use state::Registration;

/// The conversation id Letta uses for an agent's default conversation; the
/// agent goes along in the request.
pub const DEFAULT_CONVERSATION: &str = "default";

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// runtime state stays usable, and durable state is in the database anyway.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How runtimes behave; from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Events kept per runtime for replay.
    pub event_retention: u64,
    /// A run stream silent (pings included) for this long is resumed.
    pub stall_timeout: Duration,
    /// Where tool output too long to return is kept.
    pub tool_output_dir: PathBuf,
}

/// Every runtime the daemon knows.
pub struct Runtimes {
    api: LettaApi,
    store: Store,
    settings: RuntimeSettings,
    default_cwd: String,
    by_key: tokio::sync::Mutex<HashMap<(String, String), Arc<Runtime>>>,
}

/// One agent conversation.
pub struct Runtime {
    pub id: i64,
    pub scope: RuntimeScope,
    pub log: Arc<EventLog>,
    api: LettaApi,
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
}

impl Runtimes {
    pub fn new(api: LettaApi, store: Store, settings: RuntimeSettings) -> Runtimes {
        let default_cwd = std::env::current_dir()
            .map(|dir| dir.display().to_string())
            .unwrap_or_else(|_| "/".to_owned());
        Runtimes {
            api,
            store,
            settings,
            default_cwd,
            by_key: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn api(&self) -> &LettaApi {
        &self.api
    }

    /// Loads every stored runtime and restarts their workers, so queued
    /// inputs and interrupted turns continue without anyone reconnecting.
    pub async fn restore(&self) -> Result<usize, StoreError> {
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
    ) -> Result<Arc<Runtime>, RpcError> {
        let agent_key = agent_id.unwrap_or_default();
        let existing = self
            .store
            .find_runtime(agent_key, conversation_id)
            .await
            .map_err(storage)?;
        let cwd = cwd
            .or_else(|| existing.as_ref().map(|row| row.cwd.clone()))
            .unwrap_or_else(|| self.default_cwd.clone());
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
                &crate::app::now_rfc3339(),
            )
            .await
            .map_err(storage)?;
        let runtime = self.open(row).await.map_err(storage)?;
        runtime.set_device_state(Some(cwd), Some(mode));
        Ok(runtime)
    }

    async fn open(&self, row: RuntimeRow) -> Result<Arc<Runtime>, StoreError> {
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
        let mode = parse_mode(&row.permission_mode).unwrap_or(PermissionMode::Standard);
        let mut state = RuntimeState::new(row.cwd.clone(), mode, row.queue_paused);
        for input in self.store.open_inputs(row.id).await? {
            let content = turn::content_of(&input.payload);
            state.queue.push(QueuedInput {
                row: input,
                content,
            });
        }
        let runtime = Arc::new(Runtime {
            id: row.id,
            scope,
            log,
            api: self.api.clone(),
            store: self.store.clone(),
            stall_timeout: self.settings.stall_timeout,
            tool_output_dir: self.settings.tool_output_dir.join(row.id.to_string()),
            state: Mutex::new(state),
            wake: Notify::new(),
            external: Waiters::default(),
            approvals: Waiters::default(),
            jobs: BackgroundJobs::default(),
        });
        tokio::spawn(turn::work(runtime.clone()));
        tokio::spawn(report_background_jobs(Arc::downgrade(&runtime)));
        by_key.insert(key, runtime.clone());
        Ok(runtime)
    }

    /// The runtime named by `scope`, which `runtime_start` must have opened.
    pub async fn get(&self, scope: &RuntimeScope) -> Result<Arc<Runtime>, RpcError> {
        let key = (
            scope.agent_id.clone().unwrap_or_default(),
            scope.conversation_id.clone(),
        );
        if let Some(runtime) = self.by_key.lock().await.get(&key) {
            return Ok(runtime.clone());
        }
        Err(RpcError::new(
            ErrorCode::UnknownRuntime,
            format!(
                "no runtime for agent {} conversation {}: call runtime_start first",
                scope.agent_id.as_deref().unwrap_or("(none)"),
                scope.conversation_id
            ),
        ))
    }

    /// Withdraws what a closed connection registered on any runtime.
    pub async fn connection_closed(&self, connection: usize) {
        for runtime in self.all().await {
            if let Err(err) = runtime.withdraw_external_tools(connection).await {
                tracing::warn!(connection, error = %err, "cannot withdraw a closed connection's tools");
            }
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

    /// Adds what a request about this conversation must carry: the agent,
    /// for the default conversation.
    pub(crate) fn scoped(&self, mut fields: serde_json::Value) -> serde_json::Value {
        if self.is_default_conversation()
            && let (Some(agent_id), serde_json::Value::Object(map)) =
                (&self.scope.agent_id, &mut fields)
        {
            map.insert(
                "agent_id".to_owned(),
                serde_json::Value::from(agent_id.clone()),
            );
        }
        fields
    }

    /// Subscribes a connection to this runtime's events (see
    /// [`EventLog::subscribe`]).
    pub async fn subscribe(
        &self,
        connection: &Arc<ConnectionInfo>,
        after: Option<u64>,
    ) -> Result<tokio::sync::watch::Receiver<u64>, RpcError> {
        self.log
            .subscribe(connection, after)
            .await
            .map_err(|err| match err {
                SubscribeError::Expired { .. } => {
                    RpcError::new(ErrorCode::InvalidParams, err.to_string())
                }
                SubscribeError::Store(err) => storage(err),
            })
    }

    /// Replays to `connection` what it asks for, then the current state, and
    /// returns (the last seq) once all of it is queued for the connection,
    /// before the reply.
    pub async fn sync(
        &self,
        connection: &Arc<ConnectionInfo>,
        after: Option<u64>,
    ) -> Result<u64, RpcError> {
        let mut delivered = self.subscribe(connection, after).await?;
        let last = self.emit_snapshots().await?;
        delivered.wait_for(|seq| *seq >= last).await.map_err(|_| {
            RpcError::new(
                ErrorCode::InternalError,
                "the connection closed during sync",
            )
        })?;
        Ok(last)
    }

    /// What `daemon_status` lists about this runtime.
    pub async fn summary(&self) -> Result<RuntimeSummary, RpcError> {
        let pending_approvals = self.pending_control_requests().await.map_err(storage)?;
        let last_input_at = self.store.last_input_at(self.id).await.map_err(storage)?;
        let state = lock(&self.state);
        Ok(RuntimeSummary {
            runtime: self.scope.clone(),
            loop_status: state.loop_status,
            is_processing: state.running.is_some(),
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
    pub async fn emit_snapshots(&self) -> Result<u64, RpcError> {
        self.log
            .emit_built(|| async {
                vec![
                    self.device_status_draft().await,
                    self.loop_status_draft(),
                    self.queue_draft(Vec::new()),
                ]
            })
            .await
            .map_err(storage)
    }

    /// Accepts a user turn: starts it, or queues it behind the running one.
    /// A `client_message_id` seen before returns the first answer and starts
    /// nothing.
    pub async fn accept_input(&self, message: CreateMessage) -> Result<InputAccepted, RpcError> {
        if message.messages.is_empty() {
            return Err(RpcError::new(
                ErrorCode::InvalidParams,
                "create_message needs at least one message",
            ));
        }
        if let Some(rules) = &message.permission_rules {
            approvals::check_rules(rules)?;
        }
        let client_message_id = message
            .messages
            .iter()
            .find_map(|message| message.client_message_id.clone())
            .unwrap_or_else(|| format!("cm-{:016x}", fastrand::u64(..)));
        let payload = serde_json::to_string(&message)
            .map_err(|err| RpcError::new(ErrorCode::InvalidParams, err.to_string()))?;
        let busy = {
            let state = lock(&self.state);
            state.running.is_some() || !state.queue.is_empty()
        };
        let disposition = if busy {
            InputDisposition::Queued
        } else {
            InputDisposition::Started
        };
        let turn_id = format!("turn-{:016x}", fastrand::u64(..));
        let (row, fresh) = self
            .store
            .record_input(
                self.id,
                &client_message_id,
                &turn_id,
                disposition_name(disposition),
                &payload,
                &crate::app::now_rfc3339(),
            )
            .await
            .map_err(storage)?;
        let disposition = if row.disposition == "queued" {
            InputDisposition::Queued
        } else {
            InputDisposition::Started
        };
        let turn_id = row.turn_id.clone();
        if fresh {
            let content = turn::content_of(&row.payload);
            lock(&self.state).queue.push(QueuedInput { row, content });
            // A new message also releases a queue parked by an abort.
            self.set_queue_paused(false).await?;
        }
        Ok(InputAccepted {
            runtime: self.scope.clone(),
            accepted: true,
            disposition: Some(disposition),
            turn_id: Some(turn_id),
            error: None,
        })
    }

    /// Cancels the running turn (if any) and parks the queue.
    pub async fn abort(&self) -> Result<AbortMessageResult, RpcError> {
        let running = lock(&self.state).running.clone();
        if let Some(turn) = &running {
            turn.cancel.cancel();
        }
        self.set_queue_paused(true).await?;
        Ok(AbortMessageResult {
            runtime: self.scope.clone(),
            aborted: running.is_some(),
            success: true,
            error: None,
        })
    }

    /// Releases a queue parked by an abort.
    pub async fn resume_queue(&self) -> Result<ResumeQueueResult, RpcError> {
        let was_paused = lock(&self.state).paused;
        let waiting = self.set_queue_paused(false).await?;
        let resumed = if was_paused { waiting } else { 0 };
        Ok(ResumeQueueResult {
            runtime: self.scope.clone(),
            resumed: u32::try_from(resumed).unwrap_or(u32::MAX),
            success: true,
            error: None,
        })
    }

    /// Parks or releases the queue, durably, tells frontends, and wakes the
    /// worker when released. Returns how many inputs are waiting.
    async fn set_queue_paused(&self, paused: bool) -> Result<usize, RpcError> {
        let waiting = {
            let mut state = lock(&self.state);
            state.paused = paused;
            state.queue.len()
        };
        self.store
            .set_queue_paused(self.id, paused)
            .await
            .map_err(storage)?;
        self.log
            .emit(self.queue_draft(Vec::new()))
            .await
            .map_err(storage)?;
        if !paused {
            self.wake.notify_one();
        }
        Ok(waiting)
    }

    pub async fn change_device_state(&self, change: DeviceStateChange) -> Result<(), RpcError> {
        let (cwd, mode) = self.set_device_state(change.cwd, change.mode);
        self.store
            .update_device_state(self.id, &cwd, mode.as_str())
            .await
            .map_err(storage)?;
        let draft = self.device_status_draft().await;
        self.log.emit(draft).await.map_err(storage)?;
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
    ) -> Result<(), RpcError> {
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
        self.log.emit(draft).await.map_err(storage)?;
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
    ) -> Result<bool, RpcError> {
        let text = result.to_string();
        let answered = self
            .store
            .answer_external_call(self.id, request_id, &text)
            .await
            .map_err(storage)?;
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

    pub(crate) fn queue_draft(&self, removed: Vec<QueueRemoval>) -> Draft {
        let queue = lock(&self.state).queue_messages();
        self.log
            .draft::<events::UpdateQueue>(|envelope| letta_protocol::QueueEvent {
                envelope,
                queue,
                removed,
            })
    }

    pub(crate) async fn device_status_draft(&self) -> Draft {
        let pending = self.pending_control_requests().await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot list pending approvals");
            Vec::new()
        });
        let jobs = serde_json::to_value(self.jobs.list()).unwrap_or_default();
        let settings_errors = self.settings_errors().await;
        let device_status = lock(&self.state).device_status(pending, settings_errors, jobs);
        self.log
            .draft::<events::UpdateDeviceStatus>(|envelope| letta_protocol::DeviceStatusEvent {
                envelope,
                device_status,
            })
    }

    pub(crate) fn dequeued(client_message_id: &str) -> QueueRemoval {
        QueueRemoval {
            client_message_id: client_message_id.to_owned(),
            disposition: QueueRemovalDisposition::Dequeued,
        }
    }
}

/// Emits device status whenever a background command starts or ends, for
/// as long as the runtime exists.
async fn report_background_jobs(runtime: std::sync::Weak<Runtime>) {
    let Some(mut changes) = runtime.upgrade().map(|runtime| runtime.jobs.changes()) else {
        return;
    };
    while changes.changed().await.is_ok() {
        let Some(runtime) = runtime.upgrade() else {
            return;
        };
        let draft = runtime.device_status_draft().await;
        if let Err(err) = runtime.log.emit(draft).await {
            tracing::warn!(error = %err, "cannot report a background command");
        }
    }
}

pub(crate) fn storage(err: StoreError) -> RpcError {
    tracing::error!(error = %err, "storage failure");
    RpcError::new(
        ErrorCode::Storage,
        format!("the daemon could not store its state: {err}"),
    )
}

/// A Letta server failure as a protocol error, keeping status and detail.
pub(crate) fn upstream(err: LettaError) -> RpcError {
    let data = match &err {
        LettaError::Status {
            status,
            code,
            detail,
            ..
        } => {
            serde_json::json!({ "status": status, "code": code, "detail": detail })
        }
        _ => serde_json::json!({}),
    };
    RpcError::new(ErrorCode::LettaServer, err.to_string()).with_data(data)
}

fn parse_mode(name: &str) -> Option<PermissionMode> {
    serde_json::from_value(serde_json::Value::from(name)).ok()
}

fn disposition_name(disposition: InputDisposition) -> &'static str {
    match disposition {
        InputDisposition::Started => "started",
        InputDisposition::Queued => "queued",
    }
}
