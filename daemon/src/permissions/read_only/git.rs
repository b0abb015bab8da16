//! `git` subcommands that only read, with the options vetted for each.
//!
//! No global option is accepted but `--no-pager`/`-P` and
//! `--no-optional-locks`: `-c`, `--config-env`, `--exec-path`, `--git-dir`,
//! `--work-tree`, `-C` and `-p`/`--paginate` can all make git run another
//! program or look elsewhere. Left out of every subcommand: `--output`
//! (writes a file), `--ext-diff` and `--textconv` (run configured
//! programs), `--open-files-in-pager`.

use std::path::Path;

use super::options::{Takes, parse};
use super::stays_inside;
use Takes::{Attached, Nothing, Path as File, Value};

pub fn read_only(args: &[String], cwd: &Path) -> bool {
    let mut rest = args;
    while let [first, tail @ ..] = rest
        && matches!(first.as_str(), "--no-pager" | "-P" | "--no-optional-locks")
    {
        rest = tail;
    }
    let Some((subcommand, args)) = rest.split_first() else {
        return false;
    };
    let history = matches!(subcommand.as_str(), "diff" | "log" | "show");
    let (options, operands_allowed): (&[(&str, Takes)], bool) = match subcommand.as_str() {
        "status" => (STATUS, true),
        _ if history => (HISTORY, true),
        "blame" => (BLAME, true),
        "ls-files" => (LS_FILES, true),
        "rev-parse" => (REV_PARSE, true),
        // Listing only: a name would create a branch.
        "branch" => (BRANCH, false),
        "remote" => (&[("-v", Nothing), ("--verbose", Nothing)], false),
        _ => return false,
    };
    // `git log -5` is a count.
    let Some(parsed) = parse(args, options, history) else {
        return false;
    };
    (operands_allowed || parsed.operands.is_empty())
        && parsed
            .operands
            .iter()
            .chain(&parsed.paths)
            .all(|path| stays_inside(path, cwd))
}

#[rustfmt::skip]
const STATUS: &[(&str, Takes)] = &[
    ("-s", Nothing), ("-b", Nothing), ("-u", Attached), ("-z", Nothing), ("-v", Nothing),
    ("--short", Nothing), ("--branch", Nothing), ("--porcelain", Attached), ("--long", Nothing),
    ("--untracked-files", Attached), ("--ignored", Attached), ("--column", Attached),
    ("--no-column", Nothing), ("--ahead-behind", Nothing), ("--no-ahead-behind", Nothing),
    ("--renames", Nothing), ("--no-renames", Nothing), ("--show-stash", Nothing),
    ("--verbose", Nothing), ("--ignore-submodules", Attached),
];

/// `diff`, `log` and `show`.
#[rustfmt::skip]
const HISTORY: &[(&str, Takes)] = &[
    ("-p", Nothing), ("-u", Nothing), ("-U", Attached), ("-s", Nothing), ("-w", Nothing),
    ("-b", Nothing), ("-n", Value), ("-M", Attached), ("-z", Nothing), ("-S", Value),
    ("-G", Value), ("-R", Nothing),
    ("--patch", Nothing), ("--no-patch", Nothing), ("--unified", Value), ("--stat", Attached),
    ("--numstat", Nothing), ("--shortstat", Nothing), ("--dirstat", Attached),
    ("--summary", Nothing), ("--name-only", Nothing), ("--name-status", Nothing),
    ("--raw", Nothing), ("--cached", Nothing), ("--staged", Nothing), ("--merge-base", Nothing),
    ("--no-index", Nothing), ("--color", Attached), ("--no-color", Nothing),
    ("--color-words", Attached), ("--word-diff", Attached), ("--ignore-all-space", Nothing),
    ("--ignore-space-change", Nothing), ("--ignore-blank-lines", Nothing),
    ("--ignore-cr-at-eol", Nothing), ("--check", Nothing), ("--exit-code", Nothing),
    ("--quiet", Nothing), ("--no-ext-diff", Nothing), ("--no-textconv", Nothing),
    ("--full-index", Nothing), ("--binary", Nothing), ("--abbrev", Attached),
    ("--find-renames", Attached), ("--diff-filter", Value), ("--relative", Attached),
    ("--oneline", Nothing), ("--pretty", Attached), ("--format", Value),
    ("--abbrev-commit", Nothing), ("--no-abbrev-commit", Nothing), ("--decorate", Attached),
    ("--no-decorate", Nothing), ("--graph", Nothing), ("--all", Nothing),
    ("--branches", Attached), ("--tags", Attached), ("--remotes", Attached),
    ("--max-count", Value), ("--skip", Value), ("--since", Value), ("--after", Value),
    ("--until", Value), ("--before", Value), ("--author", Value), ("--committer", Value),
    ("--grep", Value), ("--all-match", Nothing), ("--invert-grep", Nothing),
    ("--regexp-ignore-case", Nothing), ("--merges", Nothing), ("--no-merges", Nothing),
    ("--first-parent", Nothing), ("--reverse", Nothing), ("--follow", Nothing),
    ("--date", Value), ("--relative-date", Nothing), ("--topo-order", Nothing),
    ("--date-order", Nothing), ("--left-right", Nothing), ("--cherry-pick", Nothing),
    ("--full-diff", Nothing), ("--source", Nothing), ("--show-signature", Nothing),
    ("--boundary", Nothing), ("--ancestry-path", Nothing), ("--simplify-by-decoration", Nothing),
    ("--encoding", Value), ("--notes", Attached), ("--no-notes", Nothing),
    ("--mailmap", Nothing), ("--use-mailmap", Nothing), ("--patch-with-stat", Nothing),
    ("--minimal", Nothing), ("--histogram", Nothing), ("--patience", Nothing),
    ("--diff-algorithm", Value), ("--ignore-submodules", Attached), ("--submodule", Attached),
    ("--src-prefix", Value), ("--dst-prefix", Value), ("--no-prefix", Nothing),
    ("--function-context", Nothing), ("--text", Nothing), ("--expand-tabs", Attached),
];

