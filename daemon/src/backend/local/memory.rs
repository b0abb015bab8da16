//! The memory tools a local agent runs inside the daemon, without asking:
//! `memory_replace`, `memory_insert`, `memory_rethink` and
//! `conversation_search`, with the names and arguments a Letta server
//! gives its agents.

use serde::Deserialize;
use serde_json::{Value, json};

use super::providers::ToolSpec;
use crate::store::local::LocalBlockRow;

pub const MEMORY_REPLACE: &str = "memory_replace";
pub const MEMORY_INSERT: &str = "memory_insert";
pub const MEMORY_RETHINK: &str = "memory_rethink";
pub const CONVERSATION_SEARCH: &str = "conversation_search";

/// Results `conversation_search` returns unless asked for fewer.
pub const DEFAULT_SEARCH_LIMIT: i64 = 10;
/// The most it returns.
pub const MAX_SEARCH_LIMIT: i64 = 100;

/// Every tool a local agent has besides the client-side ones.
pub const TOOL_NAMES: &[&str] = &[
    MEMORY_REPLACE,
    MEMORY_INSERT,
    MEMORY_RETHINK,
    CONVERSATION_SEARCH,
];

pub fn is_memory_tool(name: &str) -> bool {
    TOOL_NAMES.contains(&name)
}

pub fn tool_specs() -> Vec<ToolSpec> {
    let label =
        json!({ "type": "string", "description": "The label of the memory block to edit." });
    vec![
        ToolSpec::new(
            MEMORY_REPLACE.to_owned(),
            "Replace one exact, unique piece of text in a memory block with new text. \
                For small precise edits; to rewrite a whole block use memory_rethink."
                .to_owned(),
            &json!({
                "type": "object",
                "properties": {
                    "label": label,
                    "old_string": { "type": "string", "description": "The text to replace, exactly as it appears in the block." },
                    "new_string": { "type": "string", "description": "The text to put in its place (may be empty)." },
                },
                "required": ["label", "old_string", "new_string"],
            }),
        ),
        ToolSpec::new(
            MEMORY_INSERT.to_owned(),
            "Insert text into a memory block after a given line (0 for the top, -1 \
                for the end)."
                .to_owned(),
            &json!({
                "type": "object",
                "properties": {
                    "label": label,
                    "new_string": { "type": "string", "description": "The text to insert." },
                    "insert_line": { "type": "integer", "description": "The line after which to insert; 0 for the beginning, -1 (default) for the end." },
                },
                "required": ["label", "new_string"],
            }),
        ),
        ToolSpec::new(
            MEMORY_RETHINK.to_owned(),
            "Rewrite a memory block completely, e.g. to condense or reorganise it. \
                Creates the block if there is none with that label."
                .to_owned(),
            &json!({
                "type": "object",
                "properties": {
                    "label": label,
                    "new_memory": { "type": "string", "description": "The block's new contents." },
                },
                "required": ["label", "new_memory"],
            }),
        ),
        ToolSpec::new(
            CONVERSATION_SEARCH.to_owned(),
            "Search the whole message history with this user, including messages \
                no longer in context."
                .to_owned(),
            &json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "Words to look for." },
                    "roles": { "type": "array", "items": { "type": "string", "enum": ["assistant", "user", "tool"] }, "description": "Only messages from these roles." },
                    "limit": { "type": "integer", "description": "The most results to return." },
                },
                "required": [],
            }),
        ),
    ]
}

/// A memory edit's outcome: the block's new value, or why nothing changed.
pub type EditResult = Result<String, String>;

#[derive(Deserialize)]
struct Replace {
    label: String,
    old_string: String,
    new_string: String,
}

#[derive(Deserialize)]
struct Insert {
    label: String,
    new_string: String,
    #[serde(default = "end_of_block")]
    insert_line: i64,
}

fn end_of_block() -> i64 {
    -1
}

#[derive(Deserialize)]
struct Rethink {
    label: String,
    new_memory: String,
}

