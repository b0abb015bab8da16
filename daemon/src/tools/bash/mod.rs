//! Bash: a command line in its own process group, bounded in time and
//! output, killed with everything it started on timeout or abort.
//!
//! Output past [`MAX_OUTPUT_CHARS`] is always kept whole in a file under the
//! data directory (itself capped at [`output::MAX_SPILL_BYTES`] per stream). A
//! command run in the background is killed with its group when its
//! `timeout` (if given) runs out, when the turn that started it is aborted,
//! and when the daemon stops.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use tokio::process::{Child, Command};

mod background;
mod output;

pub use output::MAX_OUTPUT_CHARS;
pub(crate) use output::MAX_SPILL_BYTES;

use super::{ToolContext, ToolOutput};
use background::start_background;
use output::{Ending, capture, compose, keep_overflow, shown_text, spill_path};

const DEFAULT_TIMEOUT_MS: u64 = 120_000;
const MAX_TIMEOUT_MS: u64 = 600_000;
/// How long a command may ignore SIGTERM before SIGKILL.
pub(crate) const TERM_GRACE: Duration = Duration::from_secs(2);
/// After the shell exits, how long to wait for children still holding its
/// output open.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// `description` is for the human and not read here.
#[derive(Deserialize)]
pub struct BashArgs {
    command: String,
    #[serde(default)]
    timeout: Option<f64>,
    #[serde(default)]
    run_in_background: Option<bool>,
}

pub async fn run(args: BashArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    if args.command.trim().is_empty() {
        return Err("command is empty".into());
    }
    if !context.cwd.is_dir() {
        return Err(format!(
            "the working directory {} does not exist",
            context.cwd.display()
        ));
    }
    let timeout_ms = match args.timeout {
        None => DEFAULT_TIMEOUT_MS,
        Some(ms) if ms > 0.0 => (ms as u64).min(MAX_TIMEOUT_MS),
        Some(ms) => {
            return Err(format!(
                "timeout must be a positive number of milliseconds, not {ms}"
            ));
        }
    };
    if args.run_in_background.unwrap_or(false) {
        let timeout = args.timeout.map(|_| Duration::from_millis(timeout_ms));
        return start_background(&args.command, timeout, context);
    }
    let mut command = shell(&args.command, &context.cwd);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot start bash: {err}"))?;
    // The pipes are drained while the command runs, or it would block on
    // a full pipe.
    let stdout = tokio::spawn(capture(child.stdout.take(), spill_path(context, "stdout")));
    let stderr = tokio::spawn(capture(child.stderr.take(), spill_path(context, "stderr")));
    let readers = async {
        let (stdout, stderr) = tokio::join!(stdout, stderr);
        (stdout.unwrap_or_default(), stderr.unwrap_or_default())
    };
    tokio::pin!(readers);

    let ending = tokio::select! {
        status = child.wait() => Ending::Exited(status.ok().and_then(|status| exit_code(&status))),
        () = tokio::time::sleep(Duration::from_millis(timeout_ms)) => Ending::TimedOut,
        () = context.cancel.cancelled() => Ending::Aborted,
    };
    if !matches!(ending, Ending::Exited(_)) {
        kill_group(&mut child).await;
    }
    let (mut stdout, mut stderr) = match tokio::time::timeout(DRAIN_GRACE, &mut readers).await {
        Ok(captured) => captured,
        Err(_) => {
            // Something the command started still holds its output open.
            kill_group(&mut child).await;
            tokio::time::timeout(DRAIN_GRACE, &mut readers)
                .await
                .unwrap_or_default()
        }
    };
    let text = shown_text(&stdout, &stderr);
    if text.chars().count() > MAX_OUTPUT_CHARS {
        keep_overflow(&mut stdout, spill_path(context, "stdout")).await;
        keep_overflow(&mut stderr, spill_path(context, "stderr")).await;
    }
    Ok(compose(&text, &stdout, &stderr, &ending, timeout_ms))
}

pub(crate) fn shell(command_line: &str, cwd: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(command_line)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command.process_group(0);
    crate::child_signals::reset_in(&mut command);
    command
}

