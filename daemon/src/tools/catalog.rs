//! What each built-in tool is called, what it takes, and what it may touch.

use std::collections::HashMap;
use std::sync::LazyLock;

use letta_protocol::ClientToolset;
use serde_json::{Value, json};

use super::parameters::*;

/// What running a tool may do; decides permissions and parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads files only; may run alongside other reads.
    ReadOnly,
    /// Changes files.
    Edit,
    /// Runs arbitrary commands.
    Execute,
    /// Changes only the daemon's own state of this conversation (its plan,
    /// its wakes, stopping its background commands, typing into a session
    /// it was allowed to start): never asks, and is safe to finish again
    /// after a crash.
    Conversation,
    /// Moves the runtime's working directory: allowed like a read of the
    /// target directory; running it again changes nothing more.
    Navigate,
}

impl Effect {
    /// Running the call again after a crash cannot change anything more.
    pub fn repeatable(self) -> bool {
        matches!(self, Effect::ReadOnly | Effect::Navigate)
    }
}

#[derive(Debug)]
pub struct BuiltinTool {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: fn() -> Value,
    pub effect: Effect,
}

impl BuiltinTool {
    /// The tool as a send offers it to the agent: name, description and
    /// JSON Schema, built once (every turn offers them all).
    pub fn client_tool(&self) -> &'static Value {
        static OFFERED: LazyLock<HashMap<&'static str, Value>> = LazyLock::new(|| {
            BUILTIN
                .iter()
                .map(|tool| {
                    let offered = json!({
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": (tool.parameters)(),
                    });
                    (tool.name, offered)
                })
                .collect()
        });
        static UNKNOWN: Value = Value::Null;
        OFFERED.get(self.name).unwrap_or(&UNKNOWN)
    }
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
    },
    BuiltinTool {
        name: "exec_command",
        description: "Run a command line (bash -lc by default) and wait up to `yield_time_ms` \
            for it to end. If it ends, you get its output and exit code. If it is still \
            running, you get the output so far and a session id: the command keeps running, \
            you are told when it ends, and write_stdin types into it (with `tty: true`) or \
            reads what it printed since. Use it for builds, tests, servers, REPLs. Sessions \
            end when the turn that started them is aborted, with TaskStop, after 12 hours, and \
            when the daemon stops.",
        parameters: exec_command_parameters,
        effect: Effect::Execute,
    },
    BuiltinTool {
        name: "write_stdin",
        description: "Type `chars` into a running exec_command session and return what it \
            printed since you last read (empty `chars` only reads, waiting up to \
            `yield_time_ms` for output). \\u0003 interrupts the command like Ctrl-C. Do not \
            poll a session only to learn whether it ended: you are told.",
        parameters: write_stdin_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "Read",
        description: "Read a text file. Lines come back numbered as `N<TAB>text`, starting at \
            line `offset` (1-based, default 1), at most `limit` lines (default 2000); lines longer \
            than 2000 characters are cut. Relative paths start at the working directory.",
        parameters: read_parameters,
        effect: Effect::ReadOnly,
    },
    BuiltinTool {
        name: "Write",
        description: "Write a whole file, creating it and its parent directories if needed. The \
            file is replaced atomically: readers see the old or the new content, never a mix. \
            Use Edit to change part of an existing file.",
        parameters: write_parameters,
        effect: Effect::Edit,
    },
    BuiltinTool {
        name: "Edit",
        description: "Replace `old_string` with `new_string` in a file. `old_string` must match \
            the file exactly (whitespace included) and only once, unless `replace_all` is true; \
            include surrounding lines to make it unique.",
        parameters: edit_parameters,
        effect: Effect::Edit,
    },
    BuiltinTool {
        name: "ApplyPatch",
        description: "Apply a patch in the `*** Begin Patch` / `*** End Patch` format: `*** Add \
            File: path` (lines prefixed with +), `*** Delete File: path`, and `*** Update File: \
            path` (optionally `*** Move to: path`) with `@@` hunks of context (space), removed (-) \
            and added (+) lines. Every file changes, or none does.",
        parameters: apply_patch_parameters,
        effect: Effect::Edit,
    },
    BuiltinTool {
        name: "Glob",
        description: "Find files whose path matches a glob pattern (`**/*.rs`, `src/*.{ts,tsx}`), \
            newest first, skipping files ignored by .gitignore. Searches the working directory \
            unless `path` names another directory.",
        parameters: glob_parameters,
        effect: Effect::ReadOnly,
    },
    BuiltinTool {
        name: "Grep",
        description: "Search file contents with a regular expression (ripgrep syntax), skipping \
            files ignored by .gitignore and binary files. `output_mode`: `files_with_matches` \
            (default), `content` (matching lines, with -A/-B/-C context and -n line numbers) or \
            `count`. Narrow with `glob` or `type`; `head_limit` and `offset` page the results.",
        parameters: grep_parameters,
        effect: Effect::ReadOnly,
    },
    BuiltinTool {
        name: "LS",
        description: "List a directory: subdirectories (with a trailing /) then files with their \
            sizes. `ignore` takes glob patterns of names to leave out.",
        parameters: ls_parameters,
        effect: Effect::ReadOnly,
    },
    BuiltinTool {
        name: "ViewImage",
        description: "Look at an image file (PNG, JPEG, GIF or WebP, up to 3.75 MB): you \
            receive the image itself. Relative paths start at the working directory.",
        parameters: view_image_parameters,
        effect: Effect::ReadOnly,
    },
    BuiltinTool {
        name: "Skill",
        description: "Load a skill: its instructions, its folder and the other files in it \
            (scripts, references) to read or run as the instructions say. `skill` is a name \
            from the skills listed in your context.",
        parameters: skill_parameters,
        effect: Effect::ReadOnly,
    },
    BuiltinTool {
        name: "SetWorkingDirectory",
        description: "Move this conversation's working directory to `path` (absolute, or \
            relative to the current one). Relative paths and commands of later calls start \
            there, and permissions follow it; moving outside the current directory asks the \
            user. The next message tells you about the new place.",
        parameters: set_working_directory_parameters,
        effect: Effect::Navigate,
    },
    BuiltinTool {
        name: "EnterWorktree",
        description: "Create a git worktree for this conversation (`name`, optionally \
            `branch_name` and `base_ref`) under the repository's .letta/worktrees/, on a new \
            branch, and move the working directory into it; or enter an existing one there \
            (`path`). Use it for feature work that should not disturb the main checkout. \
            Uncommitted changes are not carried over; the local permission settings are \
            copied. Git hooks do not run while it is created.",
        parameters: enter_worktree_parameters,
        effect: Effect::Edit,
    },
    BuiltinTool {
        name: "ExitWorktree",
        description: "Leave the worktree under .letta/worktrees/ this conversation works in \
            and return to the primary checkout: `keep` leaves it and its branch as they are; \
            `remove` deletes both, but refuses while it holds uncommitted changes or commits \
            the primary checkout's branch lacks unless `discard_changes` is true (ask the user \
            first). Only when the user asks; outside a worktree it changes nothing.",
        parameters: exit_worktree_parameters,
        effect: Effect::Edit,
    },
    BuiltinTool {
        name: "Wake",
        description: "Schedule a later turn of this conversation: `create` with a `name`, the \
            `prompt` you will receive then, and `after_seconds` (60 or more) or `scheduled_at` \
            (RFC 3339); `list` the scheduled wakes; `cancel` one by `id`. Wakes survive \
            restarts; a late one fires at once, once. Recurring `cron` wakes are not supported \
            here: schedule the next one when a wake fires.",
        parameters: wake_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "Monitor",
        description: "Start a background script whose output lines are events for you: each \
            burst of lines (within 200 ms) reaches you in a message of its own, at once if you \
            are idle, gathered until you are if you are busy. Use it to be told of each \
            occurrence (`tail -f app.log | grep --line-buffered ERROR`, a polling loop); for a \
            single notice use Bash with `run_in_background` and a command that exits when the \
            condition holds. Filter to the lines you would act on, failures included; a \
            monitor whose output overflows for 30 s is stopped. Only stdout is events (stderr \
            goes to its output file). It ends at `timeout_ms` (default 5 minutes) unless \
            `persistent`, with TaskStop, or when its script exits; it is started again after a \
            daemon restart. The `ws` source is not supported here.",
        parameters: monitor_parameters,
        effect: Effect::Execute,
    },
    BuiltinTool {
        name: "TaskStop",
        description: "Stop a background process with everything it started: a Bash \
            `run_in_background` command (bash-...), an exec_command session (its number) or a \
            monitor (monitor-...). `task_id` is the id the tool answered with, also listed in \
            the device status.",
        parameters: task_stop_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "AskUserQuestion",
        description: "Ask the user 1 to 4 questions, each with a short `header` and 2 to 4 \
            options (`label` and `description`; `multiSelect` lets several be chosen). The \
            user may also answer in their own words. The call waits for the answer, which is \
            its result. Ask only what you cannot find out yourself.",
        parameters: ask_user_question_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "TaskCreate",
        description: "Add a task to this conversation's task list, to plan multi-step work and \
            show the user progress. New tasks are `pending`; the answer carries the task's \
            `taskId`. `activeForm` is what to show while it is in progress (\"Running tests\").",
        parameters: task_create_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "TaskGet",
        description: "One task of this conversation's task list, with its description, status, \
            owner, dependencies and metadata.",
        parameters: task_get_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "TaskList",
        description: "Every task of this conversation's task list, oldest first.",
        parameters: task_list_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "TaskUpdate",
        description: "Change a task: mark it `in_progress` when you start it and `completed` \
            when it is done, `deleted` to remove it; change its subject, description, activeForm \
            or owner; add tasks it blocks or is blocked by; set metadata keys (null removes one). \
            Keep one task in progress at a time.",
        parameters: task_update_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "Agent",
        description: "Hand a self-contained task to a subagent, which works on it in a \
            conversation of its own, in this working directory and permission mode. By default \
            you go on: the call returns at once with the task's id, and when the subagent is \
            done its final report comes to you as a <task-notification> message; with \
            `run_in_background: false` the call waits and returns the report. Give it everything it \
            needs in `prompt`. `subagent_type` picks its instructions and tools (general-purpose, \
            explore, or one defined in .letta/agents). Several may work at once. Subagents run \
            on this machine only (no `computer`, no claude-code or codex workers) and launch none \
            of their own.",
        parameters: agent_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "SendAgentMessage",
        description: "Send a message to another conversation without waiting for an answer: \
            to a subagent of yours (steer it while it works — it reports once it has dealt \
            with the message — or give it more to do after it reported, which brings another \
            report), to any conversation by `conversation_id`, or to an agent in a new \
            conversation by `agent_id`. A subagent that names neither sends to its parent. The \
            recipient is told who wrote; its answer comes back only if it sends one. Send \
            rarely and say something new each time.",
        parameters: send_agent_message_parameters,
        effect: Effect::Conversation,
    },
    BuiltinTool {
        name: "UpdatePlan",
        description: "Replace this conversation's plan: its steps, each `pending`, `in_progress` \
            (at most one) or `completed`, with an optional explanation of what changed. Use it \
            for work of several steps; keep it current as steps finish.",
        parameters: update_plan_parameters,
        effect: Effect::Conversation,
    },
];

