//! What each built-in tool is called, what it takes, and what it may touch.

use letta_protocol::ClientToolset;
use serde_json::{Value, json};

/// What running a tool may do; decides permissions and parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads files only; may run alongside other reads.
    ReadOnly,
    /// Changes files.
    Edit,
    /// Runs arbitrary commands.
    Execute,
}

#[derive(Debug)]
pub struct BuiltinTool {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: fn() -> Value,
    pub effect: Effect,
    /// Offered by the `default` toolset without being included.
    pub in_default: bool,
}

pub static BUILTIN: &[BuiltinTool] = &[
    BuiltinTool {
        name: "Bash",
        description: "Run a shell command with bash in the working directory and return its output \
            (stdout, then stderr) and exit code. Output beyond 30,000 characters is saved to a file \
            whose path is reported. `timeout` is in milliseconds (default 120000, at most 600000); \
            the command and everything it started are killed when it expires or the turn is \
            aborted. With `run_in_background` the command keeps running and its output goes to a \
            file. Prefer Read, Edit, Write, Glob and Grep over cat, sed, echo, find and grep.",
        parameters: bash_parameters,
        effect: Effect::Execute,
        in_default: true,
    },
    BuiltinTool {
        name: "Read",
        description: "Read a text file. Lines come back numbered as `N<TAB>text`, starting at \
            line `offset` (1-based, default 1), at most `limit` lines (default 2000); lines longer \
            than 2000 characters are cut. Relative paths start at the working directory.",
        parameters: read_parameters,
        effect: Effect::ReadOnly,
        in_default: true,
    },
    BuiltinTool {
        name: "Write",
        description: "Write a whole file, creating it and its parent directories if needed. The \
            file is replaced atomically: readers see the old or the new content, never a mix. \
            Use Edit to change part of an existing file.",
        parameters: write_parameters,
        effect: Effect::Edit,
        in_default: true,
    },
    BuiltinTool {
        name: "Edit",
        description: "Replace `old_string` with `new_string` in a file. `old_string` must match \
            the file exactly (whitespace included) and only once, unless `replace_all` is true; \
            include surrounding lines to make it unique.",
        parameters: edit_parameters,
        effect: Effect::Edit,
        in_default: true,
    },
    BuiltinTool {
        name: "ApplyPatch",
        description: "Apply a patch in the `*** Begin Patch` / `*** End Patch` format: `*** Add \
            File: path` (lines prefixed with +), `*** Delete File: path`, and `*** Update File: \
            path` (optionally `*** Move to: path`) with `@@` hunks of context (space), removed (-) \
            and added (+) lines. Every file changes, or none does.",
        parameters: apply_patch_parameters,
        effect: Effect::Edit,
        in_default: true,
    },
    BuiltinTool {
        name: "Glob",
        description: "Find files whose path matches a glob pattern (`**/*.rs`, `src/*.{ts,tsx}`), \
            newest first, skipping files ignored by .gitignore. Searches the working directory \
            unless `path` names another directory.",
        parameters: glob_parameters,
        effect: Effect::ReadOnly,
        in_default: false,
    },
    BuiltinTool {
        name: "Grep",
        description: "Search file contents with a regular expression (ripgrep syntax), skipping \
            files ignored by .gitignore and binary files. `output_mode`: `files_with_matches` \
            (default), `content` (matching lines, with -A/-B/-C context and -n line numbers) or \
            `count`. Narrow with `glob` or `type`; `head_limit` and `offset` page the results.",
        parameters: grep_parameters,
        effect: Effect::ReadOnly,
        in_default: false,
    },
    BuiltinTool {
        name: "LS",
        description: "List a directory: subdirectories (with a trailing /) then files with their \
            sizes. `ignore` takes glob patterns of names to leave out.",
        parameters: ls_parameters,
        effect: Effect::ReadOnly,
        in_default: false,
    },
];

/// The built-in tool called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinTool> {
    BUILTIN.iter().find(|tool| tool.name == name)
}

/// The built-in tools a turn offers: the `default` base (or none), plus
/// what `include` adds.
pub fn offered(toolset: Option<&ClientToolset>) -> Vec<&'static BuiltinTool> {
    let base = toolset.and_then(|toolset| toolset.base.as_deref());
    let include = toolset
        .and_then(|toolset| toolset.include.as_deref())
        .unwrap_or_default();
    BUILTIN
        .iter()
        .filter(|tool| {
            let from_base = base != Some("none") && tool.in_default;
            from_base || include.iter().any(|name| name == tool.name)
        })
        .collect()
}

