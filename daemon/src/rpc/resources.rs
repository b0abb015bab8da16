//! Agent, conversation and model management, answered by the backend each
//! agent lives on (the Letta server, or the daemon itself).

use std::sync::Arc;

use letta_protocol::errors::RpcError;
use letta_protocol::{
    AgentCreateParams, AgentDeleteParams, AgentDeleteResult, AgentExportParams, AgentExportResult,
    AgentImportParams, AgentImportResult, AgentListParams, AgentListResult, AgentResult,
    AgentRetrieveParams, AgentUpdateParams, ConversationCompactParams, ConversationCompactResult,
    ConversationCreateParams, ConversationForkParams, ConversationForkResult,
    ConversationListParams, ConversationListResult, ConversationMessagesListParams,
    ConversationMessagesListResult, ConversationRecompileParams, ConversationRecompileResult,
    ConversationResult, ConversationRetrieveParams, ConversationUpdateParams, ListModelsParams,
    ListModelsResult, ModelEntry, UpdateModelParams, UpdateModelResult, UpdateToolsetParams,
    UpdateToolsetResult,
};
use serde_json::{Value, json};

use super::errors::upstream;
use super::{ConnectionInfo, DaemonState};
use crate::backend::{Backend, BackendKind, Backends};

type State = Arc<DaemonState>;
type Connection = Arc<ConnectionInfo>;

pub async fn agent_list(
    state: State,
    _: Connection,
    params: AgentListParams,
) -> Result<AgentListResult, RpcError> {
    let query = params.query.map(Value::Object).unwrap_or_else(|| json!({}));
    let mut agents = Vec::new();
    for (index, backend) in backends(&state).listed().into_iter().enumerate() {
        agents.extend(listing(index, backend.list_agents(&query).await)?);
    }
    Ok(AgentListResult {
        success: true,
        agents,
        error: None,
    })
}

pub async fn agent_retrieve(
    state: State,
    _: Connection,
    params: AgentRetrieveParams,
) -> Result<AgentResult, RpcError> {
    let agent = agent_backend(&state, &params.agent_id)
        .await?
        .retrieve_agent(&params.agent_id)
        .await
        .map_err(upstream)?;
    Ok(AgentResult {
        success: true,
        agent: Some(agent),
        error: None,
    })
}

pub async fn agent_create(
    state: State,
    _: Connection,
    params: AgentCreateParams,
) -> Result<AgentResult, RpcError> {
    let kind = backend_kind(&state, params.backend);
    let agent = backends(&state)
        .get(kind)
        .create_agent(&Value::Object(params.body))
        .await
        .map_err(upstream)?;
    Ok(AgentResult {
        success: true,
        agent: Some(agent),
        error: None,
    })
}

pub async fn agent_update(
    state: State,
    _: Connection,
    params: AgentUpdateParams,
) -> Result<AgentResult, RpcError> {
    let body = Value::Object(params.body);
    let agent = agent_backend(&state, &params.agent_id)
        .await?
        .update_agent(&params.agent_id, &body)
        .await
        .map_err(upstream)?;
    Ok(AgentResult {
        success: true,
        agent: Some(agent),
        error: None,
    })
}

pub async fn agent_delete(
    state: State,
    _: Connection,
    params: AgentDeleteParams,
) -> Result<AgentDeleteResult, RpcError> {
    agent_backend(&state, &params.agent_id)
        .await?
        .delete_agent(&params.agent_id)
        .await
        .map_err(upstream)?;
    Ok(AgentDeleteResult {
        success: true,
        agent_id: params.agent_id,
        error: None,
    })
}

pub async fn conversation_list(
    state: State,
    _: Connection,
    params: ConversationListParams,
) -> Result<ConversationListResult, RpcError> {
    let query = params.query.map(Value::Object).unwrap_or_else(|| json!({}));
    let backends_asked = match query.get("agent_id").and_then(Value::as_str) {
        Some(agent_id) => vec![agent_backend(&state, agent_id).await?],
        None => backends(&state).listed(),
    };
    let mut conversations = Vec::new();
    for (index, backend) in backends_asked.into_iter().enumerate() {
        conversations.extend(listing(index, backend.list_conversations(&query).await)?);
    }
    Ok(ConversationListResult {
        success: true,
        conversations,
        error: None,
    })
}

pub async fn conversation_retrieve(
    state: State,
    _: Connection,
    params: ConversationRetrieveParams,
) -> Result<ConversationResult, RpcError> {
    let conversation = conversation_backend(&state, &params.conversation_id, None)
        .await?
        .retrieve_conversation(&params.conversation_id)
        .await
        .map_err(upstream)?;
    Ok(ConversationResult {
        success: true,
        conversation: Some(conversation),
        error: None,
    })
}

