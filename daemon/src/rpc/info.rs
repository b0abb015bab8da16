//! `initialize` and `app_server_info`: who the daemon is and what it does.

use std::sync::Arc;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    AppServerCapabilities, AppServerInfo, Backend, DaemonCapabilities, InitializeParams,
    InitializeResult, ServerInfo,
};

use super::{ConnectionInfo, DaemonState};

pub async fn initialize(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: InitializeParams,
) -> Result<InitializeResult, RpcError> {
    let version = negotiate(params.protocol_versions.as_deref())?;
    connection.set_protocol_version(version);
    if let Some(client) = &params.client_info {
        tracing::info!(
            connection = connection.id,
            client = %client.name,
            client_version = client.version.as_deref().unwrap_or("-"),
            protocol_version = version,
            "client initialized"
        );
    }
    Ok(InitializeResult {
        protocol: letta_protocol::PROTOCOL_NAME.to_owned(),
        protocol_version: version,
        server_info: server_info(),
        capabilities: DaemonCapabilities {
            methods: state.implemented().to_vec(),
            // Every declared event is emitted.
            events: letta_protocol::EVENTS
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            max_message_bytes: u64::try_from(state.max_message_bytes).unwrap_or(u64::MAX),
        },
    })
}

/// Picks the highest version both sides speak.
fn negotiate(offered: Option<&[u32]>) -> Result<u32, RpcError> {
    let supported = letta_protocol::SUPPORTED_PROTOCOL_VERSIONS;
    let Some(offered) = offered else {
        return Ok(letta_protocol::PROTOCOL_VERSION);
    };
    offered.iter().copied().filter(|version| supported.contains(version)).max().ok_or_else(|| {
        RpcError::new(
            ErrorCode::UnsupportedProtocolVersion,
            format!("no common protocol version: client offers {offered:?}, daemon speaks {supported:?}"),
        )
        .with_data(serde_json::json!({ "supported": supported }))
    })
}

/// The daemon's answer to Letta Code's capability discovery. Capabilities
/// are derived from the methods actually served.
pub fn app_server_info(state: &DaemonState) -> AppServerInfo {
    let all = |prefix: &str| {
        let mut declared = letta_protocol::METHODS
            .iter()
            .filter(|info| info.name.starts_with(prefix))
            .peekable();
        declared.peek().is_some() && declared.all(|info| state.implements(info.name))
    };
    AppServerInfo {
        success: true,
        backend: match state.runtimes.backends().default_kind() {
            crate::backend::BackendKind::Api => Backend::Api,
            crate::backend::BackendKind::Local => Backend::Local,
        },
        letta_code_version: letta_protocol::LETTA_CODE_COMPAT_VERSION.to_owned(),
        protocol_version: letta_protocol::LETTA_CODE_PROTOCOL_VERSION,
        capabilities: AppServerCapabilities {
            agent_management: all("agent_"),
            conversation_management: all("conversation_"),
            memory_management: false,
            runtime_start: state.implements("runtime_start"),
            // Every runtime belongs to an agent.
            agent_free_conversations: Some(false),
            launch_subagent: Some(state.implements("launch_subagent")),
            launch_subagent_notify_caller: Some(state.implements("launch_subagent")),
            runtime_workspace_sandbox: Some(false),
            runtime_external_tools_update: Some(state.implements("runtime_external_tools_update")),
            structured_outputs: Some(false),
            split_channels: false,
        },
        server: server_info(),
        daemon_protocol_version: letta_protocol::PROTOCOL_VERSION,
    }
}

pub(super) fn server_info() -> ServerInfo {
    ServerInfo {
        name: "letta-daemon".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(None).unwrap(), letta_protocol::PROTOCOL_VERSION);
        assert_eq!(negotiate(Some(&[1, 2, 3])).unwrap(), 2);
        let err = negotiate(Some(&[1])).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedProtocolVersion.code());
        assert!(negotiate(Some(&[])).is_err());
    }
}
