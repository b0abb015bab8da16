//! Shell commands that only look: run without asking outside `strict` mode,
//! as long as every path they name is inside the working directory.

use std::path::Path;

use super::paths::{canonical, is_within};
use super::shell::SubCommand;

/// Programs that read and print, whatever their arguments.
const LOOKERS: &[&str] = &[
    "basename", "cat", "cmp", "column", "cut", "date", "df", "diff", "dirname", "du", "echo",
    "egrep", "false", "fgrep", "file", "grep", "head", "hostname", "id", "ls", "nl", "printf",
    "pwd", "readlink", "realpath", "rg", "stat", "tail", "tr", "tree", "true", "uname", "uniq",
    "wc", "which", "whoami",
];

/// `git` subcommands that only read.
const GIT_READERS: &[&str] = &[
    "blame",
    "diff",
    "log",
    "ls-files",
    "rev-parse",
    "show",
    "status",
];

/// `find` options that run, delete or write.
const FIND_ACTIONS: &[&str] = &[
    "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls",
];

/// Whether every command only reads, inside `cwd`.
pub fn all_read_only(commands: &[SubCommand], cwd: &Path) -> bool {
    commands.iter().all(|command| read_only(command, cwd))
}

fn read_only(command: &SubCommand, cwd: &Path) -> bool {
    let Some((program, args)) = command.words.split_first() else {
        return false;
    };
    if command.writes_file
        || args
            .iter()
            .any(|arg| arg.contains('$') || arg.contains('`'))
    {
        return false;
    }
    let known = match program.as_str() {
        "find" => !args.iter().any(|arg| FIND_ACTIONS.contains(&arg.as_str())),
        "sort" => !args
            .iter()
            .any(|arg| arg.starts_with("-o") || arg.starts_with("--output")),
        "git" => {
            args.iter()
                .find(|arg| !arg.starts_with('-'))
                .is_some_and(|sub| GIT_READERS.contains(&sub.as_str()))
                && !args
                    .iter()
                    .any(|arg| arg.starts_with("--output") || arg == "-o")
        }
        other => LOOKERS.contains(&other),
    };
    known && args.iter().all(|arg| stays_inside(arg, cwd))
}

/// An argument that looks like a path must resolve inside `cwd`.
fn stays_inside(arg: &str, cwd: &Path) -> bool {
    let value = arg.split_once('=').map_or(arg, |(_, value)| value);
    let looks_like_path = value.starts_with('/') || value.starts_with('~') || value.contains("..");
    !looks_like_path || is_within(&canonical(cwd, value), cwd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::shell::sub_commands;

    fn check(line: &str, cwd: &Path) -> bool {
        all_read_only(&sub_commands(line).unwrap(), cwd)
    }

    #[test]
    fn looking_inside_the_project_is_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        assert!(check("ls -la && git status", &cwd));
        assert!(check("grep -rn foo src | head -5", &cwd));
        assert!(check("find . -name '*.rs'", &cwd));
        assert!(check(&format!("cat {}/x", cwd.display()), &cwd));
    }

    #[test]
    fn anything_else_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        for line in [
            "cat /etc/passwd",
            "cat ../secret",
            "ls ~",
            "echo hi > notes.txt",
            "find . -delete",
            "git push",
            "git commit -m x",
            "ls && rm -rf build",
            "sort -o out.txt in.txt",
            "cat $FILE",
            "FOO=1 ls",
            "npm test",
        ] {
            assert!(!check(line, &cwd), "{line}");
        }
    }
}
