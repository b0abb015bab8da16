//! The protocol v2 methods this daemon implements, in one jsonrpsee
//! `RpcModule` that every transport serves.
//!
//! Methods are registered through [`register`], which takes the name and the
//! types from the registry in `letta-protocol`, in an exhaustive match over
//! the registry's [`MethodId`]: a declared method without a handler does not
//! compile.

mod connection;
mod crons;
mod errors;
mod info;
mod providers;
mod resources;
mod runtime;
mod status;
mod terminals;
mod workspace;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{Methods, RpcModule};
use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{Method, MethodId, methods};
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
    /// Files frontends watch.
    pub watches: crate::workspace::Watches,
    /// Terminals frontends opened.
    pub terminals: Arc<crate::terminals::Terminals>,
    /// Schedules frontends set.
    pub crons: Arc<crate::crons::Crons>,
    /// Known once the TCP listener is bound.
    ws_url: OnceLock<String>,
    implemented: OnceLock<Vec<String>>,
}

impl DaemonState {
    pub fn new(
        identity: Identity,
        max_message_bytes: usize,
        runtimes: Arc<Runtimes>,
        terminals: Arc<crate::terminals::Terminals>,
        crons: Arc<crate::crons::Crons>,
    ) -> Self {
        DaemonState {
            started: Instant::now(),
            identity,
            max_message_bytes,
            runtimes,
            watches: crate::workspace::Watches::default(),
            terminals,
            crons,
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
    // Exhaustive: a method added to the registry without a handler here
    // does not compile.
    for method in MethodId::ALL {
        let module = &mut module;
        match method {
            MethodId::Initialize => register::<methods::Initialize, _, _>(module, info::initialize),
            MethodId::AppServerInfo => {
                register::<methods::AppServerInfo, _, _>(module, |state, _, _| async move {
                    Ok(info::app_server_info(&state))
                })
            }
            MethodId::RuntimeStart => {
                register::<methods::RuntimeStart, _, _>(module, runtime::runtime_start)
            }
            MethodId::Sync => register::<methods::Sync, _, _>(module, runtime::sync),
            MethodId::Input => register::<methods::Input, _, _>(module, runtime::input),
            MethodId::AbortMessage => {
                register::<methods::AbortMessage, _, _>(module, runtime::abort_message)
            }
            MethodId::ResumeQueue => {
                register::<methods::ResumeQueue, _, _>(module, runtime::resume_queue)
            }
            MethodId::TurnFinishedAck => {
                register::<methods::TurnFinishedAck, _, _>(module, runtime::turn_finished_ack)
            }
            MethodId::RemoveQueueItem => {
                register::<methods::RemoveQueueItem, _, _>(module, runtime::remove_queue_item)
            }
            MethodId::ChangeDeviceState => {
                register::<methods::ChangeDeviceState, _, _>(module, runtime::change_device_state)
            }
            MethodId::DaemonStatus => {
                register::<methods::DaemonStatus, _, _>(module, status::daemon_status)
            }
            MethodId::LaunchSubagent => {
                register::<methods::LaunchSubagent, _, _>(module, runtime::launch_subagent)
            }
            MethodId::RuntimeExternalToolsUpdate => {
                register::<methods::RuntimeExternalToolsUpdate, _, _>(
                    module,
                    runtime::runtime_external_tools_update,
                )
            }
            MethodId::ExternalToolCallResponse => {
                register::<methods::ExternalToolCallResponse, _, _>(
                    module,
                    runtime::external_tool_call_response,
                )
            }
            MethodId::AgentList => {
                register::<methods::AgentList, _, _>(module, resources::agent_list)
            }
            MethodId::AgentRetrieve => {
                register::<methods::AgentRetrieve, _, _>(module, resources::agent_retrieve)
            }
            MethodId::AgentCreate => {
                register::<methods::AgentCreate, _, _>(module, resources::agent_create)
            }
            MethodId::AgentUpdate => {
                register::<methods::AgentUpdate, _, _>(module, resources::agent_update)
            }
            MethodId::AgentDelete => {
                register::<methods::AgentDelete, _, _>(module, resources::agent_delete)
            }
            MethodId::ConversationList => {
                register::<methods::ConversationList, _, _>(module, resources::conversation_list)
            }
            MethodId::ConversationRetrieve => register::<methods::ConversationRetrieve, _, _>(
                module,
                resources::conversation_retrieve,
            ),
            MethodId::ConversationCreate => register::<methods::ConversationCreate, _, _>(
                module,
                resources::conversation_create,
            ),
            MethodId::ConversationUpdate => register::<methods::ConversationUpdate, _, _>(
                module,
                resources::conversation_update,
            ),
            MethodId::ConversationMessagesList => {
                register::<methods::ConversationMessagesList, _, _>(
                    module,
                    resources::conversation_messages_list,
                )
            }
            MethodId::ListModels => {
                register::<methods::ListModels, _, _>(module, resources::list_models)
            }
            MethodId::AgentExport => {
                register::<methods::AgentExport, _, _>(module, resources::agent_export)
            }
            MethodId::AgentImport => {
                register::<methods::AgentImport, _, _>(module, resources::agent_import)
            }
            MethodId::ConversationCompact => register::<methods::ConversationCompact, _, _>(
                module,
                resources::conversation_compact,
            ),
            MethodId::WakeCancel => {
                register::<methods::WakeCancel, _, _>(module, runtime::wake_cancel)
            }
            MethodId::UpdateToolset => {
                register::<methods::UpdateToolset, _, _>(module, resources::update_toolset)
            }
            MethodId::GetCwdMap => {
                register::<methods::GetCwdMap, _, _>(module, workspace::get_cwd_map)
            }
            MethodId::SetBootWorkingDirectory => {
                register::<methods::SetBootWorkingDirectory, _, _>(
                    module,
                    workspace::set_boot_working_directory,
                )
            }
            MethodId::ListInDirectory => {
                register::<methods::ListInDirectory, _, _>(module, workspace::list_in_directory)
            }
            MethodId::GetTree => register::<methods::GetTree, _, _>(module, workspace::get_tree),
            MethodId::SearchFiles => {
                register::<methods::SearchFiles, _, _>(module, workspace::search_files)
            }
            MethodId::GrepInFiles => {
                register::<methods::GrepInFiles, _, _>(module, workspace::grep_in_files)
            }
            MethodId::ReadFile => register::<methods::ReadFile, _, _>(module, workspace::read_file),
            MethodId::WriteFile => {
                register::<methods::WriteFile, _, _>(module, workspace::write_file)
            }
            MethodId::EditFile => register::<methods::EditFile, _, _>(module, workspace::edit_file),
            MethodId::SearchBranches => {
                register::<methods::SearchBranches, _, _>(module, workspace::search_branches)
            }
            MethodId::CheckoutBranch => {
                register::<methods::CheckoutBranch, _, _>(module, workspace::checkout_branch)
            }
            MethodId::WatchFile => {
                register::<methods::WatchFile, _, _>(module, workspace::watch_file)
            }
            MethodId::UnwatchFile => {
                register::<methods::UnwatchFile, _, _>(module, workspace::unwatch_file)
            }
            MethodId::TerminalSpawn => {
                register::<methods::TerminalSpawn, _, _>(module, terminals::terminal_spawn)
            }
            MethodId::TerminalInput => {
                register::<methods::TerminalInput, _, _>(module, terminals::terminal_input)
            }
            MethodId::TerminalResize => {
                register::<methods::TerminalResize, _, _>(module, terminals::terminal_resize)
            }
            MethodId::TerminalKill => {
                register::<methods::TerminalKill, _, _>(module, terminals::terminal_kill)
            }
            MethodId::UpdateModel => {
                register::<methods::UpdateModel, _, _>(module, resources::update_model)
            }
            MethodId::ConversationFork => {
                register::<methods::ConversationFork, _, _>(module, resources::conversation_fork)
            }
            MethodId::ConversationRecompile => register::<methods::ConversationRecompile, _, _>(
                module,
                resources::conversation_recompile,
            ),
            MethodId::ListConnectProviders => register::<methods::ListConnectProviders, _, _>(
                module,
                providers::list_connect_providers,
            ),
            MethodId::ConnectProvider => {
                register::<methods::ConnectProvider, _, _>(module, providers::connect_provider)
            }
            MethodId::DisconnectProvider => register::<methods::DisconnectProvider, _, _>(
                module,
                providers::disconnect_provider,
            ),
            MethodId::CronList => register::<methods::CronList, _, _>(module, crons::cron_list),
            MethodId::CronAdd => register::<methods::CronAdd, _, _>(module, crons::cron_add),
            MethodId::CronGet => register::<methods::CronGet, _, _>(module, crons::cron_get),
            MethodId::CronRuns => register::<methods::CronRuns, _, _>(module, crons::cron_runs),
            MethodId::CronTrigger => {
                register::<methods::CronTrigger, _, _>(module, crons::cron_trigger)
            }
            MethodId::CronPause => register::<methods::CronPause, _, _>(module, crons::cron_pause),
            MethodId::CronResume => {
                register::<methods::CronResume, _, _>(module, crons::cron_resume)
            }
            MethodId::CronUpdate => {
                register::<methods::CronUpdate, _, _>(module, crons::cron_update)
            }
            MethodId::CronDelete => {
                register::<methods::CronDelete, _, _>(module, crons::cron_delete)
            }
            MethodId::CronDeleteAll => {
                register::<methods::CronDeleteAll, _, _>(module, crons::cron_delete_all)
            }
        }?;
    }
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
