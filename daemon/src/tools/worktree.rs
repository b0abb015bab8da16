//! `EnterWorktree` and `ExitWorktree`: git worktrees the agent works in,
//! kept under `<repository>/.letta/worktrees/` as Letta Code keeps them, so
//! either can pick up a worktree the other made. This module does the git
//! work; the runtime moves its working directory.
//!
//! Git runs with hooks and the fsmonitor command turned off, so creating a
//! worktree runs nothing the repository's configuration names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::arguments;

/// Where managed worktrees live, under the primary checkout.
const MANAGED_DIR: &str = ".letta/worktrees";
const MAX_NAME_CHARS: usize = 48;
const GIT_TIMEOUT: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(180);
/// Dependency folders `symlink_dependencies` shares with the new worktree.
const DEPENDENCY_DIRS: &[&str] = &["node_modules"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnterArgs {
    name: Option<String>,
    path: Option<String>,
    branch_name: Option<String>,
    base_ref: Option<String>,
    repo_path: Option<String>,
    refresh_base: Option<bool>,
    switch_cwd: Option<bool>,
    symlink_dependencies: Option<bool>,
    /// Taking over another agent's worktree: no locks are kept here, so
    /// there is nothing to force.
    #[allow(dead_code)]
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitArgs {
    action: String,
    discard_changes: Option<bool>,
}

/// A worktree entered (created or existing).
#[derive(Debug)]
pub struct Entered {
    pub path: PathBuf,
    pub branch: Option<String>,
    pub created_from: Option<String>,
    /// Whether the runtime is to move there.
    pub switch: bool,
    pub notes: Vec<String>,
}

/// Where `ExitWorktree` leads.
#[derive(Debug)]
pub enum Exit {
    /// The working directory is not a managed worktree: nothing to do.
    NotInWorktree,
    /// Move to `primary`, then finish with [`finish_exit`].
    Leave {
        primary: PathBuf,
        worktree: PathBuf,
        branch: Option<String>,
        remove: bool,
    },
}

pub fn enter_args(input: &Map<String, Value>) -> Result<EnterArgs, String> {
    arguments("EnterWorktree", input)
}

pub fn exit_args(input: &Map<String, Value>) -> Result<(bool, bool), String> {
    let args: ExitArgs = arguments("ExitWorktree", input)?;
    let remove = match args.action.as_str() {
        "keep" => false,
        "remove" => true,
        other => return Err(format!("action must be keep or remove, not {other:?}")),
    };
    Ok((remove, args.discard_changes.unwrap_or(false)))
}

/// Runs git in `dir` with the repository's hooks off; its trimmed standard
/// output, or what went wrong.
async fn git(dir: &Path, args: &[&str], limit: Duration) -> Result<String, String> {
    crate::git::run(dir, args, limit, crate::git::Hooks::Off)
        .await
        .map(|output| output.trim().to_owned())
        .map_err(|err| err.to_string())
}

/// The primary checkout of the repository `dir` is in (the main working
/// tree, also when `dir` is inside a linked worktree).
async fn primary_root(dir: &Path) -> Result<PathBuf, String> {
    let common = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
        GIT_TIMEOUT,
    )
    .await
    .map_err(|_| format!("{} is not inside a git repository", dir.display()))?;
    let common = PathBuf::from(common);
    match common.file_name() {
        Some(name) if name == ".git" => Ok(common.parent().unwrap_or(&common).to_path_buf()),
        _ => Err(format!(
            "the repository at {} has no working tree to add worktrees to",
            common.display()
        )),
    }
}

/// Registered worktrees: (path, branch).
async fn worktrees(root: &Path) -> Result<Vec<(PathBuf, Option<String>)>, String> {
    let listed = git(root, &["worktree", "list", "--porcelain"], GIT_TIMEOUT).await?;
    let mut found = Vec::new();
    for block in listed.split("\n\n") {
        let mut path = None;
        let mut branch = None;
        for line in block.lines() {
            if let Some(rest) = line.strip_prefix("worktree ") {
                path = Some(PathBuf::from(rest));
            } else if let Some(rest) = line.strip_prefix("branch refs/heads/") {
                branch = Some(rest.to_owned());
            }
        }
        if let Some(path) = path {
            found.push((canonical(&path), branch));
        }
    }
    Ok(found)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A name fit for a folder and a branch: lowercase letters, digits, `-`.
fn slug(name: &str) -> Result<String, String> {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug
        .trim_end_matches('-')
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    if slug.is_empty() {
        return Err("name must hold letters or digits".to_owned());
    }
    Ok(slug)
}

/// Creates a worktree (`name`) or picks an existing managed one (`path`).
pub async fn enter(args: EnterArgs, cwd: &Path) -> Result<Entered, String> {
    let switch = args.switch_cwd.unwrap_or(true);
    let source = match &args.repo_path {
        Some(repo) => super::resolve(cwd, repo),
        None => cwd.to_path_buf(),
    };
    let primary = canonical(&primary_root(&source).await?);
    let managed = primary.join(MANAGED_DIR);
    if let Some(path) = &args.path {
        if args.name.is_some() || args.branch_name.is_some() || args.base_ref.is_some() {
            return Err(
                "`path` enters an existing worktree; it cannot be combined with name, \
                 branch_name or base_ref"
                    .to_owned(),
            );
        }
        let path = canonical(&super::resolve(cwd, path));
        if !path.starts_with(&managed) || path == managed {
            return Err(format!(
                "only worktrees under {} can be entered",
                managed.display()
            ));
        }
        let Some((path, branch)) = worktrees(&primary)
            .await?
            .into_iter()
            .find(|(listed, _)| *listed == path)
        else {
            return Err(format!(
                "{} is not a registered worktree of {}",
                path.display(),
                primary.display()
            ));
        };
        return Ok(Entered {
            path,
            branch,
            created_from: None,
            switch,
            notes: Vec::new(),
        });
    }
    let Some(name) = &args.name else {
        return Err("give `name` to create a worktree, or `path` to enter one".to_owned());
    };
    let slug = slug(name)?;
    let path = (1..100)
        .map(|n| match n {
            1 => managed.join(&slug),
            n => managed.join(format!("{slug}-{n}")),
        })
        .find(|path| !path.exists())
        .ok_or_else(|| format!("too many worktrees named {slug}"))?;
    let branch = match &args.branch_name {
        Some(branch) => branch.trim().to_owned(),
        None => format!("letta/{slug}-{:08x}", fastrand::u32(..)),
    };
    git(
        &primary,
        &["check-ref-format", "--branch", &branch],
        GIT_TIMEOUT,
    )
    .await
    .map_err(|_| format!("{branch:?} is not a valid branch name"))?;
    let exists = git(
        &primary,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
        GIT_TIMEOUT,
    )
    .await
    .is_ok();
    if exists {
        return Err(format!("branch {branch} already exists"));
    }
    let base = match &args.base_ref {
        Some(base) => base.trim().to_owned(),
        None => default_base(&primary).await,
    };
    let mut notes = Vec::new();
    if args.refresh_base == Some(true)
        && let Some((remote, remote_branch)) = base.split_once('/')
    {
        let refspec = format!("{remote_branch}:refs/remotes/{remote}/{remote_branch}");
        match git(&primary, &["fetch", remote, &refspec], FETCH_TIMEOUT).await {
            Ok(_) => notes.push(format!("fetched {base}")),
            Err(err) => notes.push(format!("could not refresh {base}: {err}")),
        }
    }
    git(
        &primary,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base}^{{commit}}"),
        ],
        GIT_TIMEOUT,
    )
    .await
    .map_err(|_| format!("base ref {base} does not exist"))?;
    std::fs::create_dir_all(&managed)
        .map_err(|err| format!("cannot create {}: {err}", managed.display()))?;
    let path_text = path.display().to_string();
    git(
        &primary,
        &[
            "worktree",
            "add",
            "--no-track",
            "-b",
            &branch,
            &path_text,
            &base,
        ],
        GIT_TIMEOUT,
    )
    .await?;
    let path = canonical(&path);
    notes.extend(provision(
        &primary,
        &path,
        args.symlink_dependencies == Some(true),
    ));
    Ok(Entered {
        path,
        branch: Some(branch),
        created_from: Some(base),
        switch,
        notes,
    })
}

