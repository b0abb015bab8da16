//! Permission rules: `*`, `Tool`, `Tool(payload)`.
//!
//! * `Bash(npm test)` matches that command exactly; `Bash(npm run:*)`
//!   matches it followed by nothing or by more words.
//! * File tools take globs: `Read(src/**)` (relative to the working
//!   directory), `Edit(//abs/path/**)` or `Edit(/abs/path/**)`, `Read(~/notes/*)`.
//!   A `Read` rule covers the tools that only read (Read, Glob, Grep, LS);
//!   an `Edit` rule covers the tools that change files (Edit, Write,
//!   ApplyPatch).
//! * Any other tool matches by name only.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use globset::GlobBuilder;

use super::shell::SubCommand;
use crate::tools::{home_dir, normalize};

/// One rule as written in a settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    tool: String,
    payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission rule {rule:?}: {reason}")]
pub struct RuleError {
    pub rule: String,
    pub reason: &'static str,
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Rule, RuleError> {
        let text = text.trim();
        let fail = |reason| RuleError {
            rule: text.to_owned(),
            reason,
        };
        let (tool, payload) = match text.split_once('(') {
            Some((tool, rest)) => {
                let payload = rest
                    .strip_suffix(')')
                    .ok_or_else(|| fail("a payload must end with )"))?;
                (tool.trim(), Some(payload.trim()))
            }
            None => (text, None),
        };
        if tool.is_empty() {
            return Err(fail("the tool name is missing"));
        }
        if !tool
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' || ch == '*')
        {
            return Err(fail("a tool name has letters, digits, _ and - only"));
        }
        Ok(Rule {
            tool: tool.to_owned(),
            payload: payload
                .filter(|payload| !payload.is_empty() && *payload != "*")
                .map(str::to_owned),
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            Some(payload) => write!(f, "{}({payload})", self.tool),
            None => f.write_str(&self.tool),
        }
    }
}

/// What a tool call touches, as rules see it.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A Bash command line: its simple commands, or `Err` with the whole
    /// line when it cannot be split.
    Command(Result<Vec<SubCommand>, String>),
    /// File paths, canonical.
    Paths(Vec<PathBuf>),
    /// Nothing rules can look into.
    Opaque,
}

/// The rule family a tool belongs to.
pub fn family(tool: &str) -> &str {
    match tool {
        "Glob" | "Grep" | "LS" | "ViewImage" => "Read",
        "Write" | "ApplyPatch" => "Edit",
        "exec_command" | "write_stdin" | "Monitor" => "Bash",
        other => other,
    }
}

impl Rule {
    pub fn new(tool: &str, payload: Option<String>) -> Rule {
        Rule {
            tool: tool.to_owned(),
            payload,
        }
    }

    fn names(&self, tool: &str) -> bool {
        self.tool == "*"
            || self.tool == tool
            || self.tool == family(tool)
            || self.names_server_of(tool)
    }

    /// `mcp__server` and `mcp__server__*` name every tool of that MCP
    /// server.
    fn names_server_of(&self, tool: &str) -> bool {
        let server = self.tool.strip_suffix("__*").unwrap_or(&self.tool);
        server.starts_with("mcp__")
            && !server["mcp__".len()..].contains("__")
            && tool
                .strip_prefix(server)
                .is_some_and(|rest| rest.starts_with("__"))
    }

    /// Whether the rule covers all of the call (no payload), or this one
    /// part of it: a simple command, or a path.
    pub fn matches_whole(&self, tool: &str) -> bool {
        self.names(tool) && self.payload.is_none()
    }

