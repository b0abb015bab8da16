//! Runtime methods: start, sync, input, abort, queue, device state and
//! external tools. Every runtime-scoped call subscribes the caller to the
//! runtime's events.

use std::sync::Arc;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    AbortMessageParams, AbortMessageResult, Ack, ChangeDeviceStateParams, Created,
    ExternalToolCallResponseParams, InputAccepted, InputParams, InputPayload, LaunchSubagentParams,
    LaunchSubagentResult, RemoveQueueItemParams, RemoveQueueItemResult, ResumeQueueParams,
    ResumeQueueResult, RuntimeExternalToolsUpdateParams, RuntimeScope, RuntimeStartParams,
    RuntimeStartResult, SubagentLaunchNotify, SyncParams, SyncResult, TurnFinishedAckParams,
    WakeCancelParams,
};
use serde_json::{Value, json};

use super::errors::upstream;
use super::resources::{agent_backend, backend_kind, conversation_backend};
use super::{ConnectionInfo, DaemonState};
use crate::runtime::{DEFAULT_CONVERSATION, Runtime};
use crate::util::id_of;

pub async fn runtime_start(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: RuntimeStartParams,
) -> Result<RuntimeStartResult, RpcError> {
    let exclusive = |what: &str| {
        RpcError::new(
            ErrorCode::InvalidParams,
            format!("{what} are mutually exclusive"),
        )
    };
    if params.agent_id.is_some() && params.create_agent.is_some() {
        return Err(exclusive("agent_id and create_agent"));
    }
    if params.conversation_id.is_some() && params.create_conversation.is_some() {
        return Err(exclusive("conversation_id and create_conversation"));
    }
    let mut created = Created::default();
    let mut agent = match (&params.agent_id, &params.create_agent) {
        (Some(agent_id), _) => Some(
            agent_backend(&state, agent_id)
                .await?
                .retrieve_agent(agent_id)
                .await
                .map_err(upstream)?,
        ),
        (None, Some(create)) => {
            created.agent = true;
            let kind = backend_kind(&state, create.backend);
            Some(
                state
                    .runtimes
                    .backends()
                    .get(kind)
                    .create_agent(&Value::Object(create.body.clone()))
                    .await
                    .map_err(upstream)?,
            )
        }
        (None, None) => None,
    };
    let agent_id_so_far = agent.as_ref().and_then(id_of);
    let conversation = match (
        &params.conversation_id,
        &params.create_conversation,
        &agent_id_so_far,
    ) {
        // The agent's default conversation needs no lookup.
        (Some(conversation_id), _, Some(agent_id)) if conversation_id == DEFAULT_CONVERSATION => {
            json!({ "id": DEFAULT_CONVERSATION, "agent_id": agent_id })
        }
        (Some(conversation_id), _, _) => conversation_backend(&state, conversation_id, None)
            .await?
            .retrieve_conversation(conversation_id)
            .await
            .map_err(upstream)?,
        (None, Some(create), agent_id) => {
            let agent_id = agent_id.clone().ok_or_else(|| {
                RpcError::new(
                    ErrorCode::InvalidParams,
                    "create_conversation needs agent_id or create_agent",
                )
            })?;
            let body = create
                .body
                .clone()
                .map(Value::Object)
                .unwrap_or_else(|| json!({}));
            created.conversation = true;
            agent_backend(&state, &agent_id)
                .await?
                .create_conversation(&agent_id, &body)
                .await
                .map_err(upstream)?
        }
        (None, None, Some(agent_id)) => json!({ "id": DEFAULT_CONVERSATION, "agent_id": agent_id }),
        (None, None, None) => {
            return Err(RpcError::new(
                ErrorCode::InvalidParams,
                "runtime_start needs an agent (agent_id or create_agent) or a conversation (conversation_id)",
            ));
        }
    };
    let conversation_id = id_of(&conversation).ok_or_else(|| {
        RpcError::new(
            ErrorCode::LettaServer,
            "the Letta server returned a conversation without an id",
        )
    })?;
    let agent_id = agent.as_ref().and_then(id_of).or_else(|| {
        conversation
            .get("agent_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if agent.is_none()
        && let Some(agent_id) = &agent_id
    {
        agent = Some(
            agent_backend(&state, agent_id)
                .await?
                .retrieve_agent(agent_id)
                .await
                .map_err(upstream)?,
        );
    }

    let runtime = state
        .runtimes
        .open_with(
            agent_id.as_deref(),
            &conversation_id,
            params.cwd,
            params.mode,
        )
        .await?;
    if let Some(agent) = &agent {
        runtime.note_agent_model(agent);
    }
    if let Some(enabled) = params.session_context {
        runtime
            .set_session_context(enabled)
            .await
            .map_err(crate::runtime::RuntimeError::from)?;
    }
    if let Some(groups) = params.external_tools {
        runtime
            .register_external_tools(connection.id, groups)
            .await?;
    }
    if let Some(servers) = params.mcp_servers {
        runtime.set_own_mcp_servers(servers).await?;
    }
    runtime.start_mcp_servers();
    let mut delivered = runtime
        .subscribe(connection.clone(), params.after_event_seq)
        .await?;
    let last = runtime.emit_snapshots().await?;
    if params.wait_for_replay.unwrap_or(true) {
        let _ = delivered.wait_for(|seq| *seq >= last).await;
    }
    Ok(RuntimeStartResult {
        success: true,
        runtime: Some(runtime.scope.clone()),
        agent,
        conversation: Some(conversation),
        created,
        error: None,
    })
}

/// The runtime a call names, with the caller subscribed to it.
async fn subscribed(
    state: &DaemonState,
    connection: &Arc<ConnectionInfo>,
    scope: &RuntimeScope,
) -> Result<Arc<Runtime>, RpcError> {
    let runtime = state.runtimes.get(scope).await?;
    runtime.subscribe(connection.clone(), None).await?;
    Ok(runtime)
}

pub async fn sync(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: SyncParams,
) -> Result<SyncResult, RpcError> {
    let runtime = state.runtimes.get(&params.runtime).await?;
    let last = runtime.sync(connection, params.after_event_seq).await?;
    Ok(SyncResult {
        runtime: runtime.scope.clone(),
        success: true,
        last_event_seq: Some(last),
        error: None,
    })
}

pub async fn input(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: InputParams,
) -> Result<InputAccepted, RpcError> {
    let runtime = subscribed(&state, &connection, &params.runtime).await?;
    // In a task of its own, which finishes even if the connection closes
    // meanwhile: an input is stored and then queued, an answer stored and
    // then handed to the waiting turn, and stopping between the two would
    // leave it stored but never acted on.
    let taken = tokio::spawn(async move {
        match params.payload {
            InputPayload::CreateMessage(message) => {
                runtime
                    .accept_input(message, params.terminal_consumer_id)
                    .await
            }
            InputPayload::ApprovalResponse(response) => {
                runtime.answer_approval(response).await?;
                Ok(InputAccepted {
                    runtime: runtime.scope.clone(),
                    accepted: true,
                    disposition: None,
                    turn_id: None,
                    error: None,
                })
            }
        }
    })
    .await
    .map_err(|err| {
        RpcError::new(
            ErrorCode::InternalError,
            format!("taking the input failed: {err}"),
        )
    })?;
    Ok(taken?)
}

pub async fn abort_message(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: AbortMessageParams,
) -> Result<AbortMessageResult, RpcError> {
    Ok(subscribed(&state, &connection, &params.runtime)
        .await?
        .abort()
        .await?)
}

pub async fn resume_queue(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: ResumeQueueParams,
) -> Result<ResumeQueueResult, RpcError> {
    Ok(subscribed(&state, &connection, &params.runtime)
        .await?
        .resume_queue()
        .await?)
}

/// Events are durable and replayed by `event_seq`, so a receipt changes
/// nothing; it is checked (a runtime this daemon knows, a bounded consumer
/// id) and accepted.
pub async fn turn_finished_ack(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: TurnFinishedAckParams,
) -> Result<Ack, RpcError> {
    crate::runtime::check_consumer_id(&params.consumer_id, "consumer_id")?;
    state.runtimes.get(&params.runtime).await?;
    tracing::debug!(consumer = %params.consumer_id, key = %params.idempotency_key, "turn_finished acknowledged");
    Ok(Ack::ok())
}

pub async fn remove_queue_item(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: RemoveQueueItemParams,
) -> Result<RemoveQueueItemResult, RpcError> {
    subscribed(&state, &connection, &params.runtime)
        .await?
        .remove_queue_item(&params.item_id)
        .await?;
    Ok(RemoveQueueItemResult {
        success: true,
        item_id: params.item_id,
    })
}

pub async fn change_device_state(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: ChangeDeviceStateParams,
) -> Result<Ack, RpcError> {
    subscribed(&state, &connection, &params.runtime)
        .await?
        .change_device_state(params.payload)
        .await?;
    Ok(Ack::ok())
}

pub async fn runtime_external_tools_update(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: RuntimeExternalToolsUpdateParams,
) -> Result<Ack, RpcError> {
    for update in params.updates {
        for scope in &update.runtimes {
            // Only runtimes started with `runtime_start`, which the Letta
            // server vouched for: a client cannot make the daemon hold
            // runtimes for ids nobody knows.
            let runtime = subscribed(&state, &connection, scope).await?;
            runtime
                .register_external_tools(connection.id, update.external_tools.clone())
                .await?;
        }
    }
    Ok(Ack::ok())
}

pub async fn external_tool_call_response(
    state: Arc<DaemonState>,
    _connection: Arc<ConnectionInfo>,
    params: ExternalToolCallResponseParams,
) -> Result<Ack, RpcError> {
    if params.result.is_none() && params.error.is_none() {
        return Err(RpcError::new(
            ErrorCode::InvalidParams,
            "external_tool_call_response needs result or error",
        ));
    }
    let answer = json!({ "result": params.result, "error": params.error });
    for runtime in state.runtimes.all().await {
        if runtime
            .answer_external_call(&params.request_id, answer.clone())
            .await?
        {
            return Ok(Ack::ok());
        }
    }
    Err(RpcError::new(
        ErrorCode::NotPending,
        format!(
            "external tool call {} is not pending (unknown, or answered already)",
            params.request_id
        ),
    ))
}

pub async fn wake_cancel(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: WakeCancelParams,
) -> Result<Ack, RpcError> {
    let runtime = state.runtimes.get(&params.runtime).await?;
    let cancelled = runtime
        .cancel_wake(&params.id)
        .await
        .map_err(crate::runtime::RuntimeError::from)?;
    if !cancelled {
        return Err(RpcError::new(
            ErrorCode::NotFound,
            format!("no scheduled wake {:?} on this runtime", params.id),
        ));
    }
    Ok(Ack::ok())
}

/// `launch_subagent`: a subagent of the runtime's agent, launched by a
/// frontend.
pub async fn launch_subagent(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: LaunchSubagentParams,
) -> Result<LaunchSubagentResult, RpcError> {
    let runtime = subscribed(&state, &connection, &params.runtime).await?;
    let key = params
        .tool_call_id
        .clone()
        .or_else(|| params.args.client_message_id.clone())
        .unwrap_or_else(|| format!("launch-{:016x}", fastrand::u64(..)));
    let tell_parent = params.notify != Some(SubagentLaunchNotify::Caller);
    Ok(runtime
        .launch_subagent(&key, params.args, tell_parent)
        .await)
}
