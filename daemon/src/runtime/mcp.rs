//! The MCP servers of a runtime: those configured for its agent, read
//! from the settings at `runtime_start` and before every turn (an edit
//! takes effect at the next turn), and its own, given with `runtime_start`
//! (an editor's session) and kept with it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::{Runtime, RuntimeError};
use crate::mcp::{McpTool, config};
use crate::tools::home_dir;
use crate::util::lock;

/// Longest a turn waits for its agent's servers to start.
const READY_WAIT: Duration = Duration::from_secs(30);

impl Runtime {
    /// Holds the servers the agent's configuration names (starting those
    /// not running, letting go of those it no longer names), waits for
    /// them to start or fail, and returns their tools.
    pub(crate) async fn mcp_tools(&self) -> Vec<McpTool> {
        let agent_id = self.scope.agent_id.clone();
        let own = lock(&self.state).own_mcp_servers.clone();
        let file = home_dir().join(".letta/settings.json");
        let configured = crate::fs::blocking(move || {
            let agents = agent_id
                .map(|agent_id| config::for_agent(&file, &agent_id))
                .unwrap_or_default();
            agents.overlaid(config::parse_list(&own))
        })
        .await;
        let servers: Vec<_> = configured
            .servers
            .iter()
            .map(|server| self.mcp.acquire(server))
            .collect();
        {
            let mut state = lock(&self.state);
            state.mcp_servers = servers.clone();
            state.mcp_bad = configured.bad;
        }
        join_all(servers.iter().map(|server| server.settled(READY_WAIT))).await;
        McpTool::all_of(&servers)
    }

    /// Keeps `servers` as this runtime's own (besides its agent's) and
    /// starts them.
    pub async fn set_own_mcp_servers(
        self: &Arc<Self>,
        servers: Vec<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), RuntimeError> {
        let list = serde_json::Value::Array(servers.into_iter().map(Into::into).collect());
        self.store
            .set_runtime_mcp_servers(self.id, &list.to_string())
            .await?;
        lock(&self.state).own_mcp_servers = list;
        Ok(())
    }

    /// The MCP server entries this runtime uses, as written: its agent's,
    /// with its own in place of any of the same name. A subagent is given
    /// them as its own.
    pub(crate) async fn mcp_entries(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let agent_id = self.scope.agent_id.clone();
        let own = lock(&self.state).own_mcp_servers.clone();
        let file = home_dir().join(".letta/settings.json");
        crate::fs::blocking(move || {
            let agents = agent_id
                .and_then(|agent_id| config::entries_for_agent(&file, &agent_id).ok())
                .unwrap_or_default();
            config::overlay_entries(&agents, &own)
        })
        .await
    }

    /// How the agent's MCP servers stand.
    pub fn mcp_statuses(&self) -> Vec<letta_protocol::McpServerStatus> {
        lock(&self.state).mcp_statuses()
    }

    /// Starts the agent's servers and tells frontends how they stand once
    /// they have started (or failed), without holding anyone up.
    pub(crate) fn start_mcp_servers(self: &Arc<Self>) {
        let runtime = self.clone();
        tokio::spawn(async move {
            runtime.mcp_tools().await;
            let configured = {
                let state = lock(&runtime.state);
                !state.mcp_servers.is_empty() || !state.mcp_bad.is_empty()
            };
            if !configured {
                return;
            }
            let draft = runtime.device_status_draft().await;
            if let Err(err) = runtime.log.emit(draft).await {
                tracing::warn!(error = %err, "cannot report the MCP servers' status");
            }
        });
    }
}
