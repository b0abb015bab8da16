//! Running the user's `git`: never prompting, never waiting past a limit,
//! killed when its caller gives up.

use std::path::Path;
use std::time::Duration;

/// Why a git command gave no output.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// Git could not be started, or took too long.
    #[error("{0}")]
    Unavailable(String),
    /// Git ran and refused; its standard error, trimmed.
    #[error("git {command} failed: {stderr}")]
    Refused { command: String, stderr: String },
}

/// Whether the repository's hooks and file-system monitor may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hooks {
    /// The human asked for this; their repository's setup applies.
    Run,
    /// The agent asked for this; nothing the repository configures runs.
    Off,
}

/// Runs `git args…` in `dir`; its standard output as it printed it.
pub async fn run(
    dir: &Path,
    args: &[&str],
    limit: Duration,
    hooks: Hooks,
) -> Result<String, GitError> {
    let mut command = tokio::process::Command::new("git");
    if hooks == Hooks::Off {
        command.args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
        ]);
    }
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| {
            GitError::Unavailable(format!("git {} took longer than {limit:?}", args.join(" ")))
        })?
        .map_err(|err| GitError::Unavailable(format!("cannot run git: {err}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(GitError::Refused {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
