//! The MCP servers an editor passes with a session, in the daemon's form
//! (Letta Code's `mcpServers` entries): the daemon runs them for that
//! session's runtime, besides those configured for its agent.

use agent_client_protocol::v1::schema::McpServer;
use serde_json::{Map, Value, json};

/// Each server as a `mcpServers` entry. A transport the daemon does not
/// speak (SSE) is passed on, so the daemon reports it as unusable by name.
pub(super) fn entries(servers: &[McpServer]) -> Vec<Map<String, Value>> {
    servers.iter().filter_map(entry).collect()
}

fn entry(server: &McpServer) -> Option<Map<String, Value>> {
    let pairs = |pairs: Vec<(&String, &String)>| -> Map<String, Value> {
        pairs
            .into_iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect()
    };
    let value = match server {
        McpServer::Stdio(stdio) => json!({
            "name": stdio.name,
            "transport": "stdio",
            "command": stdio.command.display().to_string(),
            "args": stdio.args,
            "env": pairs(stdio.env.iter().map(|var| (&var.name, &var.value)).collect()),
        }),
        McpServer::Http(http) => json!({
            "name": http.name,
            "transport": "http",
            "url": http.url,
            "headers": pairs(http.headers.iter().map(|header| (&header.name, &header.value)).collect()),
        }),
        McpServer::Sse(sse) => json!({ "name": sse.name, "transport": "sse", "url": sse.url }),
        _ => return None,
    };
    match value {
        Value::Object(entry) => Some(entry),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_client_protocol::v1::schema::{
        EnvVariable, HttpHeader, McpServerHttp, McpServerStdio,
    };

    #[test]
    fn editor_servers_become_settings_entries() {
        let stdio = McpServerStdio::new("files", "/usr/bin/files")
            .args(vec!["/src".to_owned()])
            .env(vec![EnvVariable::new("TOKEN", "t")]);
        let http = McpServerHttp::new("web", "http://127.0.0.1:9/mcp")
            .headers(vec![HttpHeader::new("Authorization", "Bearer x")]);
        let entries = entries(&[McpServer::Stdio(stdio), McpServer::Http(http)]);
        assert_eq!(
            Value::Array(entries.into_iter().map(Value::Object).collect()),
            json!([
                {"name": "files", "transport": "stdio", "command": "/usr/bin/files",
                 "args": ["/src"], "env": {"TOKEN": "t"}},
                {"name": "web", "transport": "http", "url": "http://127.0.0.1:9/mcp",
                 "headers": {"Authorization": "Bearer x"}},
            ])
        );
    }
}