fn schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn bash_parameters() -> Value {
    schema(
        json!({
            "command": { "type": "string", "description": "The command line, run with bash -c." },
            "description": { "type": "string", "description": "What the command does, in a few words, for the user." },
            "timeout": { "type": "number", "description": "Milliseconds before the command is killed (default 120000, max 600000)." },
            "run_in_background": { "type": "boolean", "description": "Start the command and return at once; its output goes to a file." },
        }),
        &["command"],
    )
}

fn read_parameters() -> Value {
    schema(
        json!({
            "file_path": { "type": "string", "description": "The file to read." },
            "offset": { "type": "number", "description": "First line to return, 1-based." },
            "limit": { "type": "number", "description": "How many lines to return." },
        }),
        &["file_path"],
    )
}

fn write_parameters() -> Value {
    schema(
        json!({
            "file_path": { "type": "string", "description": "The file to write." },
            "content": { "type": "string", "description": "The whole new content." },
        }),
        &["file_path", "content"],
    )
}

fn edit_parameters() -> Value {
    schema(
        json!({
            "file_path": { "type": "string", "description": "The file to change." },
            "old_string": { "type": "string", "description": "The exact text to replace." },
            "new_string": { "type": "string", "description": "The text to put in its place." },
            "replace_all": { "type": "boolean", "default": false, "description": "Replace every occurrence." },
        }),
        &["file_path", "old_string", "new_string"],
    )
}

fn apply_patch_parameters() -> Value {
    schema(
        json!({
            "input": { "type": "string", "description": "The whole patch, from *** Begin Patch to *** End Patch." },
        }),
        &["input"],
    )
}

fn glob_parameters() -> Value {
    schema(
        json!({
            "pattern": { "type": "string", "description": "The glob to match paths against." },
            "path": { "type": "string", "description": "Directory to search; omit for the working directory." },
        }),
        &["pattern"],
    )
}

fn grep_parameters() -> Value {
    schema(
        json!({
            "pattern": { "type": "string", "description": "Regular expression to search for." },
            "path": { "type": "string", "description": "File or directory to search; omit for the working directory." },
            "glob": { "type": "string", "description": "Only files matching this glob, e.g. \"*.{ts,tsx}\"." },
            "output_mode": { "type": "string", "enum": ["content", "files_with_matches", "count"] },
            "-A": { "type": "number", "description": "Lines after each match (content mode)." },
            "-B": { "type": "number", "description": "Lines before each match (content mode)." },
            "-C": { "type": "number", "description": "Lines before and after each match (content mode)." },
            "-n": { "type": "boolean", "description": "Show line numbers (content mode; default true)." },
            "-i": { "type": "boolean", "description": "Case-insensitive." },
            "type": { "type": "string", "description": "File type, e.g. rust, js, py." },
            "head_limit": { "type": "number", "description": "At most this many lines or entries (0: no limit)." },
            "offset": { "type": "number", "description": "Skip this many lines or entries first." },
            "multiline": { "type": "boolean", "description": "Let patterns span lines; . matches newlines." },
        }),
        &["pattern"],
    )
}

fn ls_parameters() -> Value {
    schema(
        json!({
            "path": { "type": "string", "description": "The directory to list." },
            "ignore": { "type": "array", "items": { "type": "string" }, "description": "Glob patterns of names to leave out." },
        }),
        &["path"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tools: &[&BuiltinTool]) -> Vec<&'static str> {
        tools.iter().map(|tool| tool.name).collect()
    }

    #[test]
    fn toolsets_choose_the_offered_tools() {
        assert_eq!(
            names(&offered(None)),
            ["Bash", "Read", "Write", "Edit", "ApplyPatch"]
        );
        let none = ClientToolset {
            base: Some("none".into()),
            include: Some(vec!["Grep".into()]),
        };
        assert_eq!(names(&offered(Some(&none))), ["Grep"]);
        let more = ClientToolset {
            base: Some("default".into()),
            include: Some(vec!["Glob".into(), "LS".into()]),
        };
        assert_eq!(offered(Some(&more)).len(), 7);
    }

    #[test]
    fn every_schema_requires_declared_properties() {
        for tool in BUILTIN {
            let schema = (tool.parameters)();
            for required in schema["required"].as_array().unwrap() {
                let name = required.as_str().unwrap();
                assert!(
                    schema["properties"].get(name).is_some(),
                    "{}: {name}",
                    tool.name
                );
            }
        }
    }
}