/// Applies a memory edit to the agent's blocks (in memory; the caller
/// stores the changed block with the tool's result). Returns the label of
/// the edited block with the result.
pub fn edit(
    blocks: &mut [LocalBlockRow],
    tool: &str,
    arguments: &str,
) -> (Option<String>, EditResult) {
    let parsed: Result<Value, _> = serde_json::from_str(if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    });
    let arguments = match parsed {
        Ok(arguments) => arguments,
        Err(err) => return (None, Err(format!("the arguments are not JSON: {err}"))),
    };
    let outcome = match tool {
        MEMORY_REPLACE => serde_json::from_value::<Replace>(arguments)
            .map_err(|err| err.to_string())
            .and_then(|args| {
                let block = find(blocks, &args.label)?;
                replace(&block.value, &args.old_string, &args.new_string)
                    .map(|value| (args.label, value))
            }),
        MEMORY_INSERT => serde_json::from_value::<Insert>(arguments)
            .map_err(|err| err.to_string())
            .and_then(|args| {
                let block = find(blocks, &args.label)?;
                insert(&block.value, &args.new_string, args.insert_line)
                    .map(|value| (args.label, value))
            }),
        MEMORY_RETHINK => serde_json::from_value::<Rethink>(arguments)
            .map_err(|err| err.to_string())
            .and_then(|args| {
                find(blocks, &args.label)?;
                Ok((args.label, args.new_memory))
            }),
        other => Err(format!("{other} is not a memory edit")),
    };
    let (label, value) = match outcome {
        Ok(found) => found,
        Err(err) => return (None, Err(err)),
    };
    let Some(block) = blocks.iter_mut().find(|block| block.label == label) else {
        return (None, Err(format!("no memory block labelled {label:?}")));
    };
    if block.read_only {
        return (None, Err(format!("memory block {label:?} is read-only")));
    }
    let length = value.chars().count() as i64;
    if length > block.char_limit {
        return (
            None,
            Err(format!(
                "the edit would make memory block {label:?} {length} characters long; its limit is {}. \
                 Condense it (memory_rethink) first.",
                block.char_limit
            )),
        );
    }
    block.value = value.clone();
    (Some(label), Ok(value))
}

fn find<'a>(blocks: &'a [LocalBlockRow], label: &str) -> Result<&'a LocalBlockRow, String> {
    blocks
        .iter()
        .find(|block| block.label == label)
        .ok_or_else(|| {
            let labels: Vec<&str> = blocks.iter().map(|block| block.label.as_str()).collect();
            format!("no memory block labelled {label:?}; the blocks are {labels:?}")
        })
}

fn replace(current: &str, old: &str, new: &str) -> Result<String, String> {
    if old.is_empty() {
        return Err("old_string is empty; to add text use memory_insert".to_owned());
    }
    match current.matches(old).count() {
        0 => Err(format!(
            "no replacement was made: {old:?} does not appear verbatim in the block"
        )),
        1 => Ok(current.replacen(old, new, 1)),
        count => Err(format!(
            "no replacement was made: {old:?} appears {count} times; make it unique"
        )),
    }
}

fn insert(current: &str, text: &str, after_line: i64) -> Result<String, String> {
    let mut lines: Vec<&str> = if current.is_empty() {
        Vec::new()
    } else {
        current.split('\n').collect()
    };
    let count = lines.len() as i64;
    let at = match after_line {
        -1 => count,
        line if (0..=count).contains(&line) => line,
        line => {
            return Err(format!(
                "insert_line {line} is outside the block's lines 0..={count} (or -1 for the end)"
            ));
        }
    };
    let at = usize::try_from(at).unwrap_or(lines.len());
    lines.splice(at..at, text.split('\n'));
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(label: &str, value: &str) -> LocalBlockRow {
        LocalBlockRow {
            id: format!("block-{label}"),
            label: label.into(),
            description: String::new(),
            value: value.into(),
            char_limit: 100,
            read_only: false,
        }
    }

    #[test]
    fn edits_follow_letta() {
        let mut blocks = vec![block("human", "Name: Alice\nLikes: tea")];
        let (label, result) = edit(
            &mut blocks,
            MEMORY_REPLACE,
            r#"{"label":"human","old_string":"Alice","new_string":"Bob"}"#,
        );
        assert_eq!(label.as_deref(), Some("human"));
        assert_eq!(result.unwrap(), "Name: Bob\nLikes: tea");
        let (_, result) = edit(
            &mut blocks,
            MEMORY_INSERT,
            r#"{"label":"human","new_string":"Age: 30","insert_line":1}"#,
        );
        assert_eq!(result.unwrap(), "Name: Bob\nAge: 30\nLikes: tea");
        let (_, result) = edit(
            &mut blocks,
            MEMORY_INSERT,
            r#"{"label":"human","new_string":"End"}"#,
        );
        assert!(result.unwrap().ends_with("tea\nEnd"));
        let (_, result) = edit(
            &mut blocks,
            MEMORY_REPLACE,
            r#"{"label":"human","old_string":"nobody","new_string":"x"}"#,
        );
        assert!(result.unwrap_err().contains("does not appear"));
        let (_, result) = edit(
            &mut blocks,
            MEMORY_RETHINK,
            r#"{"label":"persona","new_memory":"x"}"#,
        );
        assert!(result.unwrap_err().contains("no memory block"));
        let long = "x".repeat(101);
        let (label, result) = edit(
            &mut blocks,
            MEMORY_RETHINK,
            &format!(r#"{{"label":"human","new_memory":"{long}"}}"#),
        );
        assert!(label.is_none() && result.unwrap_err().contains("limit is 100"));
        assert_eq!(blocks[0].value, "Name: Bob\nAge: 30\nLikes: tea\nEnd");
        blocks[0].read_only = true;
        let (_, result) = edit(
            &mut blocks,
            MEMORY_RETHINK,
            r#"{"label":"human","new_memory":"y"}"#,
        );
        assert!(result.unwrap_err().contains("read-only"));
        let (_, result) = edit(&mut blocks, MEMORY_RETHINK, "not json");
        assert!(result.is_err());
    }
}