    pub fn matches_command(&self, tool: &str, command: &SubCommand) -> bool {
        if !self.names(tool) {
            return false;
        }
        let Some(pattern) = &self.payload else {
            return true;
        };
        let pattern = pattern.split_whitespace().collect::<Vec<_>>().join(" ");
        if command.writes_file {
            // Only a rule for all of Bash allows writing files by redirection.
            return false;
        }
        match pattern.strip_suffix(":*") {
            Some(prefix) => {
                let prefix = prefix.trim_end();
                command.text == prefix
                    || command
                        .text
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with(' '))
            }
            None => command.text == pattern,
        }
    }

    /// The unsplittable command line, matched whole.
    pub fn matches_line(&self, tool: &str, line: &str) -> bool {
        self.names(tool)
            && self
                .payload
                .as_deref()
                .is_none_or(|pattern| pattern == line.trim())
    }

    pub fn matches_path(&self, tool: &str, path: &Path, cwd: &Path) -> bool {
        if !self.names(tool) {
            return false;
        }
        let Some(pattern) = &self.payload else {
            return true;
        };
        let anchored = anchor(pattern, cwd);
        let Ok(glob) = GlobBuilder::new(&anchored).literal_separator(true).build() else {
            return false;
        };
        let glob = glob.compile_matcher();
        // A directory a search starts from matches what matches its entries.
        glob.is_match(path) || (path.is_dir() && glob.is_match(path.join("entry")))
    }
}

impl Rule {
    /// For a rule that names files to read, its glob as an absolute
    /// pattern: searches leave such files out.
    pub fn read_glob(&self, cwd: &Path) -> Option<String> {
        let payload = self.payload.as_deref()?;
        (self.tool == "Read" || self.tool == "*").then(|| anchor(payload, cwd))
    }
}

/// A file rule's glob as an absolute pattern.
fn anchor(pattern: &str, cwd: &Path) -> String {
    if let Some(absolute) = pattern.strip_prefix("//") {
        return format!("/{absolute}");
    }
    if pattern.starts_with('/') {
        return pattern.to_owned();
    }
    if let Some(rest) = pattern.strip_prefix("~/") {
        return format!("{}/{rest}", home_dir().display());
    }
    let relative = pattern.strip_prefix("./").unwrap_or(pattern);
    format!("{}/{relative}", normalize(cwd).display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::shell::sub_commands;

    fn rule(text: &str) -> Rule {
        text.parse().unwrap()
    }

    fn one(line: &str) -> SubCommand {
        sub_commands(line).unwrap().remove(0)
    }

    #[test]
    fn grammar() {
        assert_eq!(rule("Bash").to_string(), "Bash");
        assert_eq!(
            rule("Bash(npm run test:*)").to_string(),
            "Bash(npm run test:*)"
        );
        assert_eq!(rule("Read(*)").to_string(), "Read");
        assert_eq!(rule("*").to_string(), "*");
        assert!("Bash(unclosed".parse::<Rule>().is_err());
        assert!("(x)".parse::<Rule>().is_err());
        assert!("Bad Name".parse::<Rule>().is_err());
    }

    #[test]
    fn bash_exact_and_prefix() {
        let prefix = rule("Bash(npm run test:*)");
        assert!(prefix.matches_command("Bash", &one("npm run test")));
        assert!(prefix.matches_command("Bash", &one("npm run test --watch")));
        assert!(!prefix.matches_command("Bash", &one("npm run testing")));
        assert!(!prefix.matches_command("Bash", &one("npm run lint")));
        assert!(!prefix.matches_command("Bash", &one("npm run test > out.txt")));
        let exact = rule("Bash(git status)");
        assert!(exact.matches_command("Bash", &one("git  status")));
        assert!(!exact.matches_command("Bash", &one("git status -s")));
        assert!(!rule("Read").matches_command("Bash", &one("ls")));
        assert!(rule("*").matches_command("Bash", &one("anything")));
    }

    #[test]
    fn file_globs_and_families() {
        let cwd = Path::new("/work/project");
        let src = rule("Read(src/**)");
        assert!(src.matches_path("Read", Path::new("/work/project/src/a/b.rs"), cwd));
        assert!(src.matches_path("Grep", Path::new("/work/project/src/x"), cwd));
        assert!(!src.matches_path("Read", Path::new("/work/project/docs/x"), cwd));
        assert!(!src.matches_path("Edit", Path::new("/work/project/src/x"), cwd));
        let star = rule("Edit(src/*.rs)");
        assert!(star.matches_path("Write", Path::new("/work/project/src/x.rs"), cwd));
        assert!(!star.matches_path("Write", Path::new("/work/project/src/a/x.rs"), cwd));
        let absolute = rule("Read(//etc/**)");
        assert!(absolute.matches_path("Read", Path::new("/etc/hosts"), cwd));
        let home = rule("Read(~/notes/**)");
        assert!(home.matches_path("LS", &home_dir().join("notes/today"), cwd));
    }
}