/// The tool whose result is an image, offered only where the backend
/// takes images in tool results.
pub const IMAGE_TOOL: &str = "ViewImage";

/// The tool that asks the user, offered with every toolset but `none`
/// unless a turn excludes interactive tools.
pub const QUESTION_TOOL: &str = "AskUserQuestion";

/// The built-in tool called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinTool> {
    BUILTIN.iter().find(|tool| tool.name == name)
}

/// Letta Code 0.34's toolsets, by the names the model sees, in its order
/// (`tests/fixtures/letta-code-tools.json` is the reference they are tested
/// against). A name the daemon does not serve yet is left out when offered.
pub const TOOLSETS: &[(&str, &[&str])] = &[
    (
        "default",
        &[
            "Bash",
            "Monitor",
            "WatchPR",
            "Wake",
            "EnterWorktree",
            "ExitWorktree",
            "SetWorkingDirectory",
            "Edit",
            "TaskStop",
            "Read",
            "Skill",
            "Memory",
            "Workflow",
            "Agent",
            "SendAgentMessage",
            "TaskCreate",
            "TaskGet",
            "TaskList",
            "TaskUpdate",
            "Write",
        ],
    ),
    (
        "codex",
        &[
            "EnterWorktree",
            "ExitWorktree",
            "SetWorkingDirectory",
            "Agent",
            "SendAgentMessage",
            "Monitor",
            "WatchPR",
            "Wake",
            "TaskStop",
            "Skill",
            "Memory",
            "Workflow",
            "exec_command",
            "write_stdin",
            "ViewImage",
            "ApplyPatch",
            "UpdatePlan",
        ],
    ),
    (
        "letta",
        &[
            "EnterWorktree",
            "ExitWorktree",
            "SetWorkingDirectory",
            "Agent",
            "SendAgentMessage",
            "Monitor",
            "WatchPR",
            "Wake",
            "TaskStop",
            "Skill",
            "Memory",
            "Workflow",
            "exec_command",
            "write_stdin",
            "Read",
            "Edit",
            "Write",
            "ViewImage",
            "UpdatePlan",
        ],
    ),
    ("none", &[]),
];

