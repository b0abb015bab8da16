//! The system prompt of a local agent: its base instructions, then its
//! memory blocks the way a Letta server renders them, compiled again before
//! every step so a memory edit shows in the next one.

use std::fmt::Write;

use crate::store::local::LocalBlockRow;

/// The base instructions of an agent created without its own.
pub const DEFAULT_SYSTEM: &str = "You are a Letta agent: a helpful assistant with persistent memory, \
working on the user's machine through the tools you are given.\n\n\
Your core memory is shown below in memory blocks. It persists between conversations: keep it up \
to date with what you learn about the user, the project and yourself, using memory_replace, \
memory_insert and memory_rethink. Earlier messages that are no longer in your context can be \
found with conversation_search.\n\n\
Use the tools to read, search and change files and to run commands; the user may be asked to \
approve what you do. Be concise and accurate.";

/// Base instructions followed by the memory blocks.
pub fn compile(system: &str, blocks: &[LocalBlockRow], summary: &str) -> String {
    let mut prompt = String::with_capacity(system.len() + 256 * (blocks.len() + 1));
    // Instructions from a Letta server come wrapped already.
    if system.trim_start().starts_with("<base_instructions>") {
        prompt.push_str(system.trim());
        prompt.push_str("\n\n");
    } else {
        prompt.push_str("<base_instructions>\n");
        prompt.push_str(system.trim_end());
        prompt.push_str("\n</base_instructions>\n\n");
    }
    if !blocks.is_empty() {
        prompt.push_str(
            "<memory_blocks>\nThe following memory blocks are currently engaged in your core memory unit:\n\n",
        );
        for (index, block) in blocks.iter().enumerate() {
            let label = &block.label;
            let _ = write!(
                prompt,
                "<{label}>\n<description>\n{}\n</description>\n<metadata>",
                block.description
            );
            if block.read_only {
                prompt.push_str("\n- read_only=true");
            }
            let _ = write!(
                prompt,
                "\n- chars_current={}\n- chars_limit={}\n</metadata>\n<value>\n{}\n</value>\n</{label}>\n",
                block.value.chars().count(),
                block.char_limit,
                block.value
            );
            if index + 1 != blocks.len() {
                prompt.push('\n');
            }
        }
        prompt.push_str("\n</memory_blocks>");
    }
    if !summary.is_empty() {
        let _ = write!(
            prompt,
            "\n\n<conversation_summary>\nEarlier messages of this conversation, summarised:\n{summary}\n</conversation_summary>"
        );
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_render_with_their_metadata() {
        let blocks = vec![LocalBlockRow {
            id: "b".into(),
            label: "human".into(),
            description: "About the user.".into(),
            value: "Name: Ada".into(),
            char_limit: 5000,
            read_only: true,
        }];
        let prompt = compile("Be brief.", &blocks, "");
        assert!(prompt.starts_with("<base_instructions>\nBe brief.\n</base_instructions>"));
        assert!(prompt.contains(
            "<human>\n<description>\nAbout the user.\n</description>\n<metadata>\n- read_only=true\n- chars_current=9\n- chars_limit=5000\n</metadata>\n<value>\nName: Ada\n</value>\n</human>\n\n</memory_blocks>"
        ));
        assert!(!compile("x", &[], "").contains("memory_blocks"));
    }
}