/// The body's `agent_id` goes to the query string, where the API wants it.
pub async fn conversation_create(
    state: State,
    _: Connection,
    params: ConversationCreateParams,
) -> Result<ConversationResult, RpcError> {
    let mut body = params.body;
    let agent_id = match body.remove("agent_id") {
        Some(Value::String(agent_id)) => agent_id,
        _ => {
            return Err(RpcError::new(
                letta_protocol::errors::ErrorCode::InvalidParams,
                "conversation_create needs body.agent_id",
            ));
        }
    };
    let conversation = agent_backend(&state, &agent_id)
        .await?
        .create_conversation(&agent_id, &Value::Object(body))
        .await
        .map_err(upstream)?;
    Ok(ConversationResult {
        success: true,
        conversation: Some(conversation),
        error: None,
    })
}

pub async fn conversation_update(
    state: State,
    _: Connection,
    params: ConversationUpdateParams,
) -> Result<ConversationResult, RpcError> {
    let body = Value::Object(params.body);
    let conversation = conversation_backend(&state, &params.conversation_id, None)
        .await?
        .update_conversation(&params.conversation_id, &body)
        .await
        .map_err(upstream)?;
    Ok(ConversationResult {
        success: true,
        conversation: Some(conversation),
        error: None,
    })
}

pub async fn conversation_messages_list(
    state: State,
    _: Connection,
    params: ConversationMessagesListParams,
) -> Result<ConversationMessagesListResult, RpcError> {
    let query = params.query.map(Value::Object).unwrap_or_else(|| json!({}));
    let limit = query.get("limit").and_then(Value::as_u64);
    let agent_id = query.get("agent_id").and_then(Value::as_str);
    let messages = items(
        conversation_backend(&state, &params.conversation_id, agent_id)
            .await?
            .list_conversation_messages(&params.conversation_id, &query)
            .await
            .map_err(upstream)?,
    );
    let has_more = limit.is_some_and(|limit| messages.len() as u64 >= limit);
    let next_before = if has_more {
        messages
            .last()
            .and_then(|message| message.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    } else {
        None
    };
    Ok(ConversationMessagesListResult {
        success: true,
        messages,
        next_before,
        has_more,
        error: None,
    })
}

pub async fn agent_export(
    state: State,
    _: Connection,
    params: AgentExportParams,
) -> Result<AgentExportResult, RpcError> {
    let agent_file = agent_backend(&state, &params.agent_id)
        .await?
        .export_agent(&params.agent_id, params.conversation_id.as_deref())
        .await
        .map_err(upstream)?;
    Ok(AgentExportResult {
        success: true,
        agent_file: Some(agent_file),
        error: None,
    })
}

pub async fn agent_import(
    state: State,
    _: Connection,
    params: AgentImportParams,
) -> Result<AgentImportResult, RpcError> {
    let kind = backend_kind(&state, params.backend);
    let imported = backends(&state)
        .get(kind)
        .import_agents(
            &params.agent_file,
            params.model.as_deref(),
            params.embedding.as_deref(),
        )
        .await
        .map_err(upstream)?;
    let agent_ids = imported["agent_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    Ok(AgentImportResult {
        success: true,
        agent_ids,
        error: None,
    })
}

pub async fn conversation_compact(
    state: State,
    _: Connection,
    params: ConversationCompactParams,
) -> Result<ConversationCompactResult, RpcError> {
    let mut body = params.body.unwrap_or_default();
    let agent_id = match body.remove("agent_id") {
        Some(Value::String(agent_id)) => Some(agent_id),
        _ => None,
    };
    let compaction = conversation_backend(&state, &params.conversation_id, agent_id.as_deref())
        .await?
        .compact_conversation(
            &params.conversation_id,
            agent_id.as_deref(),
            &Value::Object(body),
        )
        .await
        .map_err(upstream)?;
    Ok(ConversationCompactResult {
        success: true,
        compaction: Some(compaction),
        error: None,
    })
}

pub async fn conversation_fork(
    state: State,
    _: Connection,
    params: ConversationForkParams,
) -> Result<ConversationForkResult, RpcError> {
    let body = params.body.unwrap_or_default();
    let agent_id = body.agent_id.as_deref();
    let conversation = conversation_backend(&state, &params.conversation_id, agent_id)
        .await?
        .fork_conversation(
            &params.conversation_id,
            agent_id,
            body.hidden,
            body.message_id.as_deref(),
        )
        .await
        .map_err(upstream)?;
    Ok(ConversationForkResult {
        success: true,
        conversation: Some(conversation),
    })
}

pub async fn conversation_recompile(
    state: State,
    _: Connection,
    params: ConversationRecompileParams,
) -> Result<ConversationRecompileResult, RpcError> {
    let body = params.body.unwrap_or_default();
    let agent_id = body.get("agent_id").and_then(Value::as_str);
    let dry_run = body
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let compiled = conversation_backend(&state, &params.conversation_id, agent_id)
        .await?
        .recompile_conversation(&params.conversation_id, agent_id, dry_run)
        .await
        .map_err(upstream)?;
    Ok(ConversationRecompileResult {
        success: true,
        result: compiled.as_str().map(str::to_owned),
    })
}

