//! Which daemon, and which of its runtimes, a command is about.

use std::path::PathBuf;

use letta_client::{Endpoint, RpcClient};
use letta_protocol::{
    DaemonStatusParams, DaemonStatusResult, RuntimeScope, RuntimeSummary, methods,
};

use crate::cli::TargetArgs;
use crate::error::CtlError;

/// What every command gets from the global flags.
pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
}

impl Context {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::DataDir(self.data_dir.clone())
    }

    pub async fn client(&self) -> Result<RpcClient, CtlError> {
        Ok(self.endpoint().connect().await?)
    }
}

pub async fn daemon_status(client: &RpcClient) -> Result<DaemonStatusResult, CtlError> {
    Ok(client
        .call::<methods::DaemonStatus>(&DaemonStatusParams {})
        .await?)
}

/// The runtime the flags name among those the daemon runs, most recently
/// used first; `None` when it runs none that match.
pub async fn running_runtime(
    client: &RpcClient,
    target: &TargetArgs,
) -> Result<Option<RuntimeSummary>, CtlError> {
    let status = daemon_status(client).await?;
    Ok(status
        .runtimes
        .into_iter()
        .find(|summary| matches(&summary.runtime, target)))
}

fn matches(scope: &RuntimeScope, target: &TargetArgs) -> bool {
    target
        .agent
        .as_ref()
        .is_none_or(|agent| scope.agent_id.as_ref() == Some(agent))
        && target
            .conversation
            .as_ref()
            .is_none_or(|conversation| &scope.conversation_id == conversation)
}

/// The runtime the flags name, which must be running.
pub async fn require_running(
    client: &RpcClient,
    target: &TargetArgs,
) -> Result<RuntimeScope, CtlError> {
    running_runtime(client, target)
        .await?
        .map(|summary| summary.runtime)
        .ok_or_else(|| CtlError::Failed(no_runtime(target)))
}

pub fn no_runtime(target: &TargetArgs) -> String {
    match (&target.agent, &target.conversation) {
        (None, None) => "the daemon runs no agent yet: start one with `letta-ctl run`".to_owned(),
        (agent, conversation) => format!(
            "the daemon runs no runtime for{}{}",
            agent
                .as_ref()
                .map(|id| format!(" agent {id}"))
                .unwrap_or_default(),
            conversation
                .as_ref()
                .map(|id| format!(" conversation {id}"))
                .unwrap_or_default()
        ),
    }
}

/// Finds the runtime with a pending approval of this id.
pub async fn runtime_asking(
    client: &RpcClient,
    request_id: &str,
) -> Result<RuntimeScope, CtlError> {
    let status = daemon_status(client).await?;
    status
        .runtimes
        .into_iter()
        .find(|summary| {
            summary
                .pending_approvals
                .iter()
                .any(|pending| pending.request_id == request_id)
        })
        .map(|summary| summary.runtime)
        .ok_or_else(|| {
            CtlError::Failed(format!(
                "no pending approval {request_id}: it was answered already, or never asked \
                 (letta-ctl daemon status lists pending approvals)"
            ))
        })
}
