//! `letta-ctl mcp list`: the daemon's MCP servers and how they stand.

use std::io::Write;

use letta_protocol::{McpServerPhase, McpServerStatus};

use crate::error::CtlError;
use crate::target::{self, Context};

pub async fn list(context: &Context) -> Result<u8, CtlError> {
    let client = context.client().await?;
    let status = target::daemon_status(&client).await?;
    let text = if context.json {
        serde_json::to_string(&status.mcp_servers).unwrap_or_default()
    } else {
        describe(&status.mcp_servers)
    };
    writeln!(std::io::stdout().lock(), "{text}").map_err(CtlError::io("writing the list"))?;
    Ok(0)
}

fn describe(servers: &[McpServerStatus]) -> String {
    if servers.is_empty() {
        return "No MCP servers: configure them per agent in ~/.letta/settings.json \
                (agents[].mcpServers); they start when a runtime of the agent opens."
            .to_owned();
    }
    let mut lines = Vec::with_capacity(servers.len() * 2);
    for server in servers {
        let phase = match server.status {
            McpServerPhase::Starting => "starting",
            McpServerPhase::Ready => "ready",
            McpServerPhase::Failed => "failed",
        };
        let transport = if server.transport.is_empty() {
            "-"
        } else {
            &server.transport
        };
        let tools = server.tools.len();
        lines.push(format!(
            "{:<20} {:<6} {:<9} {tools} tool{}",
            server.name,
            transport,
            phase,
            if tools == 1 { "" } else { "s" }
        ));
        if let Some(error) = &server.error {
            lines.push(format!("    {error}"));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_listed_with_their_state_and_the_reason_they_failed() {
        let server = |name: &str, status, error: Option<&str>, tools: &[&str]| McpServerStatus {
            name: name.to_owned(),
            transport: "stdio".to_owned(),
            status,
            error: error.map(str::to_owned),
            tools: tools.iter().map(|tool| (*tool).to_owned()).collect(),
        };
        let text = describe(&[
            server("files", McpServerPhase::Ready, None, &["mcp__files__read"]),
            server(
                "broken",
                McpServerPhase::Failed,
                Some("cannot start x"),
                &[],
            ),
        ]);
        assert!(text.contains("files") && text.contains("ready") && text.contains("1 tool\n"));
        assert!(
            text.contains("failed    0 tools\n    cannot start x"),
            "{text}"
        );
        assert!(describe(&[]).contains("mcpServers"));
    }
}