/// Sets the toolset preference of a runtime.
pub async fn update_toolset(
    state: State,
    _: Connection,
    params: UpdateToolsetParams,
) -> Result<UpdateToolsetResult, RpcError> {
    let runtime = state.runtimes.get(&params.runtime).await?;
    let current = runtime.set_toolset(&params.toolset_preference).await?;
    Ok(UpdateToolsetResult {
        success: true,
        runtime: Some(params.runtime),
        current_toolset: Some(current.to_owned()),
        current_toolset_preference: Some(params.toolset_preference),
        error: None,
    })
}

/// Switches the agent of a started runtime to another model.
pub async fn update_model(
    state: State,
    _: Connection,
    params: UpdateModelParams,
) -> Result<UpdateModelResult, RpcError> {
    let runtime = state.runtimes.get(&params.runtime).await?;
    let Some(agent_id) = runtime.scope.agent_id.clone() else {
        return Err(RpcError::new(
            letta_protocol::errors::ErrorCode::InvalidParams,
            "the runtime has no agent whose model could change",
        ));
    };
    let payload = params.payload;
    let Some(handle) = payload.model_handle.or(payload.model_id) else {
        return Err(RpcError::new(
            letta_protocol::errors::ErrorCode::InvalidParams,
            "update_model needs payload.model_handle (or model_id)",
        ));
    };
    let updated = agent_backend(&state, &agent_id)
        .await?
        .update_agent(&agent_id, &json!({ "model": handle }))
        .await
        .map_err(upstream)?;
    // The updated agent says its provider's type too, which `auto` needs.
    let model = if updated["model"] == handle.as_str() {
        updated
    } else {
        json!({ "model": handle })
    };
    runtime.note_agent_model(&model);
    Ok(UpdateModelResult {
        success: true,
        runtime: Some(params.runtime),
        applied_to: Some("agent".to_owned()),
        model_id: Some(handle.clone()),
        model_handle: Some(handle),
        error: None,
    })
}

pub async fn list_models(
    state: State,
    _: Connection,
    _: ListModelsParams,
) -> Result<ListModelsResult, RpcError> {
    let mut listed = Vec::new();
    for (index, backend) in backends(&state).listed().into_iter().enumerate() {
        listed.extend(listing(index, backend.list_models().await)?);
    }
    let entries: Vec<ModelEntry> = listed
        .iter()
        .enumerate()
        .filter_map(|(index, model)| {
            let handle = model.get("handle").and_then(Value::as_str)?.to_owned();
            let text = |key: &str| model.get(key).and_then(Value::as_str).map(str::to_owned);
            Some(ModelEntry {
                id: handle.clone(),
                label: text("display_name").unwrap_or_else(|| handle.clone()),
                description: [text("provider_name"), text("model")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                is_default: (index == 0).then_some(true),
                handle,
            })
        })
        .collect();
    Ok(ListModelsResult {
        success: true,
        available_handles: Some(entries.iter().map(|entry| entry.handle.clone()).collect()),
        entries,
        error: None,
    })
}

fn backends(state: &DaemonState) -> &Backends {
    state.runtimes.backends()
}

/// The backend a request names, or the daemon's default.
pub(super) fn backend_kind(
    state: &DaemonState,
    requested: Option<letta_protocol::Backend>,
) -> BackendKind {
    match requested {
        Some(letta_protocol::Backend::Api) => BackendKind::Api,
        Some(letta_protocol::Backend::Local) => BackendKind::Local,
        None => backends(state).default_kind(),
    }
}

pub(super) async fn agent_backend(
    state: &DaemonState,
    agent_id: &str,
) -> Result<Backend, RpcError> {
    backends(state).for_agent(agent_id).await.map_err(upstream)
}

pub(super) async fn conversation_backend(
    state: &DaemonState,
    conversation_id: &str,
    agent_id: Option<&str>,
) -> Result<Backend, RpcError> {
    backends(state)
        .for_conversation(conversation_id, agent_id)
        .await
        .map_err(upstream)
}

/// One backend's part of a listing across backends: the first (default)
/// backend's failure is the call's; another's is logged and left out, so
/// an unreachable Letta server does not hide the daemon's own agents.
fn listing(
    index: usize,
    answer: Result<Value, crate::backend::BackendError>,
) -> Result<Vec<Value>, RpcError> {
    match answer {
        Ok(listed) => Ok(items(listed)),
        Err(err) if index == 0 => Err(upstream(err)),
        Err(err) => {
            tracing::warn!(error = %err, "a backend could not be listed; leaving it out");
            Ok(Vec::new())
        }
    }
}

/// A list answer: an array, or an object holding one.
fn items(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(mut fields) => ["items", "data", "messages", "agents", "conversations"]
            .iter()
            .find_map(|key| match fields.remove(*key) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
