//! Read, Write and Edit.

use std::io::{ErrorKind, Write as _};
use std::path::Path;

use serde::Deserialize;

use super::{ToolContext, ToolOutput, resolve, truncate_chars, whole_number};

/// Lines Read returns unless asked for fewer or more.
pub const DEFAULT_READ_LINES: usize = 2000;
/// Characters of one line Read returns.
pub const MAX_LINE_CHARS: usize = 2000;
/// Bytes inspected to tell a binary file from text.
const SNIFF_BYTES: usize = 8192;

#[derive(Deserialize)]
pub struct ReadArgs {
    file_path: String,
    #[serde(default)]
    offset: Option<f64>,
    #[serde(default)]
    limit: Option<f64>,
}

#[derive(Deserialize)]
pub struct WriteArgs {
    file_path: String,
    content: String,
}

#[derive(Deserialize)]
pub struct EditArgs {
    file_path: String,
    old_string: String,
    new_string: String,
    #[serde(default)]
    replace_all: bool,
}

pub fn read(args: ReadArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let path = resolve(&context.cwd, &args.file_path);
    let bytes = read_file(&path)?;
    if is_binary(&bytes) {
        return Err(format!(
            "{} is a binary file; Read shows text files only",
            path.display()
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    if text.is_empty() {
        return Ok(ToolOutput::ok(format!("{} is empty.", path.display())));
    }
    let first = whole_number(args.offset, "offset")?.unwrap_or(1).max(1);
    let limit = whole_number(args.limit, "limit")?.unwrap_or(DEFAULT_READ_LINES);
    let total = text.lines().count();
    if first > total {
        return Err(format!(
            "offset {first} is past the end of {} ({total} lines)",
            path.display()
        ));
    }
    let mut out = String::new();
    let mut last = first - 1;
    for (index, line) in text.lines().enumerate().skip(first - 1).take(limit) {
        let (shown, cut) = truncate_chars(line, MAX_LINE_CHARS);
        out.push_str(&format!("{}\t{shown}", index + 1));
        if cut {
            out.push_str(" [line cut at 2000 characters]");
        }
        out.push('\n');
        last = index + 1;
    }
    if last < total {
        out.push_str(&format!(
            "[{} more lines; read on with offset {}]\n",
            total - last,
            last + 1
        ));
    }
    Ok(ToolOutput::ok(out))
}

pub fn write(args: WriteArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let path = resolve(&context.cwd, &args.file_path);
    let existed = path.exists();
    if path.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    write_atomically(&path, args.content.as_bytes())?;
    let verb = if existed { "Wrote" } else { "Created" };
    Ok(ToolOutput::ok(format!(
        "{verb} {} ({} characters)",
        path.display(),
        args.content.chars().count()
    )))
}

pub fn edit(args: EditArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let path = resolve(&context.cwd, &args.file_path);
    let new_content = edited(&path, &args)?;
    write_atomically(&path, new_content.as_bytes())?;
    Ok(ToolOutput::ok(format!("Edited {}", path.display())))
}

/// The content `Edit` would leave in the file, or why it cannot.
pub fn edited(path: &Path, args: &EditArgs) -> Result<String, String> {
    if args.old_string.is_empty() {
        return Err("old_string is empty; use Write to create or replace a whole file".into());
    }
    if args.old_string == args.new_string {
        return Err("old_string and new_string are the same; nothing would change".into());
    }
    let bytes = read_file(path)?;
    let content = String::from_utf8(bytes).map_err(|_| {
        format!(
            "{} is not UTF-8 text; Edit cannot change it",
            path.display()
        )
    })?;
    let found = content.matches(&args.old_string).count();
    match found {
        0 => Err(format!(
            "old_string was not found in {}; it must match exactly, whitespace included",
            path.display()
        )),
        1 => Ok(content.replacen(&args.old_string, &args.new_string, 1)),
        _ if args.replace_all => Ok(content.replace(&args.old_string, &args.new_string)),
        n => Err(format!(
            "old_string occurs {n} times in {}; include more context to make it unique, or set replace_all",
            path.display()
        )),
    }
}

/// Parses Edit arguments for a preview without running the tool.
pub fn edit_args(input: &serde_json::Map<String, serde_json::Value>) -> Option<EditArgs> {
    serde_json::from_value(serde_json::Value::Object(input.clone())).ok()
}

impl EditArgs {
    pub fn file_path(&self) -> &str {
        &self.file_path
    }
}

/// Reads a whole file, with errors the agent can act on.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => {
            return Err(format!(
                "{} is a directory; use LS to list it",
                path.display()
            ));
        }
        Ok(_) => {}
        Err(err) => return Err(describe_io(path, &err)),
    }
    std::fs::read(path).map_err(|err| describe_io(path, &err))
}

fn describe_io(path: &Path, err: &std::io::Error) -> String {
    match err.kind() {
        ErrorKind::NotFound => format!("{} does not exist", path.display()),
        ErrorKind::PermissionDenied => {
            format!("{} cannot be read: permission denied", path.display())
        }
        _ => format!("{} cannot be read: {err}", path.display()),
    }
}

fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(SNIFF_BYTES)].contains(&0)
}