/// The remote's default branch if it is known, else the current commit.
async fn default_base(primary: &Path) -> String {
    git(
        primary,
        &[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ],
        GIT_TIMEOUT,
    )
    .await
    .ok()
    .filter(|base| !base.is_empty())
    .unwrap_or_else(|| "HEAD".to_owned())
}

/// Makes a fresh worktree usable: the local permission settings, and the
/// dependency folders if asked. Best effort: says what it did or could not.
fn provision(primary: &Path, worktree: &Path, link_dependencies: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let settings = Path::new(".letta/settings.local.json");
    if primary.join(settings).is_file() {
        let copied = std::fs::create_dir_all(worktree.join(".letta"))
            .and_then(|()| std::fs::copy(primary.join(settings), worktree.join(settings)));
        notes.push(match copied {
            Ok(_) => "copied .letta/settings.local.json".to_owned(),
            Err(err) => format!("could not copy .letta/settings.local.json: {err}"),
        });
    }
    if link_dependencies {
        for dir in DEPENDENCY_DIRS {
            let source = primary.join(dir);
            if source.is_dir() && !worktree.join(dir).exists() {
                notes.push(
                    match std::os::unix::fs::symlink(&source, worktree.join(dir)) {
                        Ok(()) => format!("linked {dir} from the primary checkout"),
                        Err(err) => format!("could not link {dir}: {err}"),
                    },
                );
            }
        }
    }
    notes
}

