//! May this tool call run? Allow, deny, or ask the human.
//!
//! The order, first match wins:
//!
//! 1. a `deny` rule matching any part of the call: **deny**, in every mode;
//! 2. a settings file that cannot be read or parsed (its rules might have
//!    denied or asked), or an `ask` rule matching any part: **ask**;
//! 3. mode `unrestricted`: allow; mode `acceptEdits`: allow file edits
//!    inside the working directory, except to `.letta/` and `.git/`;
//! 4. `allow` rules (session, then settings files) covering every part of
//!    the call (every simple command of a Bash line, every path): allow;
//! 5. except in `strict` mode, tools that only read, and Bash lines whose
//!    every command only reads ([`read_only`]), inside the working
//!    directory: allow;
//! 6. otherwise: **ask**, with suggestions of rules that would allow it.
//!
//! Paths are compared canonically ([`paths`]); Bash lines are split by a
//! real parser ([`shell`]).

pub mod paths;
pub mod preview;
mod read_only;
#[cfg(feature = "fuzzing")]
pub use read_only::all_read_only;
pub mod rules;
pub mod settings;
pub mod shell;

use std::path::{Path, PathBuf};

use letta_protocol::PermissionMode;
use serde_json::{Map, Value};

use crate::tools::{Effect, Patch};
use rules::{Rule, Subject, family};
use settings::{RuleSet, Source};

/// A tool call to decide on.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub tool: &'a str,
    pub input: &'a Map<String, Value>,
    pub effect: Effect,
}

/// What applies to a decision.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mode: PermissionMode,
    /// Canonical working directory.
    pub cwd: PathBuf,
    pub rules: RuleSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow {
        reason: String,
    },
    Deny {
        reason: String,
    },
    Ask {
        reason: String,
        /// The first path outside the working directory, if that is why.
        blocked_path: Option<PathBuf>,
        suggestions: Vec<Suggestion>,
    },
}

/// Rules the human may save instead of answering once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Suggestion {
    pub id: String,
    pub text: String,
    /// Where the rules go: `session` or `project`.
    pub scope: SuggestionScope,
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionScope {
    Session,
    Project,
}

impl Policy {
    /// Files denied to the read tools, for searches to leave out: a search
    /// of a directory must not show what reading the file would not.
    pub fn hidden_from_reads(&self) -> globset::GlobSet {
        let mut hidden = globset::GlobSetBuilder::new();
        for (rule, _) in &self.rules.deny {
            if let Some(pattern) = rule.read_glob(&self.cwd)
                && let Ok(glob) = globset::GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .build()
            {
                hidden.add(glob);
            }
        }
        hidden.build().unwrap_or_else(|_| globset::GlobSet::empty())
    }

    pub fn decide(&self, call: Call<'_>) -> Verdict {
        let subject = subject(call, &self.cwd);
        let cwd = self.cwd.as_path();
        if let Some((rule, source)) = any_part(&self.rules.deny, call.tool, &subject, cwd) {
            return Verdict::Deny {
                reason: format!("{rule} is denied by {}", source.describe()),
            };
        }
        if call.effect == Effect::Conversation {
            return Verdict::Allow {
                reason: "changes only the conversation's own state".to_owned(),
            };
        }
        let outside = first_outside(&subject, cwd);
        if let Some(broken) = self.rules.broken.first() {
            return Verdict::Ask {
                reason: format!("{broken}; every tool call asks until it is fixed"),
                blocked_path: outside,
                suggestions: Vec::new(),
            };
        }
        if let Some((rule, source)) = any_part(&self.rules.ask, call.tool, &subject, cwd) {
            return Verdict::Ask {
                reason: format!("{rule} asks, in {}", source.describe()),
                blocked_path: outside,
                suggestions: Vec::new(),
            };
        }
        let allow = |reason: &str| Verdict::Allow {
            reason: reason.to_owned(),
        };
        match self.mode {
            PermissionMode::Unrestricted => return allow("unrestricted mode"),
            PermissionMode::AcceptEdits
                if call.effect == Effect::Edit
                    && inside(&subject, &outside)
                    && !touches_control_files(&subject, cwd) =>
            {
                return allow("acceptEdits mode, inside the working directory");
            }
            _ => {}
        }
        if let Some(source) = every_part(&self.rules.allow, call.tool, &subject, cwd) {
            return Verdict::Allow {
                reason: format!("allowed by {}", source.describe()),
            };
        }
        if self.mode != PermissionMode::Strict {
            if call.effect == Effect::ReadOnly && inside(&subject, &outside) {
                return allow("reads inside the working directory");
            }
            if call.effect == Effect::Navigate && inside(&subject, &outside) {
                return allow("moves within the working directory");
            }
            // The server says the tool only reads; it touches no path
            // rules could confine.
            if call.effect == Effect::ReadOnly && call.tool.starts_with("mcp__") {
                return allow("marked read-only by its MCP server");
            }
            // Reads only the skill folders, which exist to be loaded.
            if call.tool == "Skill" {
                return allow("loads a skill's instructions");
            }
            if let Subject::Command(Ok(commands)) = &subject
                && runs_inside(call, cwd)
                && read_only::all_read_only(commands, cwd)
            {
                return allow("a read-only command inside the working directory");
            }
        }
        Verdict::Ask {
            reason: match &outside {
                Some(path) => format!("{} is outside the working directory", path.display()),
                None => format!(
                    "{} needs approval in {} mode",
                    call.tool,
                    self.mode.as_str()
                ),
            },
            suggestions: suggestions(call.tool, &subject, outside.as_deref(), cwd),
            blocked_path: outside,
        }
    }
}

