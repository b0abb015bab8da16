//! Bash: a command line in its own process group, bounded in time and
//! output, killed with everything it started on timeout or abort.
//!
//! Output past [`MAX_OUTPUT_CHARS`] is always kept whole in a file under the
//! data directory (itself capped at [`MAX_SPILL_BYTES`] per stream). A
//! command run in the background is killed with its group when its
//! `timeout` (if given) runs out, when the turn that started it is aborted,
//! and when the daemon stops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::{ToolContext, ToolOutput, truncate_chars};
use crate::util::lock;

/// Characters of output returned to the agent; the rest goes to a file.
pub const MAX_OUTPUT_CHARS: usize = 30_000;
const DEFAULT_TIMEOUT_MS: u64 = 120_000;
const MAX_TIMEOUT_MS: u64 = 600_000;
/// Bytes of each stream kept in memory; beyond it the stream goes to a file.
const MEMORY_BYTES: usize = 256 * 1024;
/// Bytes of each stream kept in its overflow file; the rest is read and
/// dropped, so a runaway command cannot fill the disk.
pub const MAX_SPILL_BYTES: u64 = 64 * 1024 * 1024;
/// Background commands listed per runtime; the oldest ended ones go first,
/// and a new one is refused while this many run.
pub const MAX_BACKGROUND_JOBS: usize = 32;
/// How long a command may ignore SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// After the shell exits, how long to wait for children still holding its
/// output open.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// `description` is for the human and not read here.
#[derive(Clone, Deserialize)]
pub struct BashArgs {
    command: String,
    #[serde(default)]
    timeout: Option<f64>,
    #[serde(default)]
    run_in_background: Option<bool>,
}

/// A command started with `run_in_background`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackgroundJob {
    pub id: String,
    pub command: String,
    pub pid: Option<u32>,
    pub output_file: PathBuf,
    /// `running`, or `exited` with `exit_code`.
    pub status: &'static str,
    pub exit_code: Option<i32>,
}

/// A runtime's background commands, and a counter that moves when one
/// starts or ends.
#[derive(Debug, Clone)]
pub struct BackgroundJobs {
    jobs: Arc<Mutex<Vec<BackgroundJob>>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Default for BackgroundJobs {
    fn default() -> Self {
        BackgroundJobs {
            jobs: Arc::default(),
            changes: Arc::new(watch::channel(0).0),
        }
    }
}

impl BackgroundJobs {
    pub fn list(&self) -> Vec<BackgroundJob> {
        lock(&self.jobs).clone()
    }

    /// Watches for jobs starting and ending.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Lists a new job, dropping the oldest ended ones past the bound;
    /// refuses while [`MAX_BACKGROUND_JOBS`] are running.
    fn add(&self, job: BackgroundJob) -> Result<(), String> {
        {
            let mut jobs = lock(&self.jobs);
            let running = jobs.iter().filter(|job| job.status == "running").count();
            if running >= MAX_BACKGROUND_JOBS {
                return Err(format!(
                    "{running} background commands are running, the most a runtime keeps; \
                     wait for one to end or stop one first"
                ));
            }
            while jobs.len() >= MAX_BACKGROUND_JOBS {
                match jobs.iter().position(|job| job.status != "running") {
                    Some(ended) => jobs.remove(ended),
                    None => break,
                };
            }
            jobs.push(job);
        }
        self.changes.send_modify(|count| *count += 1);
        Ok(())
    }

