//! The argument schema of each built-in tool: Letta Code's names, types and
//! required fields (tested against its package), in our own words.

use serde_json::{Value, json};

fn schema(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

pub(super) fn bash_parameters() -> Value {
    schema(
        json!({
            "command": { "type": "string", "description": "The command line, run with bash -c." },
            "description": { "type": "string", "description": "What the command does, in a few words, for the user." },
            "timeout": { "type": "number", "description": "Milliseconds before the command is killed (default 120000, max 600000)." },
            "run_in_background": { "type": "boolean", "description": "Start the command and return at once; its output goes to a file." },
        }),
        &["command", "description"],
    )
}

pub(super) fn read_parameters() -> Value {
    schema(
        json!({
            "file_path": { "type": "string", "description": "The file to read." },
            "offset": { "type": "number", "description": "First line to return, 1-based." },
            "limit": { "type": "number", "description": "How many lines to return." },
        }),
        &["file_path"],
    )
}

pub(super) fn write_parameters() -> Value {
    schema(
        json!({
            "file_path": { "type": "string", "description": "The file to write." },
            "content": { "type": "string", "description": "The whole new content." },
        }),
        &["file_path", "content"],
    )
}

pub(super) fn edit_parameters() -> Value {
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

pub(super) fn apply_patch_parameters() -> Value {
    schema(
        json!({
            "input": { "type": "string", "description": "The whole patch, from *** Begin Patch to *** End Patch." },
        }),
        &["input"],
    )
}

pub(super) fn glob_parameters() -> Value {
    schema(
        json!({
            "pattern": { "type": "string", "description": "The glob to match paths against." },
            "path": { "type": "string", "description": "Directory to search; omit for the working directory." },
        }),
        &["pattern"],
    )
}

pub(super) fn grep_parameters() -> Value {
    schema(
        json!({
            "pattern": { "type": "string", "description": "Regular expression to search for." },
            "path": { "type": "string", "description": "File or directory to search; omit for the working directory." },
            "glob": { "type": "string", "description": "Only files matching this glob, e.g. \"*.{ts,tsx}\"." },
            "output_mode": { "type": "string", "enum": ["content", "files_with_matches", "count"] },
            "-A": { "type": "number", "description": "Lines after each match (content mode)." },
            "-B": { "type": "number", "description": "Lines before each match (content mode)." },
            "-C": { "type": "number", "description": "Lines before and after each match (content mode)." },
            "context": { "type": "number", "description": "The same as -C." },
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

pub(super) fn ls_parameters() -> Value {
    schema(
        json!({
            "path": { "type": "string", "description": "The directory to list." },
            "ignore": { "type": "array", "items": { "type": "string" }, "description": "Glob patterns of names to leave out." },
        }),
        &["path"],
    )
}

pub(super) fn task_create_parameters() -> Value {
    schema(
        json!({
            "subject": { "type": "string", "description": "What to do, in a few imperative words." },
            "description": { "type": "string", "description": "What the task involves, enough to act on later." },
            "activeForm": { "type": "string", "description": "What to show while it runs, e.g. \"Running tests\"." },
            "metadata": { "type": "object", "additionalProperties": { "type": "string" }, "description": "String values to keep with the task." },
        }),
        &["subject", "description"],
    )
}

pub(super) fn task_get_parameters() -> Value {
    schema(
        json!({ "taskId": { "type": "string", "description": "The task's id, e.g. task_1." } }),
        &["taskId"],
    )
}

pub(super) fn task_list_parameters() -> Value {
    schema(json!({}), &[])
}

pub(super) fn task_update_parameters() -> Value {
    let ids =
        |what: &str| json!({ "type": "array", "items": { "type": "string" }, "description": what });
    schema(
        json!({
            "taskId": { "type": "string", "description": "The task to change." },
            "status": {
                "anyOf": [
                    { "type": "string", "enum": ["pending", "in_progress", "completed"] },
                    { "type": "string", "const": "deleted" },
                ],
                "description": "The new status; deleted removes the task.",
            },
            "subject": { "type": "string", "description": "A new subject." },
            "description": { "type": "string", "description": "A new description." },
            "activeForm": { "type": "string", "description": "A new in-progress wording." },
            "owner": { "type": "string", "description": "Who works on it." },
            "addBlocks": ids("Tasks that cannot start before this one is done."),
            "addBlockedBy": ids("Tasks that must be done before this one."),
            "metadata": {
                "type": "object",
                "propertyNames": { "type": "string" },
                "additionalProperties": {},
                "description": "Keys to set (string values) or remove (null).",
            },
        }),
        &["taskId"],
    )
}

pub(super) fn update_plan_parameters() -> Value {
    schema(
        json!({
            "explanation": { "type": "string", "description": "Why the plan changed." },
            "plan": {
                "type": "array",
                "description": "The whole plan, in order.",
                "items": {
                    "type": "object",
                    "properties": {
                        "step": { "type": "string" },
                        "status": { "type": "string", "enum": ["pending", "in_progress", "completed"] },
                    },
                    "required": ["step", "status"],
                    "additionalProperties": false,
                },
            },
        }),
        &["plan"],
    )
}

pub(super) fn skill_parameters() -> Value {
    schema(
        json!({ "skill": { "type": "string", "description": "The skill's name, as listed." } }),
        &["skill"],
    )
}

pub(super) fn set_working_directory_parameters() -> Value {
    schema(
        json!({ "path": { "type": "string", "description": "The directory to work in." } }),
        &["path"],
    )
}

pub(super) fn wake_parameters() -> Value {
    schema(
        json!({
            "action": { "type": "string", "enum": ["create", "list", "cancel"], "description": "What to do." },
            "name": { "type": "string", "maxLength": 80, "description": "A short name for the wake (create)." },
            "prompt": { "type": "string", "maxLength": 4000, "description": "What you will be told when it fires (create)." },
            "after_seconds": { "type": "integer", "minimum": 60, "maximum": 31536000, "description": "Fire this many seconds from now (create)." },
            "scheduled_at": { "type": "string", "description": "Fire at this RFC 3339 time (create)." },
            "cron": { "type": "string", "description": "A recurring schedule; not supported by this daemon." },
            "id": { "type": "string", "description": "The wake to cancel (cancel)." },
        }),
        &["action"],
    )
}

pub(super) fn task_stop_parameters() -> Value {
    schema(
        json!({ "task_id": { "type": "string", "description": "The background command's id." } }),
        &["task_id"],
    )
}

pub(super) fn ask_user_question_parameters() -> Value {
    let text = |what: &str| json!({ "type": "string", "description": what });
    schema(
        json!({
            "questions": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "description": "The questions, asked together.",
                "items": {
                    "type": "object",
                    "properties": {
                        "question": text("The whole question."),
                        "header": text("A label of a few words."),
                        "options": {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 4,
                            "items": {
                                "type": "object",
                                "properties": {
                                    "label": text("What the user picks."),
                                    "description": text("What picking it means."),
                                },
                                "required": ["label", "description"],
                                "additionalProperties": false,
                            },
                        },
                        "multiSelect": { "type": "boolean", "default": false, "description": "Several options may be chosen." },
                    },
                    "required": ["question", "header", "options"],
                    "additionalProperties": false,
                },
            },
        }),
        &["questions"],
    )
}

pub(super) fn exec_command_parameters() -> Value {
    schema(
        json!({
            "cmd": { "type": "string", "description": "The command line to run." },
            "description": { "type": "string", "description": "What the command does, in a few words, for the user." },
            "login": { "type": "boolean", "description": "Run the shell as a login shell, reading its profile (default true)." },
            "max_output_tokens": { "type": "number", "description": "Most output to return, in tokens of about four characters (default 10000)." },
            "shell": { "type": "string", "description": "The shell to run the command with (default bash)." },
            "tty": { "type": "boolean", "description": "Run in a terminal whose input stays open for write_stdin (default false: input closed)." },
            "workdir": { "type": "string", "description": "Directory to run in (default the working directory)." },
            "yield_time_ms": { "type": "number", "description": "How long to wait for the command to end before returning with a session id (default 10000, 250 to 30000)." },
        }),
        &["cmd", "description"],
    )
}

pub(super) fn write_stdin_parameters() -> Value {
    schema(
        json!({
            "chars": { "type": "string", "description": "What to type (\\n for Enter, \\u0003 for Ctrl-C); empty to only read new output." },
            "max_output_tokens": { "type": "number", "description": "Most output to return, in tokens of about four characters (default 10000)." },
            "session_id": { "type": "number", "description": "The session exec_command answered with." },
            "yield_time_ms": { "type": "number", "description": "How long to wait for output (default 250; with empty chars 5000 to 300000)." },
        }),
        &["session_id"],
    )
}

pub(super) fn monitor_parameters() -> Value {
    schema(
        json!({
            "description": { "type": "string", "description": "What the monitor watches, in a few words; it names every event." },
            "timeout_ms": { "type": "number", "minimum": 1000, "default": 300000, "description": "Milliseconds before the script is killed (at most 3600000 unless persistent)." },
            "persistent": { "type": "boolean", "default": false, "description": "Run until stopped with TaskStop, with no timeout." },
            "command": { "type": "string", "description": "The script, run with bash -c; each line it prints is an event." },
            "ws": {
                "type": "object",
                "description": "Not supported here: use a command.",
                "properties": {
                    "url": { "type": "string" },
                    "protocols": { "type": "array", "items": { "type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" } },
                },
                "required": ["url"],
                "additionalProperties": false,
            },
        }),
        &["description"],
    )
}

pub(super) fn enter_worktree_parameters() -> Value {
    schema(
        json!({
            "name": { "type": "string", "description": "Name of a new worktree (its folder and branch derive from it)." },
            "path": { "type": "string", "description": "An existing worktree under .letta/worktrees/ to enter instead." },
            "branch_name": { "type": "string", "description": "The new branch (default letta/<name>-<random>)." },
            "base_ref": { "type": "string", "description": "What the branch starts from (default origin's default branch, else HEAD)." },
            "repo_path": { "type": "string", "description": "The repository (default the working directory's)." },
            "refresh_base": { "type": "boolean", "description": "Fetch base_ref from its remote first (default false)." },
            "switch_cwd": { "type": "boolean", "description": "Move the working directory into the worktree (default true)." },
            "symlink_dependencies": { "type": "boolean", "description": "Link node_modules from the primary checkout instead of installing (default false)." },
            "force": { "type": "boolean", "description": "Accepted for compatibility; worktrees are not locked here." },
        }),
        &[],
    )
}

pub(super) fn exit_worktree_parameters() -> Value {
    schema(
        json!({
            "action": { "type": "string", "enum": ["keep", "remove"], "description": "Keep the worktree and its branch, or remove both." },
            "discard_changes": { "type": "boolean", "description": "Remove even with uncommitted changes or unmerged commits (default false)." },
        }),
        &["action"],
    )
}

pub(super) fn view_image_parameters() -> Value {
    schema(
        json!({
            "path": { "type": "string", "description": "The image file." },
        }),
        &["path"],
    )
}

pub(super) fn agent_parameters() -> Value {
    let text = |what: &str| json!({ "type": "string", "description": what });
    schema(
        json!({
            "description": text("A short (3-5 word) description of the task."),
            "prompt": text("The task, complete in itself: the subagent sees nothing else of this conversation."),
            "subagent_type": text("The kind of subagent: general-purpose (the default; reads, changes and runs things), explore (reads and searches only), or a type defined in ~/.letta/agents or .letta/agents. The claude-code and codex workers are not offered here."),
            "model": text("A model handle for a new subagent; the type's, else this agent's, when left out."),
            "agent_id": text("Give the task to this existing agent, in a new conversation."),
            "conversation_id": text("Give the task to this existing conversation (its agent is implied)."),
            "computer": text("Not supported here: subagents run on this machine. Leave it out."),
            "run_in_background": {
                "type": "boolean",
                "description": "true (the default): return at once; the report comes later as a <task-notification> message. false: wait until the subagent is done and get its report as this call's result (several such calls made together work at the same time)."
            },
            "mcp": {
                "type": "object",
                "description": "Only for Claude Code and Codex workers, which are not offered here; ignored.",
                "properties": {
                    "inherit": { "type": "boolean", "description": "Ignored." },
                    "servers": {
                        "type": "array",
                        "items": { "type": "string", "minLength": 1 },
                        "description": "Ignored."
                    }
                },
                "required": ["inherit"],
                "additionalProperties": false
            }
        }),
        &["description", "prompt"],
    )
}

pub(super) fn send_agent_message_parameters() -> Value {
    schema(
        json!({
            "message": { "type": "string", "minLength": 1, "description": "What to say." },
            "agent_id": { "type": "string", "description": "Send to this agent, in a new conversation (or its default one with conversation_id \"default\")." },
            "conversation_id": { "type": "string", "description": "Send to this conversation, e.g. a subagent's (its id is in the Agent tool's answer)." },
            "computer": { "type": ["string", "null"], "description": "Not supported here: conversations are this daemon's. Leave it out." }
        }),
        &["message"],
    )
}