#[rustfmt::skip]
const BLAME: &[(&str, Takes)] = &[
    ("-L", Value), ("-b", Nothing), ("-c", Nothing), ("-e", Nothing), ("-f", Nothing),
    ("-l", Nothing), ("-n", Nothing), ("-p", Nothing), ("-s", Nothing), ("-t", Nothing),
    ("-w", Nothing), ("-M", Attached), ("-C", Attached),
    ("--porcelain", Nothing), ("--line-porcelain", Nothing), ("--incremental", Nothing),
    ("--show-email", Nothing), ("--show-name", Nothing), ("--show-number", Nothing),
    ("--root", Nothing), ("--reverse", Nothing), ("--first-parent", Nothing),
    ("--date", Value), ("--abbrev", Attached), ("--contents", File),
    ("--ignore-rev", Value), ("--color-lines", Nothing), ("--color-by-age", Nothing),
];

#[rustfmt::skip]
const LS_FILES: &[(&str, Takes)] = &[
    ("-c", Nothing), ("-d", Nothing), ("-m", Nothing), ("-o", Nothing), ("-i", Nothing),
    ("-s", Nothing), ("-u", Nothing), ("-k", Nothing), ("-z", Nothing), ("-t", Nothing),
    ("-v", Nothing), ("-f", Nothing), ("-x", Value),
    ("--cached", Nothing), ("--deleted", Nothing), ("--modified", Nothing),
    ("--others", Nothing), ("--ignored", Nothing), ("--stage", Nothing),
    ("--directory", Nothing), ("--no-empty-directory", Nothing), ("--unmerged", Nothing),
    ("--killed", Nothing), ("--exclude", Value), ("--exclude-from", File),
    ("--exclude-per-directory", Value), ("--exclude-standard", Nothing),
    ("--error-unmatch", Nothing), ("--full-name", Nothing), ("--recurse-submodules", Nothing),
    ("--abbrev", Attached), ("--debug", Nothing), ("--eol", Nothing), ("--deduplicate", Nothing),
    ("--format", Value),
];

#[rustfmt::skip]
const REV_PARSE: &[(&str, Takes)] = &[
    ("-q", Nothing),
    ("--show-toplevel", Nothing), ("--show-prefix", Nothing), ("--show-cdup", Nothing),
    ("--git-dir", Nothing), ("--absolute-git-dir", Nothing), ("--git-common-dir", Nothing),
    ("--is-inside-work-tree", Nothing), ("--is-inside-git-dir", Nothing),
    ("--is-bare-repository", Nothing), ("--is-shallow-repository", Nothing),
    ("--abbrev-ref", Attached), ("--short", Attached), ("--verify", Nothing),
    ("--quiet", Nothing), ("--symbolic", Nothing), ("--symbolic-full-name", Nothing),
    ("--show-superproject-working-tree", Nothing), ("--default", Value),
];

#[rustfmt::skip]
const BRANCH: &[(&str, Takes)] = &[
    ("-a", Nothing), ("-r", Nothing), ("-v", Nothing), ("-l", Nothing),
    ("--all", Nothing), ("--remotes", Nothing), ("--verbose", Nothing), ("--list", Nothing),
    ("--show-current", Nothing), ("--merged", Attached), ("--no-merged", Attached),
    ("--contains", Attached), ("--no-contains", Attached), ("--sort", Value),
    ("--format", Value), ("--color", Attached), ("--no-color", Nothing), ("--column", Attached),
    ("--no-column", Nothing), ("--points-at", Value),
];
