//! What the `local` backend keeps: agents with their memory blocks,
//! conversations, messages in Letta's model, and runs with every chunk they
//! streamed. Each function is one transaction.

mod agents;
mod messages;
mod runs;

pub use agents::{LocalAgentRow, LocalBlockRow, LocalConversationRow};
pub use messages::{LocalMessageRow, MessageRole, NewMessage};
pub use runs::{LocalRunRow, LocalRunStatus, RunEnding, RunProgress, RunStart};

/// The stored id of an agent's default conversation.
pub fn default_conversation_key(agent_id: &str) -> String {
    format!("default:{agent_id}")
}

/// Rows for tests: agent `agent-1` and a running run of its default
/// conversation.
#[cfg(test)]
pub mod fixtures {
    use super::*;

    pub fn agent() -> LocalAgentRow {
        LocalAgentRow {
            id: "agent-1".into(),
            name: "a".into(),
            description: String::new(),
            model: "p/m".into(),
            system: String::new(),
            tool_rules: "[]".into(),
            tags: "[]".into(),
            metadata: "{}".into(),
            created_at: "t".into(),
            updated_at: "t".into(),
        }
    }

    /// Run `id`, created at `t<index>` (so runs sort by index).
    pub fn run(id: &str, index: i64) -> LocalRunRow {
        LocalRunRow {
            id: id.to_owned(),
            conversation_id: default_conversation_key("agent-1"),
            agent_id: "agent-1".into(),
            status: LocalRunStatus::Running,
            stop_reason: None,
            tool_set: "none".into(),
            steps: 0,
            usage: None,
            error: None,
            created_at: format!("t{index:03}"),
        }
    }
}