/// What `ExitWorktree` does from `cwd`.
pub async fn plan_exit(cwd: &Path, remove: bool) -> Result<Exit, String> {
    let Ok(primary) = primary_root(cwd).await else {
        return Ok(Exit::NotInWorktree);
    };
    let primary = canonical(&primary);
    let managed = primary.join(MANAGED_DIR);
    let cwd = canonical(cwd);
    let found = worktrees(&primary)
        .await?
        .into_iter()
        .find(|(path, _)| path.starts_with(&managed) && cwd.starts_with(path));
    Ok(match found {
        None => Exit::NotInWorktree,
        Some((worktree, branch)) => Exit::Leave {
            primary,
            worktree,
            branch,
            remove,
        },
    })
}

/// Work in a worktree that removing it would lose: uncommitted changes,
/// and commits no branch of the primary checkout has.
async fn unsaved_work(primary: &Path, worktree: &Path) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let status = git(
        worktree,
        &["status", "--porcelain", "--untracked-files=normal"],
        GIT_TIMEOUT,
    )
    .await?;
    let changed = status.lines().count();
    if changed > 0 {
        found.push(format!("{changed} uncommitted changed or new files"));
    }
    let primary_head = git(primary, &["rev-parse", "HEAD"], GIT_TIMEOUT).await?;
    let ahead = git(
        worktree,
        &["rev-list", "--count", "HEAD", "--not", &primary_head],
        GIT_TIMEOUT,
    )
    .await?;
    if ahead != "0" {
        found.push(format!(
            "{ahead} commits not in the primary checkout's current branch"
        ));
    }
    Ok(found)
}

/// Removes the worktree (after the runtime left it) unless that would lose
/// work and `discard` is false; says what was done.
pub async fn remove(
    primary: &Path,
    worktree: &Path,
    branch: Option<&str>,
    discard: bool,
) -> Result<String, String> {
    let unsaved = unsaved_work(primary, worktree).await?;
    if !unsaved.is_empty() && !discard {
        return Err(format!(
            "Kept the worktree {}: it holds {}. Ask the user; to delete it anyway, run \
             ExitWorktree again with discard_changes: true.",
            worktree.display(),
            unsaved.join(" and ")
        ));
    }
    let path = worktree.display().to_string();
    git(
        primary,
        &["worktree", "remove", "--force", &path],
        GIT_TIMEOUT,
    )
    .await?;
    let mut done = format!("Removed the worktree {path}");
    if let Some(branch) = branch {
        match git(primary, &["branch", "-D", branch], GIT_TIMEOUT).await {
            Ok(_) => done.push_str(&format!(" and its branch {branch}")),
            Err(err) => done.push_str(&format!("; its branch {branch} is left: {err}")),
        }
    }
    if !unsaved.is_empty() {
        done.push_str(&format!(", discarding {}", unsaved.join(" and ")));
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
