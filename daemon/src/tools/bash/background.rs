//! Commands run in the background: listed per runtime with their exit
//! code, bounded in number, and killed with their process group on their
//! timeout, on abort of the turn that started them, and on daemon stop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::output::file_safe;
use super::{TERM_GRACE, exit_code, kill_group, shell};
use crate::tools::{ToolContext, ToolOutput};
use crate::util::lock;

/// Background commands listed per runtime; the oldest ended ones go first,
/// and a new one is refused while this many run.
pub const MAX_BACKGROUND_JOBS: usize = 32;

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
    /// What ended it: `exit` (on its own), `timeout`, `abort` (the turn
    /// that started it), `stop` (`TaskStop`).
    pub ended_by: Option<&'static str>,
}

impl BackgroundJob {
    /// It ended without anyone stopping it: the agent should hear of it.
    pub fn ended_unasked(&self) -> bool {
        matches!(self.ended_by, Some("exit" | "timeout"))
    }
}

/// A runtime's background commands, and a counter that moves when one
/// starts or ends.
#[derive(Debug, Clone)]
pub struct BackgroundJobs {
    jobs: Arc<Mutex<Vec<BackgroundJob>>>,
    /// Cancelled to stop a running job (`TaskStop`).
    stops: Arc<Mutex<HashMap<String, CancellationToken>>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Default for BackgroundJobs {
    fn default() -> Self {
        BackgroundJobs {
            jobs: Arc::default(),
            stops: Arc::default(),
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
    /// daemon's shutdown; the jobs count as stopped, not as ended on their
    /// own.
    pub async fn kill_all(&self) {
        for stop in lock(&self.stops).values() {
            stop.cancel();
        }
        let groups = |jobs: &[BackgroundJob]| -> Vec<i32> {
            jobs.iter()
                .filter(|job| job.status == "running")
                .filter_map(|job| job.pid.and_then(|pid| i32::try_from(pid).ok()))
                .collect()
        };
        let deadline = tokio::time::Instant::now() + TERM_GRACE + Duration::from_millis(500);
        while !groups(&lock(&self.jobs)).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for pid in groups(&lock(&self.jobs)) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// Stops running job `id` with its process group and waits for it to
    /// end; says what happened, or why it could not.
    pub async fn stop(&self, id: &str) -> Result<String, String> {
        let Some(stop) = lock(&self.stops).get(id).cloned() else {
            let known = lock(&self.jobs).iter().any(|job| job.id == id);
            return Err(if known {
                format!("{id} has already ended")
            } else {
                format!("no background command {id}; the device status lists them")
            });
        };
        stop.cancel();
        let mut changes = self.changes();
        let ended = tokio::time::timeout(TERM_GRACE + Duration::from_secs(2), async {
            loop {
                if let Some(job) = lock(&self.jobs).iter().find(|job| job.id == id)
                    && job.status != "running"
                {
                    return job.exit_code;
                }
                if changes.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match ended {
            Ok(_) => Ok(format!("{id} is stopped")),
            Err(_) => Err(format!("{id} did not end after being stopped")),
        }
    }

    fn finish(&self, id: &str, exit_code: Option<i32>, ended_by: &'static str) {
        lock(&self.stops).remove(id);
        if let Some(job) = lock(&self.jobs).iter_mut().find(|job| job.id == id) {
            job.status = "exited";
            job.exit_code = exit_code;
            job.ended_by = Some(ended_by);
        }
        self.changes.send_modify(|count| *count += 1);
    }
}

pub(super) fn start_background(
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
        ended_by: None,
    });
    if let Err(refused) = listed {
        // Not started as far as anyone can see: end it at once.
        tokio::spawn(async move { kill_group(&mut child).await });
        return Err(refused);
    }
    let jobs = context.jobs.clone();
    let job_id = id.clone();
    let cancel = context.cancel.clone();
    let stop = CancellationToken::new();
    lock(&jobs.stops).insert(id.clone(), stop.clone());
    tokio::spawn(async move {
        let time_out = async {
            match timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        let (ended, ended_by) = tokio::select! {
            status = child.wait() => (status.ok(), "exit"),
            () = time_out => (None, "timeout"),
            () = cancel.cancelled() => (None, "abort"),
            () = stop.cancelled() => (None, "stop"),
        };
        let status = match ended {
            Some(status) => Some(status),
            None => {
                kill_group(&mut child).await;
                child.try_wait().ok().flatten()
            }
        };
        jobs.finish(&job_id, status.as_ref().and_then(exit_code), ended_by);
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
    use super::super::{BashArgs, run};
    use super::*;

    fn background(command: &str, timeout: Option<f64>) -> BashArgs {
        BashArgs::new(command, timeout, true)
    }

    /// Waits until job `index` has ended.
    async fn wait_exited(jobs: &BackgroundJobs, index: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while jobs.list()[index].status != "exited" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn background_commands_end_with_their_timeout_abort_or_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        // Timeout: the group goes, the child it started too.
        let ctx = ToolContext::in_dir(dir.path());
        let marker = dir.path().join("after-timeout");
        let command = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        run(background(&command, Some(300.0)), &ctx).await.unwrap();
        wait_exited(&ctx.jobs, 0).await;
        // Abort of the turn that started it.
        let ctx = ToolContext::in_dir(dir.path());
        run(background("sleep 30", None), &ctx).await.unwrap();
        ctx.cancel.cancel();
        wait_exited(&ctx.jobs, 0).await;
        // The daemon stopping.
        let ctx = ToolContext::in_dir(dir.path());
        run(background("sleep 30", None), &ctx).await.unwrap();
        ctx.jobs.kill_all().await;
        wait_exited(&ctx.jobs, 0).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !marker.exists(),
            "the timed-out command's child was killed too"
        );
    }

    #[tokio::test]
    async fn background_jobs_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ToolContext::in_dir(dir.path());
        for _ in 0..MAX_BACKGROUND_JOBS {
            run(background("sleep 30", None), &ctx).await.unwrap();
        }
        let refused = run(background("sleep 30", None), &ctx).await.unwrap_err();
        assert!(
            refused.contains("background commands are running"),
            "{refused}"
        );
        ctx.jobs.kill_all().await;
        assert_eq!(ctx.jobs.list().len(), MAX_BACKGROUND_JOBS);
    }

    #[tokio::test]
    async fn background_commands_report_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ToolContext::in_dir(dir.path());
        let out = run(background("echo from-the-background; exit 4", None), &ctx)
            .await
            .unwrap();
        assert!(
            out.text.contains("Started in the background"),
            "{}",
            out.text
        );
        wait_exited(&ctx.jobs, 0).await;
        let job = &ctx.jobs.list()[0];
        assert_eq!(job.exit_code, Some(4));
        let output = std::fs::read_to_string(&job.output_file).unwrap();
        assert_eq!(output, "from-the-background\n");
    }
}
