//! Find in files, on the ripgrep crates: `.gitignore` and hidden files
//! respected as `rg` does, binary files skipped, results bounded.

use std::time::{Duration, Instant};

use grep_matcher::Matcher as _;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::WalkBuilder;
use letta_protocol::{GrepInFilesMatch, GrepInFilesParams, GrepInFilesResult};

use super::{Confined, WorkspaceError};
use crate::tools::is_hidden;
use crate::tools::truncate_chars;

/// Matching lines returned unless asked otherwise.
const DEFAULT_MAX_RESULTS: u64 = 500;
/// Matching lines returned at most.
const MAX_RESULTS: u64 = 5_000;
/// Context lines on each side at most.
const MAX_CONTEXT_LINES: u64 = 10;
/// Matching lines counted at most; past it the totals are lower bounds.
const MAX_COUNTED: u64 = 100_000;
/// Characters of one line returned.
const MAX_LINE_CHARS: usize = 2_000;
/// How long one search may take.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// `grep_in_files` under `root`.
pub fn grep_in_files(
    root: &Confined,
    params: &GrepInFilesParams,
) -> Result<GrepInFilesResult, WorkspaceError> {
    root.directory()?;
    let mut found = GrepInFilesResult {
        success: true,
        matches: Vec::new(),
        total_matches: 0,
        total_files: 0,
        truncated: false,
    };
    if params.query.is_empty() {
        return Ok(found);
    }
    let matcher = RegexMatcherBuilder::new()
        .fixed_strings(!params.is_regex.unwrap_or(false))
        .case_insensitive(!params.case_sensitive.unwrap_or(false))
        .word(params.whole_word.unwrap_or(false))
        .build(&params.query)
        .map_err(|err| WorkspaceError::Invalid(format!("invalid regular expression: {err}")))?;
    let context_lines = params.context_lines.unwrap_or(2).min(MAX_CONTEXT_LINES);
    let max = params
        .max_results
        .unwrap_or(DEFAULT_MAX_RESULTS)
        .min(MAX_RESULTS);
    let context = usize::try_from(context_lines).unwrap_or(0);
    let mut searcher = SearcherBuilder::new()
        .binary_detection(BinaryDetection::quit(0))
        .line_number(true)
        .before_context(context)
        .after_context(context)
        .build();

    let mut walk = WalkBuilder::new(&root.path);
    // `.gitignore` counts in a workspace that is not a git repository too.
    walk.require_git(false);
    if let Some(glob) = params
        .glob
        .as_deref()
        .map(str::trim)
        .filter(|glob| !glob.is_empty())
    {
        let mut overrides = ignore::overrides::OverrideBuilder::new(&root.path);
        overrides
            .add(glob)
            .map_err(|err| WorkspaceError::Invalid(format!("invalid glob {glob:?}: {err}")))?;
        walk.overrides(
            overrides
                .build()
                .map_err(|err| WorkspaceError::Invalid(format!("invalid glob {glob:?}: {err}")))?,
        );
    }
    let hidden = root.hidden();
    walk.filter_entry(move |entry| !is_hidden(&hidden, entry.path()));

    let deadline = Instant::now() + TIME_LIMIT;
    for entry in walk.build().flatten() {
        if !entry.file_type().is_some_and(|kind| kind.is_file()) {
            continue;
        }
        if found.total_matches >= MAX_COUNTED || Instant::now() > deadline {
            found.truncated = true;
            break;
        }
        let relative = entry
            .path()
            .strip_prefix(&root.path)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let before = found.total_matches;
        let mut sink = FileSink {
            matcher: &matcher,
            relative,
            found: &mut found,
            max,
            context,
            recent: Vec::new(),
            pending: Vec::new(),
        };
        // An unreadable file is skipped, as rg skips it.
        let _ = searcher.search_path(&matcher, entry.path(), &mut sink);
        if found.total_matches > before {
            found.total_files += 1;
        }
    }
    found.truncated |= found.total_matches > found.matches.len() as u64;
    Ok(found)
}

/// Collects one file's matching lines, each with the lines around it.
struct FileSink<'a> {
    matcher: &'a RegexMatcher,
    relative: String,
    found: &'a mut GrepInFilesResult,
    max: u64,
    context: usize,
    /// The last lines seen, for the next match's `before`.
    recent: Vec<String>,
    /// Matches still owed `after` lines: index and lines owed.
    pending: Vec<(usize, usize)>,
}

fn line_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches(['\n', '\r']);
    truncate_chars(text, MAX_LINE_CHARS).0.to_owned()
}

impl FileSink<'_> {
    /// A line after earlier matches: theirs while they are owed lines, and
    /// the next match's `before`.
    fn follows(&mut self, text: &str) {
        for (index, owed) in &mut self.pending {
            if let Some(after) = &mut self.found.matches[*index].after {
                after.push(text.to_owned());
            }
            *owed -= 1;
        }
        self.pending.retain(|(_, owed)| *owed > 0);
        self.recent.push(text.to_owned());
        if self.recent.len() > self.context {
            self.recent.remove(0);
        }
    }
}

impl Sink for FileSink<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, line: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        self.found.total_matches += 1;
        let bytes = line.bytes();
        let text = line_text(bytes);
        if (self.found.matches.len() as u64) < self.max {
            let (start, end) = match self.matcher.find(bytes) {
                Ok(Some(found)) => (found.start(), found.end()),
                _ => (0, 0),
            };
            let chars = |range: &[u8]| String::from_utf8_lossy(range).chars().count() as u64;
            let column = chars(&bytes[..start]) + 1;
            let with_context = self.context > 0;
            self.found.matches.push(GrepInFilesMatch {
                path: self.relative.clone(),
                line: line.line_number().unwrap_or(0),
                column,
                column_end: column + chars(&bytes[start..end]),
                text: text.clone(),
                before: with_context.then(|| self.recent.clone()),
                after: with_context.then(Vec::new),
            });
            self.follows(&text);
            if with_context {
                self.pending
                    .push((self.found.matches.len() - 1, self.context));
            }
        } else {
            self.follows(&text);
        }
        Ok(self.found.total_matches < MAX_COUNTED)
    }

    fn context(&mut self, _: &Searcher, line: &SinkContext<'_>) -> Result<bool, Self::Error> {
        self.follows(&line_text(line.bytes()));
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, Self::Error> {
        self.recent.clear();
        self.pending.clear();
        Ok(true)
    }
}