/// The toolset preference that picks one by model.
pub const AUTO_TOOLSET: &str = "auto";

/// Every toolset preference: `auto`, then the names of [`TOOLSETS`].
pub fn toolset_names() -> impl Iterator<Item = &'static str> {
    std::iter::once(AUTO_TOOLSET).chain(TOOLSETS.iter().map(|(name, _)| *name))
}

/// Whether `name` is a toolset preference.
pub fn is_toolset(name: &str) -> bool {
    toolset_names().any(|toolset| toolset == name)
}

/// An agent's model, as the `auto` toolset chooses by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentModel {
    /// `provider/model`.
    pub handle: String,
    /// The provider's type where the backend says it (a Letta server's
    /// `model_settings.provider_type`); none for OpenAI-compatible proxies,
    /// which serve other makers' models.
    pub provider_type: Option<String>,
}

/// The toolset a preference stands for: `auto` picks `codex` for OpenAI's
/// models, known by the provider's type or the handle's provider (as Letta
/// Code does), and `default` for every other or unknown model. An unknown
/// name is `default` too (callers check names with [`is_toolset`] where a
/// person typed them).
pub fn resolve_toolset(preference: &str, model: Option<&AgentModel>) -> &'static str {
    if let Some((name, _)) = TOOLSETS.iter().find(|(name, _)| *name == preference) {
        return name;
    }
    const OPENAI_PROVIDER_TYPES: &[&str] = &["openai", "openai-codex", "chatgpt_oauth"];
    const OPENAI_PROVIDERS: &[&str] = &[
        "openai/",
        "openai-codex/",
        "chatgpt-plus-pro/",
        "chatgpt_oauth/",
    ];
    let openai = model.is_some_and(|model| {
        model
            .provider_type
            .as_deref()
            .is_some_and(|kind| OPENAI_PROVIDER_TYPES.contains(&kind))
            || OPENAI_PROVIDERS
                .iter()
                .any(|prefix| model.handle.starts_with(prefix))
    });
    if openai { "codex" } else { "default" }
}

