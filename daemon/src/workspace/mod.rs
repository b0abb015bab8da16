//! The workspace as a desktop frontend shows it to the human: listing,
//! search, find-in-files, reading and editing files.
//!
//! Every path is confined to the workspace roots — the boot working
//! directory and every runtime's working directory — after resolving
//! symlinks and `..`, and the settings files' `deny` rules hold here as
//! they do for the agent's tools.

mod files;
mod git;
mod grep;
mod listing;
mod watches;

use std::path::{Path, PathBuf};

use letta_protocol::PermissionMode;
use serde_json::{Map, Value};

use crate::permissions::settings::SettingsFiles;
use crate::permissions::{Call, Policy, Verdict};
use crate::tools::Effect;

pub use files::{Edit, edit_file, read_file, write_file};
pub use git::{checkout_branch, search_branches};
pub use grep::grep_in_files;
pub use listing::{get_tree, list_in_directory, search_files};
pub use watches::Watches;

/// Why a workspace command was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error(
        "{path} is outside the workspace roots ({roots}); start a runtime there or set_boot_working_directory to it first"
    )]
    Outside { path: String, roots: String },
    #[error("{path}: {reason}")]
    Denied { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// The change would lose or mix in work not yet saved.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Failed(String),
}

/// The directories file commands may touch, canonical.
#[derive(Debug, Clone)]
pub struct Roots {
    roots: Vec<PathBuf>,
}

/// A path inside a root, canonical (its last part may not exist yet).
#[derive(Debug, Clone)]
pub struct Confined {
    pub path: PathBuf,
    /// The innermost root holding it, whose settings files apply.
    pub root: PathBuf,
}

impl Roots {
    /// The roots among `dirs` that exist; the rest are left out.
    pub fn new(dirs: impl IntoIterator<Item = String>) -> Roots {
        // Runtimes mostly share a few folders: each is resolved once.
        let distinct: std::collections::BTreeSet<String> = dirs.into_iter().collect();
        let mut roots: Vec<PathBuf> = distinct
            .into_iter()
            .filter_map(|dir| std::fs::canonicalize(dir).ok())
            .filter(|dir| dir.is_dir())
            .collect();
        roots.sort();
        roots.dedup();
        Roots { roots }
    }

    /// An existing path, inside a root once symlinks are resolved.
    pub fn existing(&self, path: &str) -> Result<Confined, WorkspaceError> {
        let absolute = absolute(path)?;
        let canonical = std::fs::canonicalize(&absolute).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => WorkspaceError::NotFound(path.to_owned()),
            _ => WorkspaceError::Failed(format!("cannot resolve {path}: {err}")),
        })?;
        self.inside(path, canonical)
    }

    /// A path that may not exist yet: its nearest existing ancestor is
    /// resolved, and what follows it may hold no `..`.
    pub fn writable(&self, path: &str) -> Result<Confined, WorkspaceError> {
        let absolute = absolute(path)?;
        let mut existing = absolute.as_path();
        let mut rest = Vec::new();
        let canonical = loop {
            match std::fs::canonicalize(existing) {
                Ok(canonical) => break canonical,
                Err(_) => {
                    // No name: the path ends in `..` past a part that does
                    // not exist.
                    let (Some(parent), Some(name)) = (existing.parent(), existing.file_name())
                    else {
                        return Err(WorkspaceError::NotFound(path.to_owned()));
                    };
                    rest.push(name.to_owned());
                    existing = parent;
                }
            }
        };
        let full = rest
            .iter()
            .rev()
            .fold(canonical, |dir, name| dir.join(name));
        self.inside(path, full)
    }

    fn inside(&self, asked: &str, canonical: PathBuf) -> Result<Confined, WorkspaceError> {
        let root = self
            .roots
            .iter()
            .filter(|root| canonical.starts_with(root))
            .max_by_key(|root| root.as_os_str().len())
            .cloned()
            .ok_or_else(|| WorkspaceError::Outside {
                path: asked.to_owned(),
                roots: self.describe(),
            })?;
        Ok(Confined {
            path: canonical,
            root,
        })
    }

    fn describe(&self) -> String {
        if self.roots.is_empty() {
            return "none are open".to_owned();
        }
        self.roots
            .iter()
            .map(|root| root.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `path`, which must be absolute; `..` and symlinks are resolved by the
/// file system, not here, so a link followed by `..` means what it means to
/// the OS.
fn absolute(path: &str) -> Result<PathBuf, WorkspaceError> {
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(WorkspaceError::NotAbsolute(path.display().to_string()));
    }
    Ok(path)
}

impl Confined {
    fn policy(&self) -> Policy {
        Policy {
            mode: PermissionMode::Standard,
            cwd: self.root.clone(),
            rules: SettingsFiles::for_cwd(&self.root).load(),
        }
    }

    /// Refused when a `deny` rule would refuse the agent's `tool` on it.
    fn check(&self, tool: &str, effect: Effect) -> Result<(), WorkspaceError> {
        let mut input = Map::new();
        input.insert(
            "file_path".to_owned(),
            Value::from(self.path.display().to_string()),
        );
        let call = Call {
            tool,
            input: &input,
            effect,
        };
        match self.policy().decide(call) {
            Verdict::Deny { reason } => Err(WorkspaceError::Denied {
                path: self.path.display().to_string(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// The path, which must be a directory.
    pub fn directory(&self) -> Result<&Path, WorkspaceError> {
        if !self.path.is_dir() {
            return Err(WorkspaceError::Invalid(format!(
                "{} is not a directory",
                self.path.display()
            )));
        }
        Ok(&self.path)
    }

    pub fn check_read(&self) -> Result<(), WorkspaceError> {
        self.check("Read", Effect::ReadOnly)
    }

    pub fn check_write(&self) -> Result<(), WorkspaceError> {
        self.check("Write", Effect::Edit)
    }

    /// What reading would refuse, for listings and searches to leave out.
    pub fn hidden(&self) -> globset::GlobSet {
        self.policy().hidden_from_reads()
    }
}

#[cfg(test)]
mod tests;
