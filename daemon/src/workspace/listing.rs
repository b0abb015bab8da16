//! Directory listings, the tree, and path search.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use letta_protocol::{
    EntryKind, GetTreeResult, ListInDirectoryResult, SearchFilesResult, TreeEntry,
};

use super::{Confined, WorkspaceError};
use crate::tools::is_hidden;

/// Never listed.
const SKIPPED: &[&str] = &[".git", ".DS_Store", "Thumbs.db"];
/// Also left out of the tree and of path search: build output, caches and
/// dependencies, which would drown the workspace's own files.
const SKIPPED_DEEP: &[&str] = &[
    ".cache",
    ".letta",
    ".next",
    ".nuxt",
    ".tox",
    ".venv",
    "bower_components",
    "build",
    "coverage",
    "dist",
    "node_modules",
    "out",
    "target",
    "vendor",
    "venv",
    "__pycache__",
];
/// Entries of one directory read at most.
const MAX_DIRECTORY_ENTRIES: usize = 50_000;
/// Entries a tree returns at most.
pub const MAX_TREE_ENTRIES: usize = 5_000;
/// Entries path search looks at, at most.
const MAX_SEARCH_VISITS: usize = 50_000;
/// Results path search returns at most.
pub const MAX_SEARCH_RESULTS: u64 = 200;

/// One directory's folders and files, sorted, symlinks left out (they could
/// lead anywhere); and whether the directory had more than was read.
struct Listing {
    folders: Vec<String>,
    files: Vec<String>,
    cut: bool,
}

fn list(dir: &Path, hidden: &globset::GlobSet, deep: bool) -> Result<Listing, WorkspaceError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|err| WorkspaceError::Failed(format!("cannot list {}: {err}", dir.display())))?;
    let mut listing = Listing {
        folders: Vec::new(),
        files: Vec::new(),
        cut: false,
    };
    for entry in entries.flatten() {
        if listing.folders.len() + listing.files.len() == MAX_DIRECTORY_ENTRIES {
            listing.cut = true;
            break;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if SKIPPED.contains(&name.as_str()) || (deep && SKIPPED_DEEP.contains(&name.as_str())) {
            continue;
        }
        if is_hidden(hidden, &entry.path()) {
            continue;
        }
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => listing.folders.push(name),
            Ok(kind) if kind.is_file() => listing.files.push(name),
            _ => {}
        }
    }
    listing.folders.sort();
    listing.files.sort();
    Ok(listing)
}

/// `list_in_directory`: folders, then files, paged together.
pub fn list_in_directory(
    dir: &Confined,
    asked: &str,
    include_files: bool,
    offset: u64,
    limit: Option<u64>,
) -> Result<ListInDirectoryResult, WorkspaceError> {
    let listing = list(dir.directory()?, &dir.hidden(), false)?;
    let folder_count = listing.folders.len();
    let files = if include_files {
        listing.files
    } else {
        Vec::new()
    };
    let total = folder_count + files.len();
    let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
    let end = limit
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(total, |limit| offset.saturating_add(limit).min(total));
    let mut folders = Vec::new();
    let mut page_files = Vec::new();
    for (index, name) in listing.folders.into_iter().chain(files).enumerate() {
        if (offset..end).contains(&index) {
            if index < folder_count {
                folders.push(name);
            } else {
                page_files.push(name);
            }
        }
    }
    Ok(ListInDirectoryResult {
        path: asked.to_owned(),
        folders,
        files: include_files.then_some(page_files),
        has_more: end < total || listing.cut,
        total: total as u64,
        success: true,
    })
}

/// `get_tree`: breadth first to `depth` levels, directories first at each.
pub fn get_tree(root: &Confined, asked: &str, depth: u32) -> Result<GetTreeResult, WorkspaceError> {
    let start = root.directory()?;
    let hidden = root.hidden();
    let mut entries = Vec::new();
    let mut has_more_depth = false;
    let mut queue: VecDeque<(PathBuf, String, u32)> =
        VecDeque::from([(start.to_path_buf(), String::new(), 0)]);
    'walk: while let Some((dir, relative, level)) = queue.pop_front() {
        if level >= depth {
            has_more_depth |= !relative.is_empty();
            continue;
        }
        let Ok(listing) = list(&dir, &hidden, true) else {
            continue;
        };
        has_more_depth |= listing.cut;
        let join = |name: &str| match relative.as_str() {
            "" => name.to_owned(),
            _ => format!("{relative}/{name}"),
        };
        for (names, kind) in [
            (listing.folders, EntryKind::Dir),
            (listing.files, EntryKind::File),
        ] {
            for name in names {
                if entries.len() == MAX_TREE_ENTRIES {
                    has_more_depth = true;
                    break 'walk;
                }
                let path = join(&name);
                if kind == EntryKind::Dir {
                    queue.push_back((dir.join(&name), path.clone(), level + 1));
                }
                entries.push(TreeEntry { path, kind });
            }
        }
    }
    Ok(GetTreeResult {
        path: asked.to_owned(),
        entries,
        has_more_depth,
        success: true,
    })
}

/// `search_files`: paths under `root` containing `query` (any case),
/// breadth first, so shallow paths come first.
pub fn search_files(
    root: &Confined,
    query: &str,
    max_results: u64,
) -> Result<SearchFilesResult, WorkspaceError> {
    let start = root.directory()?;
    let hidden = root.hidden();
    let query = query.trim().to_lowercase();
    let max = usize::try_from(max_results.clamp(1, MAX_SEARCH_RESULTS)).unwrap_or(1);
    let mut files = Vec::new();
    let mut visited = 0;
    let mut queue = VecDeque::from([start.to_path_buf()]);
    'walk: while let Some(dir) = queue.pop_front() {
        let Ok(listing) = list(&dir, &hidden, true) else {
            continue;
        };
        for (names, kind) in [
            (listing.folders, EntryKind::Dir),
            (listing.files, EntryKind::File),
        ] {
            for name in names {
                visited += 1;
                if visited > MAX_SEARCH_VISITS {
                    break 'walk;
                }
                let full = dir.join(&name);
                let relative = full
                    .strip_prefix(start)
                    .unwrap_or(&full)
                    .to_string_lossy()
                    .into_owned();
                if kind == EntryKind::Dir {
                    queue.push_back(full);
                }
                if query.is_empty() || relative.to_lowercase().contains(&query) {
                    files.push(TreeEntry {
                        path: relative,
                        kind,
                    });
                    if files.len() == max {
                        break 'walk;
                    }
                }
            }
        }
    }
    Ok(SearchFilesResult {
        files,
        success: true,
    })
}
