//! What the `local` backend keeps: agents with their memory blocks,
//! conversations, messages in Letta's model, and runs with every chunk they
//! streamed. Each function is one transaction.

mod agents;
mod messages;
mod runs;

pub use agents::{LocalAgentRow, LocalBlockRow, LocalConversationRow};
pub use messages::{LocalMessageRow, MessageRole, NewMessage};
pub use runs::{LocalRunRow, LocalRunStatus, RunEnding, RunProgress};

/// The stored id of an agent's default conversation.
pub fn default_conversation_key(agent_id: &str) -> String {
    format!("default:{agent_id}")
}
