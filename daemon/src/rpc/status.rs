//! `daemon_status`: what `letta-ctl daemon status` shows.

use std::sync::Arc;

use letta_protocol::errors::RpcError;
use letta_protocol::{DaemonStatusParams, DaemonStatusResult};

use super::{ConnectionInfo, DaemonState};

pub async fn daemon_status(
    state: Arc<DaemonState>,
    _connection: Arc<ConnectionInfo>,
    _params: DaemonStatusParams,
) -> Result<DaemonStatusResult, RpcError> {
    let mut runtimes = Vec::new();
    let mut mcp_servers = Vec::new();
    for runtime in state.runtimes.all().await {
        runtimes.push(runtime.summary().await?);
        for server in runtime.mcp_statuses() {
            // Runtimes of one agent share its servers.
            if !mcp_servers.contains(&server) {
                mcp_servers.push(server);
            }
        }
    }
    mcp_servers.sort_by(|a, b| a.name.cmp(&b.name));
    // Most recently used first: what `attach` picks when not told.
    runtimes.sort_by(|a, b| b.last_input_at.cmp(&a.last_input_at));
    let identity = &state.identity;
    let (watched_files, watched_directories) = state.watches.counts();
    Ok(DaemonStatusResult {
        server: super::info::server_info(),
        protocol_version: letta_protocol::PROTOCOL_VERSION,
        pid: identity.pid,
        started_at: identity.started_at.clone(),
        uptime_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        data_dir: identity.data_dir.clone(),
        socket: identity.socket.clone(),
        ws_url: state.ws_url().to_owned(),
        letta_base_url: identity.letta_base_url.clone(),
        runtimes,
        mcp_servers,
        watched_files,
        watched_directories,
    })
}
