//! Which MCP servers an agent uses: Letta Code keeps them per agent in
//! `~/.letta/settings.json`, as `agents[].mcpServers`, a list of
//! `{name, transport: "stdio", command, args?, env?, cwd?}` or
//! `{name, transport: "http", url, headers?}`. Header values may name
//! environment variables as `${NAME}`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// One configured server. Two runtimes whose configurations are equal share
/// one running server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerConfig {
    pub name: String,
    pub transport: Transport,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<String>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

impl Transport {
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
        }
    }
}

/// A configured server that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadConfig {
    pub name: String,
    pub error: String,
}

/// The servers in one `mcpServers` list: the usable ones, and the reason
/// for each that is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configured {
    pub servers: Vec<ServerConfig>,
    pub bad: Vec<BadConfig>,
}

impl Configured {
    /// These servers, with `other`'s in place of any of the same name.
    pub fn overlaid(mut self, other: Configured) -> Configured {
        let replaced = |name: &str| {
            other.servers.iter().any(|server| server.name == name)
                || other.bad.iter().any(|bad| bad.name == name)
        };
        self.servers.retain(|server| !replaced(&server.name));
        self.bad.retain(|bad| !replaced(&bad.name));
        self.servers.extend(other.servers);
        self.bad.extend(other.bad);
        self
    }
}

/// Most servers one agent may use: each is a process or a connection.
pub const MAX_SERVERS: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The servers `agent_id` uses, from the user's settings file (missing:
/// none; unreadable: reported as one bad entry).
pub fn for_agent(settings_file: &Path, agent_id: &str) -> Configured {
    match entries_for_agent(settings_file, agent_id) {
        Ok(entries) => parse_list(&entries),
        Err(error) => unreadable(settings_file, &error),
    }
}

/// The `mcpServers` list of `agent_id` as written (an empty list when the
/// file or the agent has none).
pub fn entries_for_agent(settings_file: &Path, agent_id: &str) -> Result<Value, String> {
    let none = || Value::Array(Vec::new());
    let text = match std::fs::read_to_string(settings_file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(none()),
        Err(err) => return Err(err.to_string()),
    };
    let settings: Value = serde_json::from_str(&text).map_err(|err| err.to_string())?;
    Ok(settings
        .get("agents")
        .and_then(Value::as_array)
        .and_then(|agents| {
            agents
                .iter()
                .find(|agent| agent.get("agentId").and_then(Value::as_str) == Some(agent_id))
        })
        .and_then(|agent| agent.get("mcpServers"))
        .cloned()
        .unwrap_or_else(none))
}

/// `base` entries with `over`'s in place of any of the same name.
pub fn overlay_entries(base: &Value, over: &Value) -> Vec<serde_json::Map<String, Value>> {
    let objects = |list: &Value| -> Vec<serde_json::Map<String, Value>> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.as_object().cloned())
            .collect()
    };
    let over = objects(over);
    let mut merged: Vec<_> = objects(base)
        .into_iter()
        .filter(|entry| {
            !over
                .iter()
                .any(|other| other.get("name") == entry.get("name"))
        })
        .collect();
    merged.extend(over);
    merged
}

fn unreadable(file: &Path, error: &str) -> Configured {
    Configured {
        servers: Vec::new(),
        bad: vec![BadConfig {
            name: "*".to_owned(),
            error: format!("{} cannot be read: {error}", file.display()),
        }],
    }
}

/// Parses a `mcpServers` list; each entry stands or falls alone.
pub fn parse_list(list: &Value) -> Configured {
    let mut configured = Configured::default();
    let Some(entries) = list.as_array() else {
        configured.bad.push(BadConfig {
            name: "*".to_owned(),
            error: "`mcpServers` is not a list".to_owned(),
        });
        return configured;
    };
    for entry in entries {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_owned();
        match parse_one(entry) {
            Ok(config)
                if configured
                    .servers
                    .iter()
                    .any(|seen| seen.name == config.name) =>
            {
                configured.bad.push(BadConfig {
                    name,
                    error: "another server has the same name".to_owned(),
                });
            }
            Ok(_) if configured.servers.len() >= MAX_SERVERS => configured.bad.push(BadConfig {
                name,
                error: format!("more than {MAX_SERVERS} servers are configured"),
            }),
            Ok(config) => configured.servers.push(config),
            Err(error) => configured.bad.push(BadConfig { name, error }),
        }
    }
    configured
}

fn parse_one(entry: &Value) -> Result<ServerConfig, String> {
    let raw = RawConfig::deserialize(entry).map_err(|err| err.to_string())?;
    if raw.name.trim().is_empty() {
        return Err("the name is empty".to_owned());
    }
    let transport = match raw.transport.as_deref() {
        None | Some("stdio") => Transport::Stdio {
            command: raw
                .command
                .filter(|command| !command.trim().is_empty())
                .ok_or("a stdio server needs a `command`")?,
            args: raw.args,
            env: raw.env,
            cwd: raw.cwd,
        },
        Some("http" | "streamable-http" | "streamable_http") => Transport::Http {
            url: raw
                .url
                .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
                .ok_or("an http server needs an http:// or https:// `url`")?,
            headers: raw.headers,
        },
        Some("sse") => {
            return Err(
                "the legacy SSE transport is not supported; servers that speak streamable HTTP \
                 work with `\"transport\": \"http\"`"
                    .to_owned(),
            );
        }
        Some(other) => return Err(format!("unknown transport {other:?}; use stdio or http")),
    };
    Ok(ServerConfig {
        name: raw.name,
        transport,
    })
}

