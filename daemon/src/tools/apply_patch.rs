//! ApplyPatch: the Codex patch format, applied to every file or to none.
//!
//! ```text
//! *** Begin Patch
//! *** Add File: path        (lines prefixed with +)
//! *** Delete File: path
//! *** Update File: path
//! *** Move to: new/path     (optional)
//! @@ optional line to find first
//!  context
//! -removed
//! +added
//! *** End of File           (optional: the hunk ends the file)
//! *** End Patch
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::files::{read_file, write_atomically};
use super::{ToolContext, ToolOutput, resolve};

#[derive(Deserialize)]
pub struct ApplyPatchArgs {
    input: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("invalid patch, line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("cannot apply the patch to {path}: {message}")]
    Apply { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    operations: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operation {
    Add {
        path: String,
        content: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Hunk {
    anchor: Option<String>,
    old: Vec<String>,
    new: Vec<String>,
    at_end_of_file: bool,
}

/// What the patch does to one file: content before and after (`None`:
/// absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
}

pub fn run(args: ApplyPatchArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let patch = Patch::parse(&args.input).map_err(|err| err.to_string())?;
    let changes = patch.plan(&context.cwd).map_err(|err| err.to_string())?;
    commit(&changes)?;
    let mut summary = String::from("Applied the patch:\n");
    for change in &changes {
        let verb = match (&change.before, &change.after) {
            (None, Some(_)) => "A",
            (Some(_), None) => "D",
            _ => "M",
        };
        summary.push_str(&format!("{verb} {}\n", change.path.display()));
    }
    Ok(ToolOutput::ok(summary))
}

impl Patch {
    pub fn parse(input: &str) -> Result<Patch, PatchError> {
        let lines: Vec<&str> = input
            .trim()
            .lines()
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .collect();
        let syntax = |line: usize, message: &str| PatchError::Syntax {
            line: line + 1,
            message: message.to_owned(),
        };
        if lines.first().map(|line| line.trim()) != Some("*** Begin Patch") {
            return Err(syntax(0, "the patch must start with *** Begin Patch"));
        }
        if lines.last().map(|line| line.trim()) != Some("*** End Patch") || lines.len() < 2 {
            return Err(syntax(
                lines.len().saturating_sub(1),
                "the patch must end with *** End Patch",
            ));
        }
        let body = &lines[1..lines.len() - 1];
        let mut operations = Vec::new();
        let mut index = 0;
        while index < body.len() {
            let line = body[index];
            let at = index + 1;
            if let Some(path) = line.strip_prefix("*** Add File: ") {
                index += 1;
                let mut content = String::new();
                while index < body.len() && !body[index].starts_with("*** ") {
                    let added = body[index]
                        .strip_prefix('+')
                        .ok_or_else(|| syntax(index + 1, "lines of an added file start with +"))?;
                    content.push_str(added);
                    content.push('\n');
                    index += 1;
                }
                operations.push(Operation::Add {
                    path: path.trim().to_owned(),
                    content,
                });
            } else if let Some(path) = line.strip_prefix("*** Delete File: ") {
                operations.push(Operation::Delete {
                    path: path.trim().to_owned(),
                });
                index += 1;
            } else if let Some(path) = line.strip_prefix("*** Update File: ") {
                index += 1;
                let move_to = body
                    .get(index)
                    .and_then(|line| line.strip_prefix("*** Move to: "))
                    .map(|to| to.trim().to_owned());
                if move_to.is_some() {
                    index += 1;
                }
                let (hunks, next) = parse_hunks(body, index)
                    .map_err(|(line, message)| syntax(line + 1, &message))?;
                index = next;
                if hunks.is_empty() && move_to.is_none() {
                    return Err(syntax(at, "an Update File section needs at least one hunk"));
                }
                operations.push(Operation::Update {
                    path: path.trim().to_owned(),
                    move_to,
                    hunks,
                });
            } else if line.trim().is_empty() {
                index += 1;
            } else {
                return Err(syntax(
                    at,
                    &format!(
                        "expected *** Add File, *** Delete File or *** Update File, found {line:?}"
                    ),
                ));
            }
        }
        if operations.is_empty() {
            return Err(syntax(1, "the patch changes nothing"));
        }
        Ok(Patch { operations })
    }

    /// Every file the patch touches, as paths relative to `cwd` resolve.
    pub fn paths(&self, cwd: &Path) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for operation in &self.operations {
            match operation {
                Operation::Add { path, .. } | Operation::Delete { path } => {
                    paths.push(resolve(cwd, path));
                }
                Operation::Update { path, move_to, .. } => {
                    paths.push(resolve(cwd, path));
                    if let Some(to) = move_to {
                        paths.push(resolve(cwd, to));
                    }
                }
            }
        }
        paths
    }

    /// The content of every touched file before and after, or why the patch
    /// does not apply. Nothing is written.
    pub fn plan(&self, cwd: &Path) -> Result<Vec<FileChange>, PatchError> {
        let mut changes: Vec<FileChange> = Vec::new();
        for operation in &self.operations {
            match operation {
                Operation::Add { path, content } => {
                    let path = resolve(cwd, path);
                    let before = current(&changes, &path)?;
                    set(&mut changes, path, before, Some(content.clone()));
                }
                Operation::Delete { path } => {
                    let path = resolve(cwd, path);
                    let before = current(&changes, &path)?;
                    if before.is_none() {
                        return Err(apply_error(&path, "the file to delete does not exist"));
                    }
                    set(&mut changes, path, before, None);
                }
                Operation::Update {
                    path,
                    move_to,
                    hunks,
                } => {
                    let path = resolve(cwd, path);
                    let before = current(&changes, &path)?
                        .ok_or_else(|| apply_error(&path, "the file to update does not exist"))?;
                    let after = apply_hunks(&before, hunks)
                        .map_err(|message| apply_error(&path, &message))?;
                    match move_to {
                        Some(to) => {
                            let to = resolve(cwd, to);
                            let target_before = current(&changes, &to)?;
                            set(&mut changes, path, Some(before), None);
                            set(&mut changes, to, target_before, Some(after));
                        }
                        None => set(&mut changes, path, Some(before), Some(after)),
                    }
                }
            }
        }
        Ok(changes)
    }
}

fn apply_error(path: &Path, message: &str) -> PatchError {
    PatchError::Apply {
        path: path.display().to_string(),
        message: message.to_owned(),
    }
}

/// The content of `path` as earlier operations of the patch left it.
fn current(changes: &[FileChange], path: &Path) -> Result<Option<String>, PatchError> {
    if let Some(change) = changes.iter().find(|change| change.path == path) {
        return Ok(change.after.clone());
    }
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_file(path).map_err(|message| apply_error(path, &message))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| apply_error(path, "the file is not UTF-8 text"))
}

fn set(
    changes: &mut Vec<FileChange>,
    path: PathBuf,
    before: Option<String>,
    after: Option<String>,
) {
    match changes.iter_mut().find(|change| change.path == path) {
        Some(change) => change.after = after,
        None => changes.push(FileChange {
            path,
            before,
            after,
        }),
    }
}

type ParseFailure = (usize, String);

fn parse_hunks(body: &[&str], mut index: usize) -> Result<(Vec<Hunk>, usize), ParseFailure> {
    let mut hunks: Vec<Hunk> = Vec::new();
    while index < body.len() {
        let line = body[index];
        if line == "*** End of File" {
            match hunks.last_mut() {
                Some(hunk) => hunk.at_end_of_file = true,
                None => return Err((index, "*** End of File before any hunk".into())),
            }
            index += 1;
            continue;
        }
        if line.starts_with("*** ") {
            break;
        }
        if let Some(anchor) = line.strip_prefix("@@") {
            let anchor = anchor.trim();
            hunks.push(Hunk {
                anchor: (!anchor.is_empty()).then(|| anchor.to_owned()),
                ..Hunk::default()
            });
            index += 1;
            continue;
        }
        if hunks.is_empty() {
            // The first hunk may leave out its @@ line.
            hunks.push(Hunk::default());
        }
        let Some(hunk) = hunks.last_mut() else {
            break;
        };
        match line.chars().next() {
            Some('+') => hunk.new.push(line[1..].to_owned()),
            Some('-') => hunk.old.push(line[1..].to_owned()),
            Some(' ') => {
                hunk.old.push(line[1..].to_owned());
                hunk.new.push(line[1..].to_owned());
            }
            // An empty line in a hunk is an empty context line.
            None => {
                hunk.old.push(String::new());
                hunk.new.push(String::new());
            }
            Some(_) => {
                return Err((
                    index,
                    format!("hunk lines start with ' ', '-' or '+', found {line:?}"),
                ));
            }
        }
        index += 1;
    }
    Ok((hunks, index))
}

fn apply_hunks(content: &str, hunks: &[Hunk]) -> Result<String, String> {
    let mut lines: Vec<String> = content.lines().map(str::to_owned).collect();
    let mut replacements: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut cursor = 0;
    for hunk in hunks {
        if let Some(anchor) = &hunk.anchor {
            let found = find(&lines, std::slice::from_ref(anchor), cursor, false)
                .ok_or_else(|| format!("cannot find the line {anchor:?}"))?;
            cursor = found + 1;
        }
        if hunk.old.is_empty() {
            let at = if hunk.anchor.is_some() {
                cursor
            } else {
                lines.len()
            };
            replacements.push((at, 0, hunk.new.clone()));
            continue;
        }
        let start = find(&lines, &hunk.old, cursor, hunk.at_end_of_file)
            .or_else(|| {
                // A trailing empty context line may stand for the end of file.
                let trimmed = trim_trailing_empty(&hunk.old);
                (trimmed.len() < hunk.old.len())
                    .then(|| find(&lines, trimmed, cursor, hunk.at_end_of_file))
                    .flatten()
            })
            .ok_or_else(|| {
                format!(
                    "cannot find these lines (after line {cursor}):\n{}",
                    hunk.old.join("\n")
                )
            })?;
        let length = hunk.old.len().min(lines.len() - start);
        replacements.push((start, length, hunk.new.clone()));
        cursor = start + length;
    }
    replacements.sort_by_key(|(start, _, _)| *start);
    for (start, length, new) in replacements.into_iter().rev() {
        lines.splice(start..start + length, new);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

fn trim_trailing_empty(lines: &[String]) -> &[String] {
    let mut end = lines.len();
    while end > 0 && lines[end - 1].is_empty() {
        end -= 1;
    }
    &lines[..end]
}

/// Where `wanted` occurs in `lines` at or after `from`: exactly, then
/// ignoring trailing whitespace, then ignoring surrounding whitespace. At
/// the end of the file first when `at_end`.
fn find(lines: &[String], wanted: &[String], from: usize, at_end: bool) -> Option<usize> {
    if wanted.len() > lines.len() {
        return None;
    }
    let comparisons: [fn(&str, &str) -> bool; 3] = [
        |a, b| a == b,
        |a, b| a.trim_end() == b.trim_end(),
        |a, b| a.trim() == b.trim(),
    ];
    let last_start = lines.len() - wanted.len();
    for same in comparisons {
        let matches_at = |start: usize| {
            lines[start..start + wanted.len()]
                .iter()
                .zip(wanted)
                .all(|(line, want)| same(line, want))
        };
        if at_end && last_start >= from && matches_at(last_start) {
            return Some(last_start);
        }
        if let Some(start) = (from..=last_start).find(|start| matches_at(*start)) {
            return Some(start);
        }
    }
    None
}

/// Writes every change; on a failure, puts back what was already changed.
fn commit(changes: &[FileChange]) -> Result<(), String> {
    let mut done: Vec<&FileChange> = Vec::new();
    for change in changes {
        let result = match &change.after {
            Some(content) => write_atomically(&change.path, content.as_bytes()),
            None => std::fs::remove_file(&change.path)
                .map_err(|err| format!("cannot delete {}: {err}", change.path.display())),
        };
        if let Err(err) = result {
            for applied in done.into_iter().rev() {
                let _ = match &applied.before {
                    Some(content) => write_atomically(&applied.path, content.as_bytes()),
                    None => std::fs::remove_file(&applied.path).map_err(|err| err.to_string()),
                };
            }
            return Err(format!("{err}; no file was changed"));
        }
        done.push(change);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(dir: &Path, patch: &str) -> Result<Vec<FileChange>, String> {
        let patch = Patch::parse(patch).map_err(|err| err.to_string())?;
        let changes = patch.plan(dir).map_err(|err| err.to_string())?;
        commit(&changes)?;
        Ok(changes)
    }

    #[test]
    fn adds_updates_moves_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "one\ntwo\nthree\nfour\n").unwrap();
        std::fs::write(root.join("gone.txt"), "bye\n").unwrap();
        std::fs::write(root.join("old.txt"), "x\ny\n").unwrap();
        let patch = "*** Begin Patch
*** Add File: new/b.txt
+hello
+world
*** Update File: a.txt
@@ one
 two
-three
+THREE
 four
*** Delete File: gone.txt
*** Update File: old.txt
*** Move to: moved.txt
@@
 x
-y
+z
*** End Patch";
        let changes = apply(root, patch).unwrap();
        assert_eq!(changes.len(), 5);
        assert_eq!(
            std::fs::read_to_string(root.join("new/b.txt")).unwrap(),
            "hello\nworld\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "one\ntwo\nTHREE\nfour\n"
        );
        assert!(!root.join("gone.txt").exists());
        assert!(!root.join("old.txt").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("moved.txt")).unwrap(),
            "x\nz\n"
        );
    }

    #[test]
    fn nothing_changes_when_one_hunk_does_not_apply() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "keep\n").unwrap();
        std::fs::write(root.join("b.txt"), "other\n").unwrap();
        let patch = "*** Begin Patch
*** Update File: a.txt
-keep
+changed
*** Update File: b.txt
-not there
+x
*** End Patch";
        let err = apply(root, patch).unwrap_err();
        assert!(
            err.contains("b.txt") && err.contains("cannot find"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "keep\n"
        );
    }

    #[test]
    fn a_failed_write_rolls_back_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "before\n").unwrap();
        let changes = vec![
            FileChange {
                path: root.join("a.txt"),
                before: Some("before\n".into()),
                after: Some("after\n".into()),
            },
            FileChange {
                // Writing under a regular file fails.
                path: root.join("a.txt/inside"),
                before: None,
                after: Some("x".into()),
            },
        ];
        let err = commit(&changes).unwrap_err();
        assert!(err.contains("no file was changed"), "{err}");
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "before\n"
        );
    }

    #[test]
    fn whitespace_drift_and_end_of_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "x  \ny\nx\n").unwrap();
        let patch = "*** Begin Patch
*** Update File: a.txt
@@
-x
+last
*** End of File
*** End Patch";
        apply(root, patch).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "x  \ny\nlast\n"
        );
    }

    #[test]
    fn malformed_patches_say_where() {
        let missing_end = Patch::parse("*** Begin Patch\n*** Delete File: a\n").unwrap_err();
        assert!(missing_end.to_string().contains("*** End Patch"));
        let bad_line =
            Patch::parse("*** Begin Patch\n*** Update File: a\n@@\n?what\n*** End Patch")
                .unwrap_err();
        assert_eq!(
            bad_line,
            PatchError::Syntax {
                line: 4,
                message: "hunk lines start with ' ', '-' or '+', found \"?what\"".into()
            }
        );
        let empty = Patch::parse("*** Begin Patch\n*** End Patch").unwrap_err();
        assert!(empty.to_string().contains("changes nothing"));
    }
}
