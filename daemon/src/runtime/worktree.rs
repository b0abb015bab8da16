//! `EnterWorktree` and `ExitWorktree`: the runtime moves into a git
//! worktree and back out, keeping or removing it (see
//! [`crate::tools::worktree`] for the git side).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Runtime, RuntimeError};
use crate::store::StoreError;
use crate::tools::ToolOutput;
use crate::tools::worktree::{self, Exit};
use crate::util::lock;

impl Runtime {
    /// Runs an `EnterWorktree` or `ExitWorktree` call (already allowed).
    pub(crate) async fn run_worktree_call(
        &self,
        tool: &str,
        input: &Map<String, Value>,
    ) -> Result<ToolOutput, StoreError> {
        let cwd = PathBuf::from(lock(&self.state).cwd.clone());
        let answer = match tool {
            "EnterWorktree" => self.enter_worktree(input, &cwd).await,
            _ => self.exit_worktree(input, &cwd).await,
        };
        match answer {
            Ok(text) => Ok(ToolOutput::ok(text)),
            Err(RuntimeError::Store(err)) => Err(err),
            Err(err) => Ok(ToolOutput::error(format!("{tool}: {err}"))),
        }
    }

    async fn enter_worktree(
        &self,
        input: &Map<String, Value>,
        cwd: &Path,
    ) -> Result<String, RuntimeError> {
        let args = worktree::enter_args(input).map_err(RuntimeError::Invalid)?;
        let entered = worktree::enter(args, cwd)
            .await
            .map_err(RuntimeError::Invalid)?;
        let mut text = match (&entered.created_from, &entered.branch) {
            (Some(base), Some(branch)) => format!(
                "Created the worktree {} on the new branch {branch}, from {base}.",
                entered.path.display()
            ),
            (_, Some(branch)) => format!(
                "The worktree {} is on branch {branch}.",
                entered.path.display()
            ),
            _ => format!("The worktree {} is ready.", entered.path.display()),
        };
        if entered.switch {
            self.move_to(&entered.path).await?;
            text.push_str(
                " The working directory is now there; check it with `git status` before \
                 editing. Uncommitted changes of the previous checkout are not carried over.",
            );
        }
        for note in &entered.notes {
            text.push_str(&format!("\n- {note}"));
        }
        Ok(text)
    }

    async fn exit_worktree(
        &self,
        input: &Map<String, Value>,
        cwd: &Path,
    ) -> Result<String, RuntimeError> {
        let (remove, discard) = worktree::exit_args(input).map_err(RuntimeError::Invalid)?;
        let (primary, path, branch) = match worktree::plan_exit(cwd, remove)
            .await
            .map_err(RuntimeError::Invalid)?
        {
            Exit::NotInWorktree => {
                return Ok(format!(
                    "{} is not in a worktree under .letta/worktrees/: nothing to exit, nothing \
                     changed.",
                    cwd.display()
                ));
            }
            Exit::Leave {
                primary,
                worktree,
                branch,
                ..
            } => (primary, worktree, branch),
        };
        // Leave first, so removing it cannot strand the runtime in a
        // deleted directory.
        self.move_to(&primary).await?;
        let moved = format!("The working directory is now {}.", primary.display());
        if !remove {
            let branch = branch.map_or_else(String::new, |branch| format!(" (branch {branch})"));
            return Ok(format!(
                "{moved} The worktree {}{branch} is kept as it was.",
                path.display()
            ));
        }
        let done = worktree::remove(&primary, &path, branch.as_deref(), discard)
            .await
            .map_err(|err| RuntimeError::Invalid(format!("{moved} {err}")))?;
        Ok(format!("{moved} {done}."))
    }

    async fn move_to(&self, dir: &Path) -> Result<(), RuntimeError> {
        let change = letta_protocol::DeviceStateChange {
            cwd: Some(dir.display().to_string()),
            ..Default::default()
        };
        self.change_device_state(change).await
    }
}
