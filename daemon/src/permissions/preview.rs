//! What Write, Edit and ApplyPatch would change, as unified-diff hunks for
//! the human deciding on them.

use std::path::Path;

use letta_protocol::{DiffHunk, DiffHunkLine, DiffLineKind, DiffPreview};
use serde_json::{Map, Value};
use similar::{ChangeTag, TextDiff};

use crate::tools::{FileChange, Patch, edit_args, edited, resolve};

/// Files larger than this are not diffed.
const MAX_PREVIEW_BYTES: u64 = 1024 * 1024;
/// Unchanged lines around each change.
const CONTEXT_LINES: usize = 3;

/// Diffs for a file tool call; `None` for tools that change no file.
pub fn diffs(tool: &str, input: &Map<String, Value>, cwd: &Path) -> Option<Vec<DiffPreview>> {
    let text = |key: &str| input.get(key).and_then(Value::as_str);
    match tool {
        "Write" => {
            let path = resolve(cwd, text("file_path")?);
            let content = text("content")?;
            Some(vec![match before(&path) {
                Ok(old) => diff(&path, cwd, old.as_deref().unwrap_or(""), content),
                Err(reason) => unpreviewable(&path, cwd, reason),
            }])
        }
        "Edit" => {
            let args = edit_args(input)?;
            let path = resolve(cwd, args.file_path());
            Some(vec![match (before(&path), edited(&path, &args)) {
                (Ok(old), Ok(new)) => diff(&path, cwd, old.as_deref().unwrap_or(""), &new),
                (Err(reason), _) => unpreviewable(&path, cwd, reason),
                (_, Err(reason)) => DiffPreview::Fallback {
                    file_name: display_name(&path, cwd),
                    reason,
                },
            }])
        }
        "ApplyPatch" => {
            let patch = Patch::parse(text("input")?);
            let changes = patch.and_then(|patch| patch.plan(cwd));
            Some(match changes {
                Ok(changes) => changes
                    .iter()
                    .map(|change| file_diff(change, cwd))
                    .collect(),
                Err(err) => vec![DiffPreview::Fallback {
                    file_name: "patch".to_owned(),
                    reason: err.to_string(),
                }],
            })
        }
        _ => None,
    }
}

fn file_diff(change: &FileChange, cwd: &Path) -> DiffPreview {
    diff(
        &change.path,
        cwd,
        change.before.as_deref().unwrap_or(""),
        change.after.as_deref().unwrap_or(""),
    )
}

/// The current text of a file (`None` if it does not exist), or why it
/// cannot be shown.
fn before(path: &Path) -> Result<Option<String>, String> {
    match std::fs::metadata(path) {
        Err(_) => Ok(None),
        Ok(meta) if meta.len() > MAX_PREVIEW_BYTES => Err(format!(
            "the file is {} bytes; previews stop at {MAX_PREVIEW_BYTES}",
            meta.len()
        )),
        Ok(_) => {
            let bytes =
                std::fs::read(path).map_err(|err| format!("cannot read the file: {err}"))?;
            String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "the file is not UTF-8 text".to_owned())
        }
    }
}

fn display_name(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

fn unpreviewable(path: &Path, cwd: &Path, reason: String) -> DiffPreview {
    DiffPreview::Unpreviewable {
        file_name: display_name(path, cwd),
        reason,
    }
}

fn diff(path: &Path, cwd: &Path, old: &str, new: &str) -> DiffPreview {
    let text_diff = TextDiff::from_lines(old, new);
    let hunks = text_diff
        .grouped_ops(CONTEXT_LINES)
        .iter()
        .filter_map(|group| {
            let first = group.first()?;
            let last = group.last()?;
            let old_start = first.old_range().start;
            let new_start = first.new_range().start;
            let old_lines = last.old_range().end - old_start;
            let new_lines = last.new_range().end - new_start;
            let lines = group
                .iter()
                .flat_map(|op| text_diff.iter_changes(op))
                .map(|change| DiffHunkLine {
                    kind: match change.tag() {
                        ChangeTag::Equal => DiffLineKind::Context,
                        ChangeTag::Insert => DiffLineKind::Add,
                        ChangeTag::Delete => DiffLineKind::Remove,
                    },
                    content: change.value().trim_end_matches(['\n', '\r']).to_owned(),
                })
                .collect();
            Some(DiffHunk {
                // Unified diffs count from 1; an empty side starts at its line 0 + 1.
                old_start: to_u32(old_start + 1),
                old_lines: to_u32(old_lines),
                new_start: to_u32(new_start + 1),
                new_lines: to_u32(new_lines),
                lines,
            })
        })
        .collect();
    DiffPreview::Advanced {
        file_name: display_name(path, cwd),
        hunks,
    }
}

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_new_file_is_one_added_hunk() {
        let dir = tempfile::tempdir().unwrap();
        let previews = diffs(
            "Write",
            &input(json!({"file_path": "hello.txt", "content": "hello\n"})),
            dir.path(),
        )
        .unwrap();
        // The same preview the reference shows for this call.
        assert_eq!(
            serde_json::to_value(&previews).unwrap(),
            json!([{"mode": "advanced", "fileName": "hello.txt", "hunks": [
                {"oldStart": 1, "oldLines": 0, "newStart": 1, "newLines": 1,
                 "lines": [{"type": "add", "content": "hello"}]}
            ]}])
        );
    }

    #[test]
    fn an_edit_shows_context_and_a_failed_edit_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (1..=10).map(|n| format!("line {n}\n")).collect();
        std::fs::write(dir.path().join("f.txt"), body).unwrap();
        let previews = diffs(
            "Edit",
            &input(json!({"file_path": "f.txt", "old_string": "line 5", "new_string": "five"})),
            dir.path(),
        )
        .unwrap();
        let DiffPreview::Advanced { hunks, .. } = &previews[0] else {
            panic!("{previews:?}");
        };
        assert_eq!(hunks.len(), 1);
        assert_eq!((hunks[0].old_start, hunks[0].old_lines), (2, 7));
        let kinds: Vec<DiffLineKind> = hunks[0].lines.iter().map(|line| line.kind).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|kind| **kind == DiffLineKind::Remove)
                .count(),
            1
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|kind| **kind == DiffLineKind::Add)
                .count(),
            1
        );

        let failed = diffs(
            "Edit",
            &input(json!({"file_path": "f.txt", "old_string": "absent", "new_string": "x"})),
            dir.path(),
        )
        .unwrap();
        assert!(
            matches!(&failed[0], DiffPreview::Fallback { reason, .. } if reason.contains("not found"))
        );
        assert!(diffs("Bash", &input(json!({"command": "ls"})), dir.path()).is_none());
    }
}
