//! The workspace as a desktop frontend shows it to the human: directories,
//! a tree, file search, find-in-files, and reading and editing files.
//! Confined to the workspace roots (the boot working directory and every
//! runtime's working directory), which `get_cwd_map` lists.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetCwdMapParams {}

/// Every runtime's working directory that differs from the boot one, and the
/// boot one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetCwdMapResult {
    pub success: bool,
    /// By scope key: `conversation:<id>`, or
    /// `agent:<id>::conversation:default` for an agent's default
    /// conversation.
    pub cwd_map: BTreeMap<String, String>,
    /// Where runtimes started without a working directory work.
    pub boot_working_directory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetBootWorkingDirectoryParams {
    /// An existing directory.
    pub cwd: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetBootWorkingDirectoryResult {
    pub success: bool,
    /// The directory, canonical.
    pub boot_working_directory: String,
    /// Counts changes of the boot working directory.
    pub cwd_revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListInDirectoryParams {
    /// Absolute path of the directory.
    pub path: String,
    /// Whether `files` lists the files too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_files: Option<bool>,
    /// Entries returned at most (folders and files together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Entries skipped first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListInDirectoryResult {
    pub path: String,
    /// Folder names, sorted; folders come before files in the paging.
    pub folders: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    #[serde(rename = "hasMore")]
    pub has_more: bool,
    pub total: u64,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetTreeParams {
    /// Absolute path of the subtree's root.
    pub path: String,
    /// Levels returned at most.
    pub depth: u32,
}

/// Whether an entry is a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
}

/// A path relative to the root asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TreeEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetTreeResult {
    pub path: String,
    /// Breadth first; directories before files at each level.
    pub entries: Vec<TreeEntry>,
    /// Whether deeper levels (or more entries) were left out.
    pub has_more_depth: bool,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchFilesParams {
    /// Substring of the path, any case; empty returns the first paths found.
    pub query: String,
    /// Results returned at most (5 unless given, 200 at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    /// Directory searched; the boot working directory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchFilesResult {
    pub files: Vec<TreeEntry>,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrepInFilesParams {
    /// Text (or a regular expression with `is_regex`) to find.
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_regex: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_word: Option<bool>,
    /// Glob the files searched must match (e.g. `*.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// Directory searched; the boot working directory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Matching lines returned at most (500 unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    /// Lines of context before and after each match (2 unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_lines: Option<u64>,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrepInFilesMatch {
    /// Relative to the directory searched.
    pub path: String,
    /// 1-based.
    pub line: u64,
    /// 1-based character column where the first match starts.
    pub column: u64,
    /// 1-based character column just past the first match.
    pub column_end: u64,
    /// The line, without its line ending.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrepInFilesResult {
    pub success: bool,
    pub matches: Vec<GrepInFilesMatch>,
    /// Matching lines found, returned or not.
    pub total_matches: u64,
    /// Files with a match.
    pub total_files: u64,
    /// Whether matches were left out.
    pub truncated: bool,
}

/// How file content travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileEncoding {
    /// Strict UTF-8 text.
    #[default]
    Utf8,
    /// The raw bytes, base64.
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadFileParams {
    /// Absolute path.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<FileEncoding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadFileResult {
    pub path: String,
    pub content: Option<String>,
    pub encoding: FileEncoding,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WriteFileParams {
    /// Absolute path; missing parent directories are created.
    pub path: String,
    /// The whole new content.
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WriteFileResult {
    pub path: String,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EditFileParams {
    /// Absolute path.
    pub file_path: String,
    /// Text to find, exactly.
    pub old_string: String,
    pub new_string: String,
    /// Replace every occurrence rather than requiring a single one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_all: Option<bool>,
    /// Occurrences expected; a different count changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_replacements: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EditFileResult {
    pub file_path: String,
    pub message: Option<String>,
    pub replacements: u64,
    /// 1-based line of the first replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u64>,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchBranchesParams {
    /// Substring of the branch name, any case; empty lists every branch.
    pub query: String,
    /// Branches returned at most (20 unless given, 200 at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u64>,
    /// A directory in the repository; the boot working directory when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// One local or remote-tracking branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitBranchInfo {
    /// `main`, or `origin/main` for a remote-tracking branch.
    pub name: String,
    pub is_current: bool,
    pub is_remote: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchBranchesResult {
    /// Local branches first, each group by name.
    pub branches: Vec<GitBranchInfo>,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckoutBranchParams {
    pub branch: String,
    /// Create the branch from the current commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<bool>,
    /// A directory in the repository; the boot working directory when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckoutBranchResult {
    /// The branch now checked out.
    pub branch: String,
    pub success: bool,
}

/// Params of `watch_file` and `unwatch_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchFileParams {
    /// Absolute path of the file.
    pub path: String,
    /// The frontend's own id for the command; no reply frame carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A watched file changed (or was replaced); sent to the connections that
/// watch it, changes within 150 ms coalesced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileChangedEvent {
    /// The path as `watch_file` named it.
    pub path: String,
    /// Modification time, Unix milliseconds.
    #[serde(rename = "lastModified")]
    pub last_modified: u64,
}