/// What rules look at for this call.
fn subject(call: Call<'_>, cwd: &Path) -> Subject {
    let text = |key: &str| call.input.get(key).and_then(Value::as_str);
    let path_of = |path: &str| paths::canonical(cwd, path);
    match call.tool {
        "Bash" | "exec_command" | "Monitor" => {
            let line = text("command").or(text("cmd")).unwrap_or_default();
            Subject::Command(shell::sub_commands(line).map_err(|_| line.to_owned()))
        }
        "Read" | "Write" | "Edit" => match text("file_path") {
            Some(path) => Subject::Paths(vec![path_of(path)]),
            None => Subject::Opaque,
        },
        "Glob" | "Grep" | "LS" => Subject::Paths(vec![path_of(text("path").unwrap_or("."))]),
        "ViewImage" => match text("path") {
            Some(path) => Subject::Paths(vec![path_of(path)]),
            None => Subject::Opaque,
        },
        // Creates or removes a worktree of the repository it names (or the
        // working directory's).
        "EnterWorktree" => Subject::Paths(vec![path_of(
            text("path").or(text("repo_path")).unwrap_or("."),
        )]),
        "ExitWorktree" => Subject::Paths(vec![path_of(".")]),
        "SetWorkingDirectory" => match text("path") {
            Some(path) => Subject::Paths(vec![path_of(path)]),
            None => Subject::Opaque,
        },
        "ApplyPatch" => match text("input").map(Patch::parse) {
            Some(Ok(patch)) => Subject::Paths(
                patch
                    .paths(cwd)
                    .iter()
                    .map(|path| paths::canonical_path(path))
                    .collect(),
            ),
            _ => Subject::Opaque,
        },
        _ => Subject::Opaque,
    }
}

/// Whether a command runs in the working directory or below it (an
/// `exec_command` may name another directory to run in).
fn runs_inside(call: Call<'_>, cwd: &Path) -> bool {
    match call.input.get("workdir").and_then(Value::as_str) {
        Some(dir) => paths::is_within(&paths::canonical(cwd, dir), cwd),
        None => true,
    }
}

fn first_outside(subject: &Subject, cwd: &Path) -> Option<PathBuf> {
    match subject {
        Subject::Paths(paths) => paths
            .iter()
            .find(|path| !paths::is_within(path, cwd))
            .cloned(),
        _ => None,
    }
}

/// Whether the call names paths and all of them are inside.
fn inside(subject: &Subject, outside: &Option<PathBuf>) -> bool {
    matches!(subject, Subject::Paths(paths) if !paths.is_empty()) && outside.is_none()
}