/// The built-in tools a turn offers: those of its toolset (the turn's
/// `base`, else the runtime's `preference`) that the daemon serves, plus
/// what `include` names.
pub fn offered(
    toolset: Option<&ClientToolset>,
    preference: &str,
    model: Option<&AgentModel>,
) -> Vec<&'static BuiltinTool> {
    let base = toolset
        .and_then(|toolset| toolset.base.as_deref())
        .unwrap_or(preference);
    let base = resolve_toolset(base, model);
    let include = toolset
        .and_then(|toolset| toolset.include.as_deref())
        .unwrap_or_default();
    let names = TOOLSETS
        .iter()
        .find(|(name, _)| *name == base)
        .map_or(&[][..], |(_, tools)| *tools);
    let mut tools: Vec<&'static BuiltinTool> =
        names.iter().filter_map(|name| builtin(name)).collect();
    for name in include {
        if let Some(tool) = builtin(name)
            && !tools.iter().any(|offered| offered.name == tool.name)
        {
            tools.push(tool);
        }
    }
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tools: &[&BuiltinTool]) -> Vec<&'static str> {
        tools.iter().map(|tool| tool.name).collect()
    }

    fn toolset(base: &str, include: &[&str]) -> ClientToolset {
        ClientToolset {
            base: Some(base.into()),
            include: Some(include.iter().map(|name| (*name).to_owned()).collect()),
        }
    }

    /// The served tools of a toolset, in its order (what each toolset
    /// holds is checked against Letta Code's below).
    fn served(toolset: &str) -> Vec<&'static str> {
        let (_, tools) = TOOLSETS.iter().find(|(name, _)| *name == toolset).unwrap();
        tools
            .iter()
            .copied()
            .filter(|tool| builtin(tool).is_some())
            .collect()
    }

    #[test]
    fn toolsets_choose_the_offered_tools() {
        assert_eq!(names(&offered(None, "default", None)), served("default"));
        assert!(served("default").contains(&"Bash") && served("default").contains(&"Agent"));
        assert_eq!(
            names(&offered(Some(&toolset("none", &["Grep"])), "default", None)),
            ["Grep"]
        );
        let more = toolset("default", &["Glob", "LS", "Read", "NoSuchTool"]);
        let mut expected = served("default");
        expected.extend(["Glob", "LS"]);
        assert_eq!(
            names(&offered(Some(&more), "codex", None)),
            expected,
            "the turn's base wins over the runtime's preference; included tools come once"
        );
    }

    fn handle(handle: &str) -> AgentModel {
        AgentModel {
            handle: handle.to_owned(),
            provider_type: None,
        }
    }

    #[test]
    fn auto_picks_by_model() {
        assert_eq!(
            resolve_toolset("auto", Some(&handle("openai/gpt-5"))),
            "codex"
        );
        assert_eq!(
            resolve_toolset("auto", Some(&handle("chatgpt-plus-pro/gpt-5"))),
            "codex"
        );
        assert_eq!(
            resolve_toolset("auto", Some(&handle("anthropic/claude-sonnet-4"))),
            "default"
        );
        assert_eq!(
            resolve_toolset("auto", Some(&handle("openrouter/openai/gpt-5"))),
            "default"
        );
        assert_eq!(resolve_toolset("auto", None), "default");
        assert_eq!(
            resolve_toolset("letta", Some(&handle("openai/gpt-5"))),
            "letta"
        );
    }

    #[test]
    fn auto_picks_by_the_providers_type_where_the_backend_says_it() {
        let model = |handle: &str, provider_type: Option<&str>| AgentModel {
            handle: handle.to_owned(),
            provider_type: provider_type.map(str::to_owned),
        };
        // An OpenAI provider under a name of its own (bring-your-own-key).
        let custom = model("my-openai/gpt-5", Some("openai"));
        assert_eq!(resolve_toolset("auto", Some(&custom)), "codex");
        let claude = model("work/claude", Some("anthropic"));
        assert_eq!(resolve_toolset("auto", Some(&claude)), "default");
        let by_handle = model("openai/gpt-5", None);
        assert_eq!(resolve_toolset("auto", Some(&by_handle)), "codex");
        assert!(is_toolset("auto") && is_toolset("none") && !is_toolset("gemini"));
    }

    /// The reference's schema without its wording: names, types, enums,
    /// defaults and required fields are what the model relies on.
    fn shape(schema: &Value) -> Value {
        match schema {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .filter(|(key, _)| *key != "description" && *key != "$schema")
                    .map(|(key, value)| {
                        let value = match (key.as_str(), value) {
                            ("properties", Value::Object(properties)) => Value::Object(
                                properties
                                    .iter()
                                    .map(|(name, schema)| (name.clone(), shape(schema)))
                                    .collect(),
                            ),
                            _ => shape(value),
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
            other => other.clone(),
        }
    }

    /// Arguments we offer beyond Letta Code's.
    const OUR_ARGUMENTS: &[(&str, &str)] = &[
        // Letta Code's subagents always work in the background.
        ("Agent", "run_in_background"),
    ];

    #[test]
    fn toolsets_and_schemas_match_letta_code() {
        let reference: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/letta-code-tools.json"
        ))
        .unwrap();
        let toolsets = reference["toolsets"].as_object().unwrap();
        assert_eq!(toolsets.len(), TOOLSETS.len());
        for (name, tools) in TOOLSETS {
            let expected: Vec<&str> = toolsets[*name]
                .as_array()
                .unwrap()
                .iter()
                .map(|tool| tool.as_str().unwrap())
                .collect();
            assert_eq!(*tools, expected.as_slice(), "toolset {name}");
            let served: Vec<&str> = expected
                .into_iter()
                .filter(|tool| builtin(tool).is_some())
                .collect();
            assert_eq!(
                names(&offered(None, name, None)),
                served,
                "offered by {name}"
            );
        }
        for tool in BUILTIN {
            let expected = &reference["schemas"][tool.name];
            assert!(
                !expected.is_null(),
                "{} is not a Letta Code tool",
                tool.name
            );
            let mut ours = (tool.parameters)();
            for (name, argument) in OUR_ARGUMENTS {
                if *name == tool.name {
                    let removed = ours["properties"]
                        .as_object_mut()
                        .unwrap()
                        .remove(*argument);
                    assert!(removed.is_some(), "{name} has no {argument}");
                }
            }
            assert_eq!(shape(&ours), *expected, "arguments of {}", tool.name);
        }
    }

    #[test]
    fn every_schema_requires_declared_properties() {
        for tool in BUILTIN {
            let schema = (tool.parameters)();
            for required in schema["required"].as_array().into_iter().flatten() {
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
