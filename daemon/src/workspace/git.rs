//! Branches of the repository a workspace directory is in, through the
//! `git` program the user already has (and its configuration, hooks and
//! credentials with it).

use std::path::Path;
use std::time::Duration;

use letta_protocol::{CheckoutBranchResult, GitBranchInfo, SearchBranchesResult};

use super::{Confined, WorkspaceError};
use crate::git::{GitError, Hooks};

/// How long a listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a checkout may take (hooks run).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// Branches returned at most.
const MAX_BRANCHES: u64 = 200;
/// Changed files a refused checkout names.
const NAMED_CHANGES: usize = 10;

/// Runs git in `dir`, the user's hooks included; its standard output.
async fn git(dir: &Path, args: &[&str], timeout: Duration) -> Result<String, WorkspaceError> {
    crate::git::run(dir, args, timeout, Hooks::Run)
        .await
        .map_err(|err| match err {
            GitError::Unavailable(reason) => WorkspaceError::Failed(reason),
            GitError::Refused { stderr, .. } if stderr.contains("not a git repository") => {
                WorkspaceError::Invalid(format!("{} is not in a git repository", dir.display()))
            }
            GitError::Refused { stderr, .. } => {
                WorkspaceError::Invalid(format!("git {}: {stderr}", args[0]))
            }
        })
}

/// `search_branches`.
pub async fn search_branches(
    dir: &Confined,
    query: &str,
    max_results: u64,
) -> Result<SearchBranchesResult, WorkspaceError> {
    let listed = git(
        dir.directory()?,
        &[
            "for-each-ref",
            "--format=%(refname)%00%(HEAD)",
            "refs/heads",
            "refs/remotes",
        ],
        LIST_TIMEOUT,
    )
    .await?;
    let query = query.to_lowercase();
    let max = usize::try_from(max_results.clamp(1, MAX_BRANCHES)).unwrap_or(1);
    let branches = listed
        .lines()
        .filter_map(|line| {
            let (reference, head) = line.split_once('\0')?;
            let (name, is_remote) = match reference.strip_prefix("refs/heads/") {
                Some(local) => (local, false),
                None => (reference.strip_prefix("refs/remotes/")?, true),
            };
            // `origin/HEAD` names another branch, not one of its own.
            if is_remote && name.ends_with("/HEAD") {
                return None;
            }
            Some(GitBranchInfo {
                name: name.to_owned(),
                is_current: head == "*",
                is_remote,
            })
        })
        .filter(|branch| query.is_empty() || branch.name.to_lowercase().contains(&query))
        .take(max)
        .collect();
    Ok(SearchBranchesResult {
        branches,
        success: true,
    })
}

/// `checkout_branch`: refused while tracked files have uncommitted changes,
/// which a checkout could carry over or lose.
pub async fn checkout_branch(
    dir: &Confined,
    branch: &str,
    create: bool,
) -> Result<CheckoutBranchResult, WorkspaceError> {
    let dir = dir.directory()?;
    // A name git would read as an option, or cannot hold, is refused here.
    if branch.starts_with('-') {
        return Err(WorkspaceError::Invalid(format!(
            "{branch:?} is not a branch name"
        )));
    }
    git(dir, &["check-ref-format", "--branch", branch], LIST_TIMEOUT)
        .await
        .map_err(|_| WorkspaceError::Invalid(format!("{branch:?} is not a valid branch name")))?;
    let changed = git(
        dir,
        &["status", "--porcelain", "--untracked-files=no"],
        LIST_TIMEOUT,
    )
    .await?;
    let files: Vec<&str> = changed.lines().filter_map(|line| line.get(3..)).collect();
    if !files.is_empty() {
        let mut named = files[..files.len().min(NAMED_CHANGES)].join(", ");
        if files.len() > NAMED_CHANGES {
            named.push_str(&format!(" and {} more", files.len() - NAMED_CHANGES));
        }
        return Err(WorkspaceError::Conflict(format!(
            "{} has uncommitted changes to tracked files ({named}); commit or stash them before checking out another branch",
            dir.display()
        )));
    }
    let args: &[&str] = if create {
        &["checkout", "-b", branch]
    } else {
        &["checkout", branch]
    };
    git(dir, args, CHECKOUT_TIMEOUT).await?;
    let current = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"], LIST_TIMEOUT).await?;
    Ok(CheckoutBranchResult {
        branch: current.trim().to_owned(),
        success: true,
    })
}
