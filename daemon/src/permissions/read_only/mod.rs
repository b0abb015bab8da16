//! Shell commands that only look: they run without asking outside `strict`
//! mode when every file they touch is inside the working directory.
//!
//! A command is judged by its program **and** its arguments. Each program
//! on the list ([`programs`]) comes with the options known to only read;
//! any other option — one that runs another program (`rg --pre`, `find
//! -exec`, `git -c`), writes a file (`sort -o`, `tree -o`), or that we have
//! simply not vetted — makes the command ask. An allow-list errs on the side
//! of asking: a new or unusual option costs one approval, never a hole.
//! Operands and option values that name files are resolved (`..`,
//! symlinks) and must stay inside the working directory, and so must files
//! fed in with `<` and what a glob in them matches. Options that make a
//! program follow symlinks while it walks a tree (`ls -L`, `find -L`,
//! `rg --follow`, `tree -l`, `du -L`, `diff -r`) are left out, so a walk
//! never leaves the directory through a link.

mod find;
mod git;
mod options;
mod programs;

use std::path::Path;

use super::paths::{canonical, is_within};
use super::shell::SubCommand;

/// Whether every command only reads, inside `cwd`.
pub fn all_read_only(commands: &[SubCommand], cwd: &Path) -> bool {
    commands.iter().all(|command| {
        !command.writes_file
            && command
                .reads_from
                .iter()
                .all(|path| stays_inside(path, cwd))
            && words_read_only(&command.words, cwd)
    })
}

/// Whether a program with its arguments only reads, inside `cwd`.
fn words_read_only(words: &[String], cwd: &Path) -> bool {
    // Anything the shell still expands (`$VAR`, `$(…)`, backticks, `{a,b}`)
    // is unknown until it runs.
    if words.iter().any(|word| word.contains(['$', '`', '{'])) {
        return false;
    }
    // Wrappers are peeled in a loop: `time time … ls` cannot recurse deep.
    let mut words = words;
    loop {
        let Some((program, args)) = words.split_first() else {
            return false;
        };
        return match program.as_str() {
            "find" => find::read_only(args, cwd),
            "git" => git::read_only(args, cwd),
            // `command -v NAME` only looks names up.
            "command"
                if args
                    .first()
                    .is_some_and(|flag| flag == "-v" || flag == "-V") =>
            {
                true
            }
            "command" | "nice" | "time" | "timeout" => match wrapped(program, args) {
                Some(inner) => {
                    words = inner;
                    continue;
                }
                None => false,
            },
            name => programs::find(name).is_some_and(|program| program.read_only(args, cwd)),
        };
    }
}

/// The command a wrapper runs, when the wrapper's own options are known.
fn wrapped<'a>(wrapper: &str, args: &'a [String]) -> Option<&'a [String]> {
    let inner = match (wrapper, args) {
        ("time", [first, ..]) if first == "-p" => &args[1..],
        ("time", _) => args,
        ("command", _) => args,
        ("nice", [flag, _, rest @ ..]) if flag == "-n" => rest,
        ("nice", _) => args,
        ("timeout", _) => timeout_command(args)?,
        _ => return None,
    };
    (!inner.is_empty()).then_some(inner)
}

/// What `timeout [-s SIG] [-k DUR] [--preserve-status] [--foreground] DUR CMD…` runs.
fn timeout_command(args: &[String]) -> Option<&[String]> {
    let mut rest = args;
    loop {
        match rest {
            [flag, _, tail @ ..] if flag == "-s" || flag == "-k" => rest = tail,
            [flag, tail @ ..] if flag == "--preserve-status" || flag == "--foreground" => {
                rest = tail;
            }
            [flag, tail @ ..]
                if flag.starts_with("--signal=") || flag.starts_with("--kill-after=") =>
            {
                rest = tail;
            }
            [duration, command @ ..] if !duration.starts_with('-') => return Some(command),
            _ => return None,
        }
    }
}

/// Whether a file argument resolves inside `cwd`. `-` (standard input) is.
/// `~user` forms are not judged. A glob may only stand in the last
/// component, and every entry it matches must resolve inside too: `src/*`
/// could match a symlink to `/etc`.
fn stays_inside(path: &str, cwd: &Path) -> bool {
    if path == "-" {
        return true;
    }
    if path.starts_with('~') && path != "~" && !path.starts_with("~/") {
        return false;
    }
    let is_glob = |part: &str| part.contains(['*', '?', '[']);
    let trimmed = path.trim_end_matches('/');
    let (parents, last) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    if !is_glob(last) {
        return !is_glob(path) && is_within(&canonical(cwd, path), cwd);
    }
    if is_glob(parents) || last.starts_with('.') {
        // `*/x` could go through any entry; `.*` can match `..`.
        return false;
    }
    let dir = match (parents, path.starts_with('/')) {
        ("", true) => "/",
        ("", false) => ".",
        (parents, _) => parents,
    };
    let dir = canonical(cwd, dir);
    is_within(&dir, cwd) && glob_matches_stay_inside(&dir, last, cwd)
}

/// Whether every entry of `dir` that `pattern` matches resolves inside
/// `cwd`. A directory too large to look through is not judged.
fn glob_matches_stay_inside(dir: &Path, pattern: &str, cwd: &Path) -> bool {
    const MAX_ENTRIES: usize = 10_000;
    let Ok(glob) = globset::Glob::new(pattern).map(|glob| glob.compile_matcher()) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        // Nothing to match: the shell passes the pattern on as it is.
        return true;
    };
    let mut seen = 0;
    for entry in entries {
        seen += 1;
        let Ok(entry) = entry else {
            return false;
        };
        if seen > MAX_ENTRIES {
            return false;
        }
        let matches = glob.is_match(entry.file_name());
        if matches && !is_within(&super::paths::canonical_path(&entry.path()), cwd) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