/// A header value with `${NAME}` replaced by the environment variable.
pub fn expand_header(name: &str, value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let variable = &after[..end];
        let resolved = std::env::var(variable).map_err(|_| {
            format!("header {name} names the environment variable {variable}, which is not set")
        })?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A name as it appears in a tool name: anything but letters, digits, `_`
/// and `-` becomes `_` (as Letta Code names them).
pub fn tool_name_part(value: &str) -> String {
    let normalized: String = value
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    if normalized.is_empty() {
        "tool".to_owned()
    } else {
        normalized
    }
}

/// The agent's name for tool `tool` of server `server`.
pub fn tool_name(server: &str, tool: &str) -> String {
    format!("mcp__{}__{}", tool_name_part(server), tool_name_part(tool))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_entry_stands_or_falls_alone() {
        let configured = parse_list(&json!([
            {"name": "files", "transport": "stdio", "command": "npx", "args": ["-y", "server"]},
            {"name": "web", "transport": "http", "url": "http://127.0.0.1:9/mcp",
             "headers": {"Authorization": "Bearer ${TOKEN}"}},
            {"name": "old", "transport": "sse", "url": "http://x"},
            {"name": "nothing", "transport": "stdio"},
            {"name": "files", "command": "again"},
            {"name": "typo", "command": "x", "argz": []},
            "not an object",
        ]));
        let names: Vec<&str> = configured.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["files", "web"]);
        let bad: Vec<&str> = configured.bad.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(bad, ["old", "nothing", "files", "typo", "(unnamed)"]);
        assert!(
            configured.bad[0].error.contains("SSE"),
            "{:?}",
            configured.bad
        );
        assert!(
            configured.bad[3].error.contains("argz"),
            "{:?}",
            configured.bad
        );
    }

    #[test]
    fn a_runtimes_own_servers_replace_the_agents_of_the_same_name() {
        let agent = parse_list(&json!([
            {"name": "files", "command": "agent-files"},
            {"name": "kept", "command": "kept"},
            {"name": "broken", "transport": "sse", "url": "http://x"},
        ]));
        let runtime = parse_list(&json!([
            {"name": "files", "command": "editor-files"},
            {"name": "broken", "command": "fixed"},
        ]));
        let both = agent.overlaid(runtime);
        let commands: Vec<String> = both
            .servers
            .iter()
            .map(|server| match &server.transport {
                Transport::Stdio { command, .. } => command.clone(),
                Transport::Http { url, .. } => url.clone(),
            })
            .collect();
        assert_eq!(commands, ["kept", "editor-files", "fixed"]);
        assert!(both.bad.is_empty());
    }

    #[test]
    fn entries_are_overlaid_by_name() {
        let merged = overlay_entries(
            &json!([{"name": "a", "command": "x"}, {"name": "b", "command": "y"}, "junk"]),
            &json!([{"name": "b", "command": "z"}]),
        );
        assert_eq!(
            Value::Array(merged.into_iter().map(Value::Object).collect()),
            json!([{"name": "a", "command": "x"}, {"name": "b", "command": "z"}])
        );
    }

    #[test]
    fn a_list_that_is_not_one_is_reported() {
        assert_eq!(parse_list(&json!({"files": {}})).bad.len(), 1);
    }

    #[test]
    fn servers_are_read_for_their_agent_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("settings.json");
        std::fs::write(
            &file,
            json!({"agents": [
                {"agentId": "agent-a", "mcpServers": [{"name": "a", "command": "a-server"}]},
                {"agentId": "agent-b", "mcpServers": [{"name": "b", "command": "b-server"}]},
            ]})
            .to_string(),
        )
        .expect("write");
        assert_eq!(for_agent(&file, "agent-b").servers[0].name, "b");
        assert_eq!(for_agent(&file, "agent-c"), Configured::default());
        assert_eq!(
            for_agent(&dir.path().join("missing.json"), "a"),
            Configured::default()
        );
        std::fs::write(&file, "{").expect("write");
        assert!(
            for_agent(&file, "agent-a").bad[0]
                .error
                .contains("cannot be read")
        );
    }

    #[test]
    fn tool_names_follow_letta_code() {
        assert_eq!(
            tool_name("my files", "read.file"),
            "mcp__my_files__read_file"
        );
        assert_eq!(tool_name("", "x"), "mcp__tool__x");
    }

    #[test]
    fn header_values_take_environment_variables() {
        let path = std::env::var("PATH").expect("PATH is set");
        assert_eq!(
            expand_header("X", "a ${PATH} b").as_deref(),
            Ok(&*format!("a {path} b"))
        );
        assert_eq!(expand_header("X", "plain").as_deref(), Ok("plain"));
        let missing = expand_header("Authorization", "Bearer ${LETTA_TEST_SURELY_UNSET}");
        assert!(missing.is_err_and(|err| err.contains("LETTA_TEST_SURELY_UNSET")));
    }
}
