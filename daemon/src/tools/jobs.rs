//! Processes the agent left running: background commands, live command
//! sessions and monitors. Listed per runtime with their exit code, bounded
//! in number, and killed with their process group on their timeout, on
//! abort of the turn that started them, on `TaskStop`, and on daemon stop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::process::Child;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::bash::{TERM_GRACE, exit_code, kill_group};
use crate::util::lock;

/// Processes listed per runtime; the oldest ended ones go first, and a new
/// one is refused while this many run.
pub const MAX_BACKGROUND_JOBS: usize = 32;

/// A process the agent started that outlives the tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackgroundJob {
    #[serde(rename = "process_id")]
    pub id: String,
    /// `bash` (`run_in_background`), `exec` (an `exec_command` session) or
    /// `monitor`.
    pub kind: &'static str,
    pub command: String,
    /// What it is for, in the agent's words (monitors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub pid: Option<u32>,
    pub started_at_ms: i64,
    pub output_file: PathBuf,
    /// `running`, or `exited` with `exit_code`.
    pub status: &'static str,
    pub exit_code: Option<i32>,
    /// What ended it: `exit` (on its own), `timeout`, `abort` (the turn
    /// that started it), `stop` (`TaskStop`), `shutdown` (the daemon
    /// stopping).
    pub ended_by: Option<&'static str>,
    /// A tool call is waiting on its output now, and reports its end itself.
    #[serde(skip)]
    pub watched: bool,
    /// The agent saw it end in a tool result.
    #[serde(skip)]
    pub end_seen: bool,
}

impl BackgroundJob {
    /// A running job, started now.
    pub fn running(
        id: String,
        kind: &'static str,
        command: &str,
        pid: Option<u32>,
        output_file: PathBuf,
    ) -> BackgroundJob {
        BackgroundJob {
            id,
            kind,
            command: command.to_owned(),
            description: None,
            pid,
            started_at_ms: jiff::Timestamp::now().as_millisecond(),
            output_file,
            status: "running",
            exit_code: None,
            ended_by: None,
            watched: false,
            end_seen: false,
        }
    }

    /// It ended without anyone stopping it or seeing it end: the agent
    /// should hear of it.
    pub fn ended_unasked(&self) -> bool {
        matches!(self.ended_by, Some("exit" | "timeout")) && !self.watched && !self.end_seen
    }
}

/// A runtime's background processes, and a counter that moves when one
/// starts, ends or is no longer watched.
#[derive(Debug, Clone)]
pub struct BackgroundJobs {
    jobs: Arc<Mutex<Vec<BackgroundJob>>>,
    /// Cancelled to stop a running job (`TaskStop`).
    stops: Arc<Mutex<HashMap<String, CancellationToken>>>,
    /// Cancelled when the daemon stops.
    shutdown: CancellationToken,
    changes: Arc<watch::Sender<u64>>,
}

impl Default for BackgroundJobs {
    fn default() -> Self {
        BackgroundJobs {
            jobs: Arc::default(),
            stops: Arc::default(),
            shutdown: CancellationToken::new(),
            changes: Arc::new(watch::channel(0).0),
        }
    }
}

impl BackgroundJobs {
    pub fn list(&self) -> Vec<BackgroundJob> {
        lock(&self.jobs).clone()
    }

    /// Job `id`, as it is now.
    pub fn get(&self, id: &str) -> Option<BackgroundJob> {
        lock(&self.jobs).iter().find(|job| job.id == id).cloned()
    }

    /// Watches for jobs starting and ending.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Lists `job` and supervises `child` until it exits, its `timeout`
    /// runs out, `cancel` (the turn that started it) is cancelled, it is
    /// stopped, or the daemon stops. Refuses, ending the child at once,
    /// while [`MAX_BACKGROUND_JOBS`] are running.
    pub fn start(
        &self,
        job: BackgroundJob,
        mut child: Child,
        timeout: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<(), String> {
        let id = job.id.clone();
        let refused = if self.shutdown.is_cancelled() {
            Err("the daemon is stopping".to_owned())
        } else {
            self.add(job)
        };
        if let Err(refused) = refused {
            // Not started as far as anyone can see: end it at once.
            tokio::spawn(async move { kill_group(&mut child).await });
            return Err(refused);
        }
        let stop = CancellationToken::new();
        lock(&self.stops).insert(id.clone(), stop.clone());
        let jobs = self.clone();
        let shutdown = self.shutdown.clone();
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
                () = shutdown.cancelled() => (None, "shutdown"),
            };
            let status = match ended {
                Some(status) => Some(status),
                None => {
                    kill_group(&mut child).await;
                    child.try_wait().ok().flatten()
                }
            };
            jobs.finish(&id, status.as_ref().and_then(exit_code), ended_by);
        });
        Ok(())
    }

    /// Lists a new job, dropping the oldest ended ones past the bound;
    /// refuses while [`MAX_BACKGROUND_JOBS`] are running.
    fn add(&self, job: BackgroundJob) -> Result<(), String> {
        {
            let mut jobs = lock(&self.jobs);
            let running = jobs.iter().filter(|job| job.status == "running").count();
            if running >= MAX_BACKGROUND_JOBS {
                return Err(format!(
                    "{running} background processes are running, the most a runtime keeps; \
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

    /// Marks whether a tool call is waiting on job `id`'s output; when it
    /// stops waiting, returns the job as it is then and, if it has ended,
    /// counts its end as seen by the agent.
    pub fn watch(&self, id: &str, watched: bool) -> Option<BackgroundJob> {
        let job = {
            let mut jobs = lock(&self.jobs);
            let job = jobs.iter_mut().find(|job| job.id == id)?;
            job.watched = watched;
            if !watched && job.status != "running" {
                job.end_seen = true;
            }
            job.clone()
        };
        if !watched {
            self.changes.send_modify(|count| *count += 1);
        }
        Some(job)
    }

    /// Ends every running job with its process group: SIGTERM, then
    /// SIGKILL for what is still there after a grace period. For the
    /// daemon's shutdown: the jobs end `shutdown`, not on their own, and
    /// no new one starts.
    pub async fn kill_all(&self) {
        self.shutdown.cancel();
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
                format!("no background process {id}; the device status lists them")
            });
        };
        stop.cancel();
        match self.ended(id, TERM_GRACE + Duration::from_secs(2)).await {
            Some(_) => Ok(format!("{id} is stopped")),
            None => Err(format!("{id} did not end after being stopped")),
        }
    }

    /// Waits at most `limit` for job `id` to end; the job as it ended.
    pub async fn ended(&self, id: &str, limit: Duration) -> Option<BackgroundJob> {
        let mut changes = self.changes();
        tokio::time::timeout(limit, async {
            loop {
                match self.get(id) {
                    Some(job) if job.status != "running" => return Some(job),
                    None => return None,
                    Some(_) => {}
                }
                if changes.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await
        .ok()
        .flatten()
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
