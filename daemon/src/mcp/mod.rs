//! MCP servers as tool sources: the servers agents are configured to use
//! ([`config`]), each run once and shared by every runtime whose agent uses
//! it ([`McpServers`]), kept alive and restarted when it dies
//! ([`server`]). Their tools reach the agent as client-side tools named
//! `mcp__<server>__<tool>`, decided and journaled like the built-in ones.

pub mod config;
mod server;

use std::sync::{Arc, Mutex, Weak};

use letta_protocol::{McpServerPhase, McpServerStatus};

use crate::util::lock;
pub use config::{BadConfig, Configured, ServerConfig};
pub use server::{Phase, Server, ToolSpec};

/// The servers the daemon runs. A server lives while a runtime holds it:
/// the last runtime to let go (its agent's configuration no longer names
/// it) stops it.
#[derive(Clone, Default)]
pub struct McpServers {
    running: Arc<Mutex<Vec<Weak<Server>>>>,
}

impl McpServers {
    /// The running server with this configuration, started if none is.
    pub fn acquire(&self, config: &ServerConfig) -> Arc<Server> {
        let mut running = lock(&self.running);
        running.retain(|server| server.strong_count() > 0);
        if let Some(server) = running
            .iter()
            .filter_map(Weak::upgrade)
            .find(|server| server.config == *config)
        {
            return server;
        }
        let server = Arc::new(Server::start(config.clone()));
        running.push(Arc::downgrade(&server));
        server
    }
}

/// A tool of a server, with the server that runs it.
#[derive(Debug, Clone)]
pub struct McpTool {
    pub spec: ToolSpec,
    pub server: Arc<Server>,
}

impl McpTool {
    /// Every tool `servers` offer now.
    pub fn all_of(servers: &[Arc<Server>]) -> Vec<McpTool> {
        servers
            .iter()
            .flat_map(|server| {
                server
                    .tools()
                    .iter()
                    .map(|spec| McpTool {
                        spec: spec.clone(),
                        server: server.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Where `server` stands, for frontends.
pub fn status(server: &Server) -> McpServerStatus {
    let (status, error) = match server.phase() {
        Phase::Starting => (McpServerPhase::Starting, None),
        Phase::Ready => (McpServerPhase::Ready, None),
        Phase::Failed(reason) => (McpServerPhase::Failed, Some(reason)),
    };
    McpServerStatus {
        name: server.config.name.clone(),
        transport: server.config.transport.kind().to_owned(),
        status,
        error,
        tools: server
            .tools()
            .iter()
            .map(|tool| tool.name.clone())
            .collect(),
    }
}

/// A configuration that cannot be used, for frontends.
pub fn bad_status(bad: &BadConfig) -> McpServerStatus {
    McpServerStatus {
        name: bad.name.clone(),
        transport: String::new(),
        status: McpServerPhase::Failed,
        error: Some(bad.error.clone()),
        tools: Vec::new(),
    }
}
