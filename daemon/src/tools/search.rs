//! Glob, Grep and LS, on the ripgrep crates: `.gitignore` respected,
//! binary files skipped, results bounded.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use globset::{Glob, GlobBuilder, GlobSetBuilder};
use grep_regex::RegexMatcherBuilder;
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::WalkBuilder;
use serde::Deserialize;

use super::{ToolContext, ToolOutput, resolve, truncate_chars, whole_number};

/// Paths Glob returns at most.
const MAX_GLOB_RESULTS: usize = 1000;
/// Entries LS returns at most.
const MAX_LS_ENTRIES: usize = 1000;
/// Characters of Grep output at most.
const MAX_GREP_CHARS: usize = 30_000;

#[derive(Deserialize)]
pub struct GlobArgs {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
pub struct GrepArgs {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    glob: Option<String>,
    #[serde(default)]
    output_mode: Option<String>,
    #[serde(default, rename = "-A")]
    after: Option<f64>,
    #[serde(default, rename = "-B")]
    before: Option<f64>,
    #[serde(default, rename = "-C", alias = "context")]
    around: Option<f64>,
    #[serde(default, rename = "-n")]
    line_numbers: Option<bool>,
    #[serde(default, rename = "-i")]
    case_insensitive: Option<bool>,
    #[serde(default, rename = "type")]
    file_type: Option<String>,
    #[serde(default)]
    head_limit: Option<f64>,
    #[serde(default)]
    offset: Option<f64>,
    #[serde(default)]
    multiline: Option<bool>,
}

#[derive(Deserialize)]
pub struct LsArgs {
    path: String,
    #[serde(default)]
    ignore: Vec<String>,
}

/// A walk that leaves out what the context hides, directories included.
fn walker(mut walk: WalkBuilder, context: &ToolContext) -> ignore::Walk {
    let hidden = context.hidden.clone();
    walk.filter_entry(move |entry| !is_hidden(&hidden, entry.path()));
    walk.build()
}

/// Whether `path` is one a set of paths hidden from reads (the permission
/// policy's `hidden_from_reads`) leaves out: itself, or (for a directory)
/// everything in it.
pub fn is_hidden(hidden: &globset::GlobSet, path: &Path) -> bool {
    !hidden.is_empty() && (hidden.is_match(path) || hidden.is_match(path.join("entry")))
}

fn search_root(context: &ToolContext, path: Option<&str>) -> Result<PathBuf, String> {
    let root = path
        .filter(|path| !path.is_empty())
        .map_or_else(|| context.cwd.clone(), |path| resolve(&context.cwd, path));
    if !root.exists() {
        return Err(format!("{} does not exist", root.display()));
    }
    Ok(root)
}

pub fn glob(args: GlobArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let root = search_root(context, args.path.as_deref())?;
    if !root.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    let matcher = GlobBuilder::new(&args.pattern)
        .literal_separator(true)
        .build()
        .map_err(|err| format!("invalid glob pattern {:?}: {err}", args.pattern))?
        .compile_matcher();
    let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in walker(WalkBuilder::new(&root), context).flatten() {
        if !entry.file_type().is_some_and(|kind| kind.is_file()) {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(&root) else {
            continue;
        };
        if matcher.is_match(relative) {
            let modified = entry
                .metadata()
                .ok()
                .and_then(|meta| meta.modified().ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((modified, entry.path().to_path_buf()));
        }
    }
    if found.is_empty() {
        return Ok(ToolOutput::ok(format!(
            "No files match {} under {}",
            args.pattern,
            root.display()
        )));
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let total = found.len();
    let mut out: String = found
        .iter()
        .take(MAX_GLOB_RESULTS)
        .map(|(_, path)| format!("{}\n", path.display()))
        .collect();
    if total > MAX_GLOB_RESULTS {
        out.push_str(&format!(
            "[{} more files; narrow the pattern or the path]\n",
            total - MAX_GLOB_RESULTS
        ));
    }
    Ok(ToolOutput::ok(out))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GrepMode {
    Content,
    Files,
    Count,
}

pub fn grep(args: GrepArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let root = search_root(context, args.path.as_deref())?;
    let mode = match args.output_mode.as_deref() {
        None | Some("files_with_matches") => GrepMode::Files,
        Some("content") => GrepMode::Content,
        Some("count") => GrepMode::Count,
        Some(other) => {
            return Err(format!(
                "output_mode must be content, files_with_matches or count, not {other:?}"
            ));
        }
    };
    let multiline = args.multiline.unwrap_or(false);
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(args.case_insensitive.unwrap_or(false))
        .multi_line(true)
        .dot_matches_new_line(multiline)
        .build(&args.pattern)
        .map_err(|err| format!("invalid regular expression: {err}"))?;
    let around = whole_number(args.around, "-C")?.unwrap_or(0);
    let mut searcher = SearcherBuilder::new();
    searcher
        .binary_detection(BinaryDetection::quit(0))
        .line_number(true)
        .multi_line(multiline);
    if mode == GrepMode::Content {
        searcher
            .before_context(whole_number(args.before, "-B")?.unwrap_or(around))
            .after_context(whole_number(args.after, "-A")?.unwrap_or(around));
    }
    let mut searcher = searcher.build();

    let mut walk = WalkBuilder::new(&root);
    if let Some(glob) = args.glob.as_deref().filter(|glob| !glob.is_empty()) {
        let mut overrides = ignore::overrides::OverrideBuilder::new(&root);
        for part in split_glob_list(glob) {
            overrides
                .add(&part)
                .map_err(|err| format!("invalid glob {part:?}: {err}"))?;
        }
        walk.overrides(
            overrides
                .build()
                .map_err(|err| format!("invalid glob {glob:?}: {err}"))?,
        );
    }
    if let Some(file_type) = args.file_type.as_deref().filter(|kind| !kind.is_empty()) {
        let mut types = ignore::types::TypesBuilder::new();
        types.add_defaults();
        types.select(file_type);
        walk.types(
            types
                .build()
                .map_err(|err| format!("unknown file type {file_type:?}: {err}"))?,
        );
    }

    let show_numbers = args.line_numbers.unwrap_or(true);
    let mut lines: Vec<String> = Vec::new();
    for entry in walker(walk, context).flatten() {
        if !entry.file_type().is_some_and(|kind| kind.is_file()) {
            continue;
        }
        let path = entry.path();
        let mut sink = Collect {
            path,
            mode,
            show_numbers,
            lines: Vec::new(),
            matches: 0,
        };
        if searcher.search_path(&matcher, path, &mut sink).is_err() {
            continue;
        }
        match mode {
            GrepMode::Files if sink.matches > 0 => lines.push(path.display().to_string()),
            GrepMode::Count if sink.matches > 0 => {
                lines.push(format!("{}:{}", path.display(), sink.matches));
            }
            GrepMode::Content => lines.extend(sink.lines),
            _ => {}
        }
    }
    if lines.is_empty() {
        return Ok(ToolOutput::ok(format!("No matches for {:?}", args.pattern)));
    }
    let skip = whole_number(args.offset, "offset")?.unwrap_or(0);
    let limit = whole_number(args.head_limit, "head_limit")?.filter(|limit| *limit > 0);
    let total = lines.len();
    let shown: Vec<&String> = lines
        .iter()
        .skip(skip)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let mut out = String::new();
    for line in &shown {
        out.push_str(line);
        out.push('\n');
    }
    let (text, cut) = truncate_chars(&out, MAX_GREP_CHARS);
    let mut text = text.to_owned();
    if cut {
        text.push_str("\n[output cut at 30000 characters; narrow the search or use head_limit]\n");
    } else if skip + shown.len() < total {
        text.push_str(&format!(
            "[{} more; continue with offset {}]\n",
            total - skip - shown.len(),
            skip + shown.len()
        ));
    }
    Ok(ToolOutput::ok(text))
}

/// `"*.{ts,tsx}"` stays one glob; `"*.rs *.toml"` or `"*.rs,*.toml"` outside
/// braces are several.
fn split_glob_list(list: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for ch in list.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' | ' ' if depth == 0 => {
                if !current.is_empty() {
                    parts.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Gathers one file's matches in the shape the output mode wants.
struct Collect<'a> {
    path: &'a Path,
    mode: GrepMode,
    show_numbers: bool,
    lines: Vec<String>,
    matches: u64,
}

impl Collect<'_> {
    fn push(&mut self, separator: char, number: Option<u64>, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches(['\n', '\r']);
        let line = match number.filter(|_| self.show_numbers) {
            Some(number) => format!(
                "{}{separator}{number}{separator}{text}",
                self.path.display()
            ),
            None => format!("{}{separator}{text}", self.path.display()),
        };
        self.lines.push(line);
    }
}

impl Sink for Collect<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, found: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        self.matches += 1;
        match self.mode {
            GrepMode::Content => self.push(':', found.line_number(), found.bytes()),
            // One match is enough to list the file.
            GrepMode::Files => return Ok(false),
            GrepMode::Count => {}
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> Result<bool, Self::Error> {
        self.push('-', context.line_number(), context.bytes());
        Ok(true)
    }
}

pub fn ls(args: LsArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let dir = resolve(&context.cwd, &args.path);
    let mut ignored = GlobSetBuilder::new();
    for pattern in &args.ignore {
        ignored.add(
            Glob::new(pattern).map_err(|err| format!("invalid ignore glob {pattern:?}: {err}"))?,
        );
    }
    let ignored = ignored
        .build()
        .map_err(|err| format!("invalid ignore globs: {err}"))?;
    let entries = std::fs::read_dir(&dir).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => format!("{} does not exist", dir.display()),
        std::io::ErrorKind::NotADirectory => {
            format!("{} is a file, not a directory; use Read", dir.display())
        }
        _ => format!("cannot list {}: {err}", dir.display()),
    })?;
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ignored.is_match(&name) || is_hidden(&context.hidden, &entry.path()) {
            continue;
        }
        match entry.metadata() {
            Ok(meta) if meta.is_dir() => dirs.push(format!("{name}/")),
            Ok(meta) => files.push(format!("{name} ({} bytes)", meta.len())),
            Err(_) => files.push(name),
        }
    }
    dirs.sort();
    files.sort();
    let total = dirs.len() + files.len();
    if total == 0 {
        return Ok(ToolOutput::ok(format!("{} is empty", dir.display())));
    }
    let mut out = format!("{}/\n", dir.display());
    for entry in dirs.iter().chain(files.iter()).take(MAX_LS_ENTRIES) {
        out.push_str("  ");
        out.push_str(entry);
        out.push('\n');
    }
    if total > MAX_LS_ENTRIES {
        out.push_str(&format!("[{} more entries]\n", total - MAX_LS_ENTRIES));
    }
    Ok(ToolOutput::ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, ToolContext) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/nested")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        // `ignore` reads .gitignore only inside a git repository.
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {\n    hello();\n}\n").unwrap();
        std::fs::write(
            root.join("src/nested/lib.rs"),
            "pub fn hello() {}\n// Hello\n",
        )
        .unwrap();
        std::fs::write(root.join("src/notes.md"), "hello notes\n").unwrap();
        std::fs::write(root.join("target/built.rs"), "fn hello() {}\n").unwrap();
        std::fs::write(root.join("blob.bin"), b"hello\0binary").unwrap();
        let context = ToolContext::in_dir(root);
        (dir, context)
    }

    fn grep_args(pattern: &str) -> GrepArgs {
        serde_json::from_value(serde_json::json!({ "pattern": pattern })).unwrap()
    }

    #[test]
    fn glob_respects_gitignore() {
        let (_dir, ctx) = project();
        let args = GlobArgs {
            pattern: "**/*.rs".into(),
            path: None,
        };
        let out = glob(args, &ctx).unwrap().text;
        assert!(out.contains("src/main.rs"), "{out}");
        assert!(out.contains("src/nested/lib.rs"), "{out}");
        assert!(!out.contains("target"), "{out}");
        let single = GlobArgs {
            pattern: "src/*.rs".into(),
            path: None,
        };
        let out = glob(single, &ctx).unwrap().text;
        assert!(!out.contains("nested"), "* stays within a directory: {out}");
    }

    #[test]
    fn grep_modes() {
        let (_dir, ctx) = project();
        let files = grep(grep_args("hello"), &ctx).unwrap().text;
        assert!(
            files.contains("main.rs") && files.contains("lib.rs") && files.contains("notes.md")
        );
        assert!(
            !files.contains("target") && !files.contains("blob.bin"),
            "{files}"
        );

        let mut args = grep_args("hello");
        args.output_mode = Some("content".into());
        args.file_type = Some("rust".into());
        let content = grep(args, &ctx).unwrap().text;
        assert!(content.contains("main.rs:2:    hello();"), "{content}");
        assert!(!content.contains("notes.md"), "{content}");

        let mut args = grep_args("hello");
        args.output_mode = Some("count".into());
        args.case_insensitive = Some(true);
        args.glob = Some("*.rs".into());
        let counts = grep(args, &ctx).unwrap().text;
        assert!(counts.contains("lib.rs:2"), "{counts}");

        let mut args = grep_args("hello");
        args.output_mode = Some("content".into());
        args.around = Some(1.0);
        args.glob = Some("main.rs".into());
        let context = grep(args, &ctx).unwrap().text;
        assert!(context.contains("main.rs-1-fn main() {"), "{context}");

        let mut args = grep_args("hello");
        args.head_limit = Some(1.0);
        let limited = grep(args, &ctx).unwrap().text;
        assert!(
            limited.contains("[2 more; continue with offset 1]"),
            "{limited}"
        );

        let bad = grep(grep_args("(unclosed"), &ctx).unwrap_err();
        assert!(bad.contains("invalid regular expression"), "{bad}");
    }

    #[test]
    fn searches_leave_out_hidden_files() {
        let (dir, mut ctx) = project();
        let mut hidden = globset::GlobSetBuilder::new();
        hidden.add(Glob::new(&format!("{}/src/nested/**", dir.path().display())).unwrap());
        ctx.hidden = hidden.build().unwrap();
        let found = grep(grep_args("hello"), &ctx).unwrap().text;
        assert!(
            found.contains("main.rs") && !found.contains("lib.rs"),
            "{found}"
        );
        let globbed = glob(
            GlobArgs {
                pattern: "**/*.rs".into(),
                path: None,
            },
            &ctx,
        )
        .unwrap()
        .text;
        assert!(!globbed.contains("nested"), "{globbed}");
        let listed = ls(
            LsArgs {
                path: "src".into(),
                ignore: vec![],
            },
            &ctx,
        )
        .unwrap()
        .text;
        assert!(!listed.contains("nested"), "{listed}");
    }

    #[test]
    fn grep_multiline() {
        let (_dir, ctx) = project();
        let mut args = grep_args(r"main\(\) \{.*hello");
        args.multiline = Some(true);
        let out = grep(args, &ctx).unwrap().text;
        assert!(out.contains("main.rs"), "{out}");
    }

    #[test]
    fn ls_lists_directories_first() {
        let (_dir, ctx) = project();
        let args = LsArgs {
            path: "src".into(),
            ignore: vec!["*.md".into()],
        };
        let out = ls(args, &ctx).unwrap().text;
        let nested = out.find("nested/").unwrap();
        let main = out.find("main.rs (").unwrap();
        assert!(nested < main, "{out}");
        assert!(!out.contains("notes.md"), "{out}");
        let file = ls(
            LsArgs {
                path: "src/main.rs".into(),
                ignore: vec![],
            },
            &ctx,
        )
        .unwrap_err();
        assert!(file.contains("not a directory"), "{file}");
    }

    #[test]
    fn glob_lists_split_outside_braces() {
        assert_eq!(split_glob_list("*.{ts,tsx}"), ["*.{ts,tsx}"]);
        assert_eq!(split_glob_list("*.rs, *.toml"), ["*.rs", "*.toml"]);
    }
}
