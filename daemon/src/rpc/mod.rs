//! The protocol v2 methods this daemon implements, in one jsonrpsee
//! `RpcModule` that every transport serves.
//!
//! Methods are registered through [`register`], which takes the name and the
//! types from the registry in `letta-protocol`; a method the registry
//! declares but nobody registers here answers "method not found" naming it.

mod connection;
mod errors;
mod info;
mod resources;
mod runtime;
mod status;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{Methods, RpcModule};
use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{Method, methods};
use serde::de::DeserializeOwned;

use crate::runtime::Runtimes;

pub use connection::{ConnectionInfo, Transport};
pub use info::app_server_info;

/// Where this daemon lives, as `daemon_status` reports it.
pub struct Identity {
    pub pid: u32,
    /// RFC 3339.
    pub started_at: String,
    pub data_dir: String,
    pub socket: String,
    pub letta_base_url: String,
}

/// What the method handlers share.
pub struct DaemonState {
    pub started: Instant,
    pub identity: Identity,
    pub max_message_bytes: usize,
    pub runtimes: Arc<Runtimes>,
    /// Known once the TCP listener is bound.
    ws_url: OnceLock<String>,
    implemented: OnceLock<Vec<String>>,
}

impl DaemonState {
    pub fn new(identity: Identity, max_message_bytes: usize, runtimes: Arc<Runtimes>) -> Self {
        DaemonState {
            started: Instant::now(),
            identity,
            max_message_bytes,
            runtimes,
            ws_url: OnceLock::new(),
            implemented: OnceLock::new(),
        }
    }

    pub fn set_ws_url(&self, url: String) {
        // Set once, when the listener is bound.
        let _ = self.ws_url.set(url);
    }

    pub fn ws_url(&self) -> &str {
        self.ws_url.get().map(String::as_str).unwrap_or_default()
    }

    /// Names of the methods this daemon answers.
    pub fn implemented(&self) -> &[String] {
        self.implemented
            .get()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn implements(&self, method: &str) -> bool {
        self.implemented().iter().any(|name| name == method)
    }
}

/// Builds the method table every transport dispatches into.
pub fn build(state: Arc<DaemonState>) -> Result<Methods, RegisterMethodError> {
    let mut module = RpcModule::new(state.clone());
    register::<methods::Initialize, _, _>(&mut module, info::initialize)?;
    register::<methods::AppServerInfo, _, _>(&mut module, |state, _, _| async move {
        Ok(info::app_server_info(&state))
    })?;
    register::<methods::RuntimeStart, _, _>(&mut module, runtime::runtime_start)?;
    register::<methods::Sync, _, _>(&mut module, runtime::sync)?;
    register::<methods::Input, _, _>(&mut module, runtime::input)?;
    register::<methods::AbortMessage, _, _>(&mut module, runtime::abort_message)?;
    register::<methods::ResumeQueue, _, _>(&mut module, runtime::resume_queue)?;
    register::<methods::ChangeDeviceState, _, _>(&mut module, runtime::change_device_state)?;
    register::<methods::DaemonStatus, _, _>(&mut module, status::daemon_status)?;
    register::<methods::RuntimeExternalToolsUpdate, _, _>(
        &mut module,
        runtime::runtime_external_tools_update,
    )?;
    register::<methods::ExternalToolCallResponse, _, _>(
        &mut module,
        runtime::external_tool_call_response,
    )?;
    register::<methods::AgentList, _, _>(&mut module, resources::agent_list)?;
    register::<methods::AgentRetrieve, _, _>(&mut module, resources::agent_retrieve)?;
    register::<methods::AgentCreate, _, _>(&mut module, resources::agent_create)?;
    register::<methods::AgentUpdate, _, _>(&mut module, resources::agent_update)?;
    register::<methods::AgentDelete, _, _>(&mut module, resources::agent_delete)?;
    register::<methods::ConversationList, _, _>(&mut module, resources::conversation_list)?;
    register::<methods::ConversationRetrieve, _, _>(&mut module, resources::conversation_retrieve)?;
    register::<methods::ConversationCreate, _, _>(&mut module, resources::conversation_create)?;
    register::<methods::ConversationUpdate, _, _>(&mut module, resources::conversation_update)?;
    register::<methods::ConversationMessagesList, _, _>(
        &mut module,
        resources::conversation_messages_list,
    )?;
    let mut names: Vec<String> = module.method_names().map(str::to_owned).collect();
    names.sort();
    // Only `build` sets it, once per state.
    let _ = state.implemented.set(names);
    Ok(module.into())
}

/// Registers a typed handler under the method's registry name.
fn register<M, F, Fut>(
    module: &mut RpcModule<Arc<DaemonState>>,
    handler: F,
) -> Result<(), RegisterMethodError>
where
    M: Method,
    M::Result: Clone,
    F: Fn(Arc<DaemonState>, Arc<ConnectionInfo>, M::Params) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<M::Result, RpcError>> + Send + 'static,
{
    module.register_async_method(M::NAME, move |params, state, extensions| {
        let handler = handler.clone();
        let connection = extensions.get::<Arc<ConnectionInfo>>().cloned();
        let params = parse_params::<M::Params>(M::NAME, params.as_str());
        async move {
            let connection = connection.ok_or_else(|| {
                to_error_object(RpcError::new(
                    ErrorCode::InternalError,
                    "call without a connection",
                ))
            })?;
            let params = params.map_err(to_error_object)?;
            handler(Arc::clone(&state), connection, params)
                .await
                .map_err(to_error_object)
        }
    })?;
    Ok(())
}

/// Parses params; absent params are an empty object, so a method whose
/// params are all optional can be called with none.
fn parse_params<P: DeserializeOwned>(method: &str, raw: Option<&str>) -> Result<P, RpcError> {
    serde_json::from_str(raw.unwrap_or("{}")).map_err(|err| {
        RpcError::new(
            ErrorCode::InvalidParams,
            format!("invalid params for {method}: {err}"),
        )
    })
}

pub fn to_error_object(error: RpcError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(error.code, error.message, error.data)
}
