//! Agent, conversation and model management, proxied to the Letta server.

use std::sync::Arc;

use letta_protocol::errors::RpcError;
use letta_protocol::{
    AgentCreateParams, AgentDeleteParams, AgentDeleteResult, AgentListParams, AgentListResult,
    AgentResult, AgentRetrieveParams, AgentUpdateParams, ConversationCreateParams,
    ConversationListParams, ConversationListResult, ConversationMessagesListParams,
    ConversationMessagesListResult, ConversationResult, ConversationRetrieveParams,
    ConversationUpdateParams, ListModelsParams, ListModelsResult, ModelEntry,
};
use serde_json::{Value, json};

use super::errors::upstream;
use super::{ConnectionInfo, DaemonState};

type State = Arc<DaemonState>;
type Connection = Arc<ConnectionInfo>;

pub async fn agent_list(
    state: State,
    _: Connection,
    params: AgentListParams,
) -> Result<AgentListResult, RpcError> {
    let query = params.query.map(Value::Object).unwrap_or_else(|| json!({}));
    let agents = state
        .runtimes
        .api()
        .list_agents(&query)
        .await
        .map_err(upstream)?;
    Ok(AgentListResult {
        success: true,
        agents: items(agents),
        error: None,
    })
}

pub async fn agent_retrieve(
    state: State,
    _: Connection,
    params: AgentRetrieveParams,
) -> Result<AgentResult, RpcError> {
    let agent = state
        .runtimes
        .api()
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
    let agent = state
        .runtimes
        .api()
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
    let agent = state
        .runtimes
        .api()
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
    state
        .runtimes
        .api()
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
    let conversations = state
        .runtimes
        .api()
        .list_conversations(&query)
        .await
        .map_err(upstream)?;
    Ok(ConversationListResult {
        success: true,
        conversations: items(conversations),
        error: None,
    })
}

pub async fn conversation_retrieve(
    state: State,
    _: Connection,
    params: ConversationRetrieveParams,
) -> Result<ConversationResult, RpcError> {
    let conversation = state
        .runtimes
        .api()
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
    let conversation = state
        .runtimes
        .api()
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
    let conversation = state
        .runtimes
        .api()
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
    let messages = items(
        state
            .runtimes
            .api()
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

pub async fn list_models(
    state: State,
    _: Connection,
    _: ListModelsParams,
) -> Result<ListModelsResult, RpcError> {
    let listed = state.runtimes.api().list_models().await.map_err(upstream)?;
    let entries: Vec<ModelEntry> = items(listed)
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