pub(crate) fn exit_code(status: &std::process::ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status
            .code()
            .or_else(|| status.signal().map(|signal| 128 + signal))
    }
    #[cfg(not(unix))]
    {
        status.code()
    }
}

/// SIGTERM to the whole group, SIGKILL if it lingers.
pub(crate) async fn kill_group(child: &mut Child) {
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    let group = Pid::from_raw(pid);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(TERM_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    } else {
        // The shell is gone; make sure nothing it started outlives it.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

#[cfg(test)]
impl BashArgs {
    /// A call's arguments, for the tests.
    pub(super) fn new(command: &str, timeout: Option<f64>, in_background: bool) -> BashArgs {
        BashArgs {
            command: command.into(),
            timeout,
            run_in_background: Some(in_background),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::output::MAX_SPILL_BYTES;
    use super::*;
    use std::time::Instant;

    fn context(dir: &Path) -> ToolContext {
        ToolContext::in_dir(dir)
    }

    fn args(command: &str, timeout: Option<f64>) -> BashArgs {
        BashArgs::new(command, timeout, false)
    }

    #[tokio::test]
    async fn output_exit_code_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let out = run(args("pwd; echo oops >&2; exit 3", None), &ctx)
            .await
            .unwrap();
        assert!(out.is_error);
        assert!(
            out.text.contains(&dir.path().display().to_string()),
            "{}",
            out.text
        );
        assert!(out.text.contains("[stderr]\noops"), "{}", out.text);
        assert!(out.text.ends_with("[exit code 3]"), "{}", out.text);
        let ok = run(args("true", None), &ctx).await.unwrap();
        assert_eq!(ok, ToolOutput::ok("(no output)"));
    }

    #[tokio::test]
    async fn long_output_is_cut_and_kept_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let out = run(args("seq 1 200000", None), &ctx).await.unwrap();
        assert!(!out.is_error);
        assert!(out.text.chars().count() < MAX_OUTPUT_CHARS + 400);
        let file = out.text.split("full stdout in ").nth(1).unwrap();
        let file = file.trim_end_matches(']');
        let kept = std::fs::read_to_string(file).unwrap();
        assert_eq!(kept.lines().count(), 200_000);
        assert_eq!(kept.lines().last(), Some("200000"));
    }

    /// Past 30,000 characters the output is kept whole in a file, also when
    /// it was small enough to stay in memory.
    #[tokio::test]
    async fn output_just_past_the_limit_is_kept_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        // About 40,000 characters: cut for the agent, under the memory spill.
        let out = run(args("seq 1 8000", None), &ctx).await.unwrap();
        let file = out.text.split("full stdout in ").nth(1).unwrap();
        let file = file.trim_end_matches(']');
        let kept = std::fs::read_to_string(file).unwrap();
        assert_eq!(kept.lines().count(), 8000);
    }

    #[tokio::test]
    async fn the_overflow_file_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let command = format!("head -c {} /dev/zero", MAX_SPILL_BYTES + 1024 * 1024);
        let out = run(args(&command, None), &ctx).await.unwrap();
        assert!(
            out.text.contains("the file is capped"),
            "{}",
            &out.text[out.text.len() - 300..]
        );
        let file = ctx.output_dir.join("call-1.stdout.txt");
        assert_eq!(std::fs::metadata(file).unwrap().len(), MAX_SPILL_BYTES);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let marker = dir.path().join("survived");
        let started = Instant::now();
        let command = format!("(sleep 3; touch {}) & sleep 30", marker.display());
        let out = run(args(&command, Some(300.0)), &ctx).await.unwrap();
        assert!(out.is_error);
        assert!(out.text.contains("timed out"), "{}", out.text);
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!marker.exists(), "the background child was killed too");
    }

    #[tokio::test]
    async fn abort_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.cancel();
        });
        let out = tokio::time::timeout(Duration::from_secs(10), run(args("sleep 60", None), &ctx))
            .await
            .unwrap()
            .unwrap();
        assert!(out.text.contains("aborted"), "{}", out.text);
    }
}