/// Replaces `path` through a temporary file in the same directory and a
/// rename, creating parent directories. An existing file keeps its
/// permission bits.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), String> {
    let fail = |err: std::io::Error| format!("cannot write {}: {err}", path.display());
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(fail)?;
    let permissions = std::fs::metadata(path).ok().map(|meta| meta.permissions());
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    if let Some(permissions) = permissions {
        std::fs::set_permissions(file.path(), permissions).map_err(fail)?;
    }
    file.persist(path).map_err(|err| fail(err.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(dir: &Path) -> ToolContext {
        ToolContext::in_dir(dir)
    }

    fn read_args(path: &str, offset: Option<f64>, limit: Option<f64>) -> ReadArgs {
        ReadArgs {
            file_path: path.into(),
            offset,
            limit,
        }
    }

    #[test]
    fn read_numbers_lines_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let lines: String = (1..=5).map(|n| format!("line {n}\n")).collect();
        std::fs::write(dir.path().join("a.txt"), lines).unwrap();
        let ctx = context(dir.path());
        let out = read(read_args("a.txt", None, None), &ctx).unwrap();
        assert!(
            out.text.starts_with("1\tline 1\n2\tline 2\n"),
            "{}",
            out.text
        );
        let page = read(read_args("a.txt", Some(2.0), Some(2.0)), &ctx).unwrap();
        assert_eq!(
            page.text,
            "2\tline 2\n3\tline 3\n[2 more lines; read on with offset 4]\n"
        );
        let long = "x".repeat(MAX_LINE_CHARS + 500);
        std::fs::write(dir.path().join("long.txt"), &long).unwrap();
        let out = read(read_args("long.txt", None, None), &ctx).unwrap();
        assert!(out.text.contains("[line cut at 2000 characters]"));
        assert!(out.text.len() < long.len());
    }

    #[test]
    fn read_explains_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let missing = read(read_args("nope.txt", None, None), &ctx).unwrap_err();
        assert!(missing.contains("does not exist"), "{missing}");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let directory = read(read_args("sub", None, None), &ctx).unwrap_err();
        assert!(directory.contains("is a directory"), "{directory}");
        std::fs::write(dir.path().join("bin"), [0u8, 159, 146, 150]).unwrap();
        let binary = read(read_args("bin", None, None), &ctx).unwrap_err();
        assert!(binary.contains("binary"), "{binary}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let locked = dir.path().join("locked");
            std::fs::write(&locked, "secret").unwrap();
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
            // Root reads anything; only check when the file really is unreadable.
            if std::fs::read(&locked).is_err() {
                let denied = read(read_args("locked", None, None), &ctx).unwrap_err();
                assert!(denied.contains("permission denied"), "{denied}");
            }
        }
    }

    #[test]
    fn write_creates_parents_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let args = WriteArgs {
            file_path: "deep/er/new.txt".into(),
            content: "hello\n".into(),
        };
        let out = write(args, &ctx).unwrap();
        assert!(out.text.starts_with("Created"), "{}", out.text);
        let path = dir.path().join("deep/er/new.txt");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o751)).unwrap();
            let args = WriteArgs {
                file_path: path.display().to_string(),
                content: "again".into(),
            };
            write(args, &ctx).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o751);
        }
    }

    /// A file of the project that is a hard link to one outside it: an
    /// edit replaces the project's name for it and leaves the file outside
    /// as it was, so confinement holds without asking. (A shell command
    /// writing into it is not a built-in edit and asks like any command.)
    #[test]
    fn edits_through_a_hard_link_leave_the_file_outside_alone() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "elsewhere\n").unwrap();
        std::fs::hard_link(&outside, project.join("f.txt")).unwrap();
        let ctx = context(&project);

        edit(edit_args_of("elsewhere", "edited", false), &ctx).unwrap();
        assert_eq!(
            std::fs::read_to_string(project.join("f.txt")).unwrap(),
            "edited\n"
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "elsewhere\n");

        std::fs::remove_file(project.join("f.txt")).unwrap();
        std::fs::hard_link(&outside, project.join("f.txt")).unwrap();
        let args = WriteArgs {
            file_path: "f.txt".into(),
            content: "written\n".into(),
        };
        write(args, &ctx).unwrap();
        assert_eq!(
            std::fs::read_to_string(project.join("f.txt")).unwrap(),
            "written\n"
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "elsewhere\n");
    }

    fn edit_args_of(old: &str, new: &str, all: bool) -> EditArgs {
        EditArgs {
            file_path: "f.txt".into(),
            old_string: old.into(),
            new_string: new.into(),
            replace_all: all,
        }
    }

    #[test]
    fn edit_needs_one_exact_match_unless_replace_all() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "a b a").unwrap();
        let ambiguous = edit(edit_args_of("a", "c", false), &ctx).unwrap_err();
        assert!(ambiguous.contains("occurs 2 times"), "{ambiguous}");
        let missing = edit(edit_args_of("zzz", "c", false), &ctx).unwrap_err();
        assert!(missing.contains("not found"), "{missing}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a b a");
        edit(edit_args_of("b", "B", false), &ctx).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a B a");
        edit(edit_args_of("a", "x", true), &ctx).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x B x");
    }
}