/// Whether the call edits `.letta/` (permission settings) or `.git/`
/// (configuration that makes read-only git commands run programs): such an
/// edit is never accepted without asking, or an agent in `acceptEdits` mode
/// could allow itself anything.
fn touches_control_files(subject: &Subject, cwd: &Path) -> bool {
    let Subject::Paths(paths) = subject else {
        return false;
    };
    paths.iter().any(|path| {
        path.strip_prefix(cwd).is_ok_and(|inner| {
            inner
                .components()
                .any(|part| part.as_os_str() == ".letta" || part.as_os_str() == ".git")
        })
    })
}

/// The first rule that matches any part of the call.
fn any_part<'r>(
    rules: &'r [(Rule, Source)],
    tool: &str,
    subject: &Subject,
    cwd: &Path,
) -> Option<&'r (Rule, Source)> {
    rules.iter().find(|(rule, _)| match subject {
        Subject::Command(Ok(commands)) => commands
            .iter()
            .any(|command| rule.matches_command(tool, command)),
        Subject::Command(Err(line)) => rule.matches_line(tool, line),
        Subject::Paths(paths) if !paths.is_empty() => {
            paths.iter().any(|path| rule.matches_path(tool, path, cwd))
        }
        _ => rule.matches_whole(tool),
    })
}

/// The source of the rules when every part of the call is allowed by one.
fn every_part(
    rules: &[(Rule, Source)],
    tool: &str,
    subject: &Subject,
    cwd: &Path,
) -> Option<Source> {
    let mut sources = Vec::new();
    let mut covered = |matches: &dyn Fn(&Rule) -> bool| {
        let found = rules.iter().find(|(rule, _)| matches(rule));
        if let Some((_, source)) = found {
            sources.push(*source);
        }
        found.is_some()
    };
    let all = match subject {
        Subject::Command(Ok(commands)) => commands
            .iter()
            .all(|command| covered(&|rule| rule.matches_command(tool, command))),
        Subject::Command(Err(line)) => covered(&|rule| rule.matches_line(tool, line)),
        Subject::Paths(paths) if !paths.is_empty() => paths
            .iter()
            .all(|path| covered(&|rule| rule.matches_path(tool, path, cwd))),
        _ => covered(&|rule| rule.matches_whole(tool)),
    };
    all.then(|| sources.first().copied()).flatten()
}

/// Rules that would have allowed this call, to save for the session or the
/// project.
fn suggestions(
    tool: &str,
    subject: &Subject,
    outside: Option<&Path>,
    cwd: &Path,
) -> Vec<Suggestion> {
    let rules: Vec<String> = match subject {
        Subject::Command(Ok(commands)) => {
            if commands.iter().any(|command| command.writes_file) {
                // No rule short of allowing all of Bash covers writing files.
                return Vec::new();
            }
            let mut rules: Vec<String> = Vec::new();
            for command in commands {
                let rule = format!("Bash({}:*)", command_prefix(&command.words));
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
            rules
        }
        Subject::Command(Err(line)) => vec![format!("Bash({})", line.trim())],
        Subject::Paths(_) => {
            let dir = match outside {
                Some(path) if path.is_dir() => path.to_path_buf(),
                Some(path) => path.parent().unwrap_or(path).to_path_buf(),
                None => cwd.to_path_buf(),
            };
            vec![format!("{}(/{}/**)", family(tool), dir.display())]
        }
        Subject::Opaque => vec![tool.to_owned()],
    };
    let listed = rules.join(", ");
    vec![
        Suggestion {
            id: "session".to_owned(),
            text: format!("Yes, and allow {listed} for the rest of this session"),
            scope: SuggestionScope::Session,
            rules: rules.clone(),
        },
        Suggestion {
            id: "project".to_owned(),
            text: format!(
                "Yes, and always allow {listed} in this project (saved to {})",
                Source::ProjectLocal.describe()
            ),
            scope: SuggestionScope::Project,
            rules,
        },
    ]
}

/// The command and, when it has one, its subcommand (`git commit`,
/// `npm run`), for a prefix rule.
fn command_prefix(words: &[String]) -> String {
    match words {
        [name, sub, ..]
            if sub
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == ':')
                && !sub.starts_with('-') =>
        {
            format!("{name} {sub}")
        }
        [name, ..] => name.clone(),
        [] => words.join(" "),
    }
}

#[cfg(test)]
mod tests;