    /// Ends every running job with its process group: SIGTERM, then
    /// SIGKILL for what is still there after a grace period. For the
    /// daemon's shutdown.
    pub async fn kill_all(&self) {
        let groups = |jobs: &[BackgroundJob]| -> Vec<i32> {
            jobs.iter()
                .filter(|job| job.status == "running")
                .filter_map(|job| job.pid.and_then(|pid| i32::try_from(pid).ok()))
                .collect()
        };
        let running = groups(&lock(&self.jobs));
        for pid in &running {
            let _ = killpg(Pid::from_raw(*pid), Signal::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + TERM_GRACE;
        while !groups(&lock(&self.jobs)).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for pid in running {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn finish(&self, id: &str, exit_code: Option<i32>) {
        if let Some(job) = lock(&self.jobs).iter_mut().find(|job| job.id == id) {
            job.status = "exited";
            job.exit_code = exit_code;
        }
        self.changes.send_modify(|count| *count += 1);
    }
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
    if shown_text(&stdout, &stderr).chars().count() > MAX_OUTPUT_CHARS {
        keep_overflow(&mut stdout, spill_path(context, "stdout")).await;
        keep_overflow(&mut stderr, spill_path(context, "stderr")).await;
    }
    Ok(compose(&stdout, &stderr, &ending, timeout_ms))
}

enum Ending {
    Exited(Option<i32>),
    TimedOut,
    Aborted,
}

fn shell(command_line: &str, cwd: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(command_line)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    command
}

fn exit_code(status: &std::process::ExitStatus) -> Option<i32> {
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
async fn kill_group(child: &mut Child) {
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

/// One output stream: its head in memory, all of it in a file once it
/// outgrows memory.
#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    total: u64,
    spilled_to: Option<PathBuf>,
    /// Bytes written to the overflow file.
    spilled: u64,
}

fn spill_path(context: &ToolContext, stream: &str) -> PathBuf {
    context
        .output_dir
        .join(format!("{}.{stream}.txt", file_safe(&context.tool_call_id)))
}

async fn capture(stream: Option<impl AsyncRead + Unpin>, spill_to: PathBuf) -> Captured {
    let mut captured = Captured::default();
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut spill: Option<tokio::fs::File> = None;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        captured.total += read as u64;
        if captured.head.len() + read <= MEMORY_BYTES && spill.is_none() {
            captured.head.extend_from_slice(chunk);
            continue;
        }
        if spill.is_none() && captured.spilled_to.is_none() {
            spill = open_spill(&spill_to, &captured.head).await;
            captured.spilled_to = spill.as_ref().map(|_| spill_to.clone());
            captured.spilled = captured.head.len() as u64;
        }
        if let Some(file) = spill.as_mut() {
            let room = usize::try_from(MAX_SPILL_BYTES.saturating_sub(captured.spilled))
                .unwrap_or(usize::MAX)
                .min(read);
            if room > 0
                && tokio::io::AsyncWriteExt::write_all(file, &chunk[..room])
                    .await
                    .is_ok()
            {
                captured.spilled += room as u64;
            }
        }
        let room = MEMORY_BYTES.saturating_sub(captured.head.len());
        captured.head.extend_from_slice(&chunk[..room.min(read)]);
    }
    if let Some(file) = spill.as_mut() {
        // tokio writes files in the background: wait until all of it is there.
        let _ = tokio::io::AsyncWriteExt::flush(file).await;
    }
    captured
}

async fn open_spill(path: &Path, head: &[u8]) -> Option<tokio::fs::File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.ok()?;
    }
    let mut file = tokio::fs::File::create(path).await.ok()?;
    tokio::io::AsyncWriteExt::write_all(&mut file, head)
        .await
        .ok()?;
    Some(file)
}

/// Output too long to return whole is kept whole in a file, even when it
/// fit in memory.
async fn keep_overflow(captured: &mut Captured, path: PathBuf) {
    if captured.spilled_to.is_some() || captured.head.is_empty() {
        return;
    }
    if let Some(mut file) = open_spill(&path, &captured.head).await
        && tokio::io::AsyncWriteExt::flush(&mut file).await.is_ok()
    {
        captured.spilled = captured.head.len() as u64;
        captured.spilled_to = Some(path);
    }
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .collect()
}

/// Both streams as the agent reads them, before cutting.
fn shown_text(stdout: &Captured, stderr: &Captured) -> String {
    let out = String::from_utf8_lossy(&stdout.head);
    let err = String::from_utf8_lossy(&stderr.head);
    let mut text = out.trim_end_matches('\n').to_owned();
    if !err.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str("[stderr]\n");
        text.push_str(err.trim_end_matches('\n'));
    }
    text
}

/// The text the agent gets: stdout, stderr, and how the command ended.
fn compose(stdout: &Captured, stderr: &Captured, ending: &Ending, timeout_ms: u64) -> ToolOutput {
    let text = shown_text(stdout, stderr);
    let whole_kept = stdout.spilled_to.is_none() && stderr.spilled_to.is_none();
    let (shown, cut) = truncate_chars(&text, MAX_OUTPUT_CHARS);
    let mut result = shown.to_owned();
    if cut || !whole_kept {
        result.push_str(&format!(
            "\n[output cut at {MAX_OUTPUT_CHARS} characters ({} bytes of stdout, {} of stderr)",
            stdout.total, stderr.total
        ));
        for (name, captured) in [("stdout", stdout), ("stderr", stderr)] {
            if let Some(path) = &captured.spilled_to {
                result.push_str(&format!("; full {name} in {}", path.display()));
                if captured.spilled < captured.total {
                    result.push_str(&format!(
                        " (its first {} bytes: the file is capped)",
                        captured.spilled
                    ));
                }
            }
        }
        result.push(']');
    }
    let is_error = match ending {
        Ending::Exited(Some(0)) => false,
        Ending::Exited(Some(code)) => {
            result.push_str(&format!("\n[exit code {code}]"));
            true
        }
        Ending::Exited(None) => {
            result.push_str("\n[exit status unknown]");
            true
        }
        Ending::TimedOut => {
            result.push_str(&format!(
                "\n[killed after {timeout_ms} ms: the command timed out]"
            ));
            true
        }
        Ending::Aborted => {
            result.push_str("\n[killed: the turn was aborted]");
            true
        }
    };
    if result.is_empty() {
        result.push_str("(no output)");
    }
    ToolOutput {
        text: result,
        is_error,
    }
}

fn start_background(
    command_line: &str,
    timeout: Option<Duration>,
    context: &ToolContext,
) -> Result<ToolOutput, String> {
    std::fs::create_dir_all(&context.output_dir)
        .map_err(|err| format!("cannot create {}: {err}", context.output_dir.display()))?;
    let id = format!("bash-{}", file_safe(&context.tool_call_id));
    let output_file = context.output_dir.join(format!("{id}.log"));
    let file = std::fs::File::create(&output_file)
        .map_err(|err| format!("cannot create {}: {err}", output_file.display()))?;
    let stderr = file
        .try_clone()
        .map_err(|err| format!("cannot share {}: {err}", output_file.display()))?;
    let mut command = shell(command_line, &context.cwd);
    command
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(false);
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot start bash: {err}"))?;
    let pid = child.id();
    let listed = context.jobs.add(BackgroundJob {
        id: id.clone(),
        command: command_line.to_owned(),
        pid,
        output_file: output_file.clone(),
        status: "running",
        exit_code: None,
    });
    if let Err(refused) = listed {
        // Not started as far as anyone can see: end it at once.
        tokio::spawn(async move { kill_group(&mut child).await });
        return Err(refused);
    }
    let jobs = context.jobs.clone();
    let job_id = id.clone();
    let cancel = context.cancel.clone();
    tokio::spawn(async move {
        let time_out = async {
            match timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        let ended = tokio::select! {
            status = child.wait() => status.ok(),
            () = time_out => None,
            () = cancel.cancelled() => None,
        };
        let status = match ended {
            Some(status) => Some(status),
            None => {
                kill_group(&mut child).await;
                child.try_wait().ok().flatten()
            }
        };
        jobs.finish(&job_id, status.as_ref().and_then(exit_code));
    });
    Ok(ToolOutput::ok(format!(
        "Started in the background as {id} (pid {}). Its output goes to {}; the job is listed \
         under background_processes in the device status with its exit code when it ends. It is \
         stopped when its timeout (if one was given) runs out, when this turn is aborted, and \
         when the daemon stops.",
        pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
        output_file.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn context(dir: &Path) -> ToolContext {
        ToolContext::in_dir(dir)
    }

    fn args(command: &str, timeout: Option<f64>) -> BashArgs {
        BashArgs {
            command: command.into(),
            timeout,
            run_in_background: None,
        }
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
    async fn background_commands_end_with_their_timeout_abort_or_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let background = |command: &str, timeout: Option<f64>| BashArgs {
            command: command.into(),
            timeout,
            run_in_background: Some(true),
        };
        let wait_exited = |ctx: &ToolContext, index: usize| {
            let jobs = ctx.jobs.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(10), async {
                    while jobs.list()[index].status != "exited" {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await
                .unwrap();
            }
        };
        // Timeout: the group goes, the child it started too.
        let ctx = context(dir.path());
        let marker = dir.path().join("after-timeout");
        let command = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        run(background(&command, Some(300.0)), &ctx).await.unwrap();
        wait_exited(&ctx, 0).await;
        // Abort of the turn that started it.
        let ctx = context(dir.path());
        run(background("sleep 30", None), &ctx).await.unwrap();
        ctx.cancel.cancel();
        wait_exited(&ctx, 0).await;
        // The daemon stopping.
        let ctx = context(dir.path());
        run(background("sleep 30", None), &ctx).await.unwrap();
        ctx.jobs.kill_all().await;
        wait_exited(&ctx, 0).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !marker.exists(),
            "the timed-out command's child was killed too"
        );
    }

    #[tokio::test]
    async fn background_jobs_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let background = BashArgs {
            command: "sleep 30".into(),
            timeout: None,
            run_in_background: Some(true),
        };
        for _ in 0..MAX_BACKGROUND_JOBS {
            run(background.clone(), &ctx).await.unwrap();
        }
        let refused = run(background, &ctx).await.unwrap_err();
        assert!(
            refused.contains("background commands are running"),
            "{refused}"
        );
        ctx.jobs.kill_all().await;
        assert_eq!(ctx.jobs.list().len(), MAX_BACKGROUND_JOBS);
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

    #[tokio::test]
    async fn background_commands_report_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let mut background = args("echo from-the-background; exit 4", None);
        background.run_in_background = Some(true);
        let out = run(background, &ctx).await.unwrap();
        assert!(
            out.text.contains("Started in the background"),
            "{}",
            out.text
        );
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if ctx.jobs.list()[0].status == "exited" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        let job = &ctx.jobs.list()[0];
        assert_eq!(job.exit_code, Some(4));
        let output = std::fs::read_to_string(&job.output_file).unwrap();
        assert_eq!(output, "from-the-background\n");
    }
}
