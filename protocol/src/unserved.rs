//! Letta Code app-server commands this daemon deliberately does not serve.
//! Each is refused by name, with why, rather than as an unknown method.

/// One refused command and why it is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unserved {
    pub command: &'static str,
    pub why: &'static str,
}

const CHANNELS: &str = "chat channels (Slack, Telegram) belong to Letta Code's hosted listener";
const TELEPORT: &str = "moving a live session between machines is not offered";
const SECRETS: &str =
    "secrets are kept by Letta Code's cloud account, which the daemon does not hold";
const EXPERIMENTS: &str = "Letta Code's feature experiments do not apply to the daemon";
const REFLECTION: &str = "reflection (sleep-time) settings belong to Letta Code's own agents";
const SKILL_TOGGLES: &str = "skills are found on disk; remove or add the skill's folder instead";
const BROWSER_OAUTH: &str =
    "MCP servers that need browser OAuth are not supported; give the server a token in its headers";
const FILE_OPS: &str = "collaborative (CRDT) editing is not offered; use write_file or edit_file";
const MEMFS: &str =
    "memory as git-backed files (memfs) is not offered; memory blocks are edited through the agent";
const CHATGPT: &str = "ChatGPT subscription usage is not tracked";

/// Every deliberately unserved command.
pub const UNSERVED: &[Unserved] = &[
    unserved("channels_list", CHANNELS),
    unserved("channel_accounts_list", CHANNELS),
    unserved("channel_account_create", CHANNELS),
    unserved("channel_account_update", CHANNELS),
    unserved("channel_account_bind", CHANNELS),
    unserved("channel_account_unbind", CHANNELS),
    unserved("channel_account_delete", CHANNELS),
    unserved("channel_account_start", CHANNELS),
    unserved("channel_account_stop", CHANNELS),
    unserved("channel_get_config", CHANNELS),
    unserved("channel_set_config", CHANNELS),
    unserved("channel_start", CHANNELS),
    unserved("channel_stop", CHANNELS),
    unserved("channel_pairings_list", CHANNELS),
    unserved("channel_pairing_bind", CHANNELS),
    unserved("channel_routes_list", CHANNELS),
    unserved("channel_targets_list", CHANNELS),
    unserved("channel_target_bind", CHANNELS),
    unserved("channel_route_remove", CHANNELS),
    unserved("channel_route_update", CHANNELS),
    unserved("teleport_probe", TELEPORT),
    unserved("teleport_request", TELEPORT),
    unserved("teleport_failed", TELEPORT),
    unserved("secret_list", SECRETS),
    unserved("secret_apply", SECRETS),
    unserved("get_experiments", EXPERIMENTS),
    unserved("set_experiment", EXPERIMENTS),
    unserved("get_reflection_settings", REFLECTION),
    unserved("set_reflection_settings", REFLECTION),
    unserved("skill_enable", SKILL_TOGGLES),
    unserved("skill_disable", SKILL_TOGGLES),
    unserved("browser_device_mcp_oauth", BROWSER_OAUTH),
    unserved("browser_device_mcp_oauth_cancel", BROWSER_OAUTH),
    unserved("file_ops", FILE_OPS),
    unserved("list_memory", MEMFS),
    unserved("memory_history", MEMFS),
    unserved("memory_file_at_ref", MEMFS),
    unserved("memory_commit_diff", MEMFS),
    unserved("read_memory_file", MEMFS),
    unserved("write_memory_file", MEMFS),
    unserved("delete_memory_file", MEMFS),
    unserved("enable_memfs", MEMFS),
    unserved("chatgpt_usage_read", CHATGPT),
];

const fn unserved(command: &'static str, why: &'static str) -> Unserved {
    Unserved { command, why }
}

/// Why `command` is not served, if it is one of [`UNSERVED`].
pub fn unserved_reason(command: &str) -> Option<&'static str> {
    UNSERVED
        .iter()
        .find(|entry| entry.command == command)
        .map(|entry| entry.why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_unserved_command_is_declared() {
        for entry in UNSERVED {
            assert!(
                crate::method_info(entry.command).is_none(),
                "{} is both served and refused",
                entry.command
            );
        }
    }

    /// The README's differences table names every refused command.
    #[test]
    fn the_readme_lists_every_unserved_command() {
        let readme = include_str!("../../README.md");
        for entry in UNSERVED {
            assert!(
                readme.contains(&format!("`{}`", entry.command)),
                "README.md does not list {}",
                entry.command
            );
        }
    }
}
