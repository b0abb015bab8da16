//! A live command session: a process in a pseudo-terminal (or with closed
//! stdin and piped output), its output kept in a bounded buffer the agent
//! reads from call to call, and a copy of all of it in a file.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::tools::bash::MAX_SPILL_BYTES;
use crate::tools::capped_file::CappedFile;
use crate::tools::{BackgroundJob, BackgroundJobs, ToolContext};
use crate::util::lock;

/// Bytes of a session's output kept for the agent to read; older output is
/// dropped (it stays in the session's file).
const MAX_BUFFERED_BYTES: usize = 1024 * 1024;
/// The terminal a session gets: wide, so output is not wrapped.
const TERMINAL_ROWS: u16 = 50;
const TERMINAL_COLUMNS: u16 = 200;
/// How long after its process ends a session's output may still arrive
/// (from children holding the terminal open).
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// A session ends after this long whatever it is doing, so nothing the
/// agent forgot runs for days.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The live sessions of one runtime, by id.
#[derive(Debug, Clone, Default)]
pub struct ExecSessions {
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

impl ExecSessions {
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Forgets sessions whose end the agent has seen, or that are no
    /// longer listed as jobs.
    fn prune(&self, jobs: &BackgroundJobs) {
        lock(&self.sessions).retain(|id, _| {
            jobs.get(id)
                .is_some_and(|job| job.status == "running" || !job.end_seen)
        });
    }

    fn insert(&self, session: Arc<Session>) {
        lock(&self.sessions).insert(session.id.clone(), session);
    }

    pub fn remove(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }
}

/// A session's id: unique among this daemon's sessions, and unlikely to
/// repeat one from before a restart, so a stale id is refused rather than
/// typed into a stranger.
fn next_id() -> String {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    NEXT.get_or_init(|| AtomicU32::new(fastrand::u32(1_000..900_000)))
        .fetch_add(1, Ordering::Relaxed)
        .to_string()
}

#[derive(Debug)]
pub struct Session {
    pub id: String,
    pub tty: bool,
    pub pid: Option<u32>,
    output: Mutex<Output>,
    grew: Notify,
    stdin: tokio::sync::Mutex<Option<pty_process::OwnedWritePty>>,
}

#[derive(Debug, Default)]
struct Output {
    buffered: VecDeque<u8>,
    /// Offset in the whole output of the first buffered byte.
    start: u64,
    /// Offset up to which the agent has read.
    read: u64,
    /// Readers still running (the process's output is not all in yet).
    readers: usize,
    /// All of the output, up to [`MAX_SPILL_BYTES`].
    file: Option<CappedFile>,
}

impl Output {
    fn end(&self) -> u64 {
        self.start + self.buffered.len() as u64
    }

    fn append(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file {
            file.write(bytes);
        }
        self.buffered.extend(bytes);
        let over = self.buffered.len().saturating_sub(MAX_BUFFERED_BYTES);
        self.buffered.drain(..over);
        self.start += over as u64;
    }
}

/// What a process printed since the agent last read, and what was lost.
pub struct Unread {
    pub text: String,
    /// Bytes dropped from the buffer before the agent read them.
    pub dropped: u64,
}

/// How a session starts.
pub struct Launch<'a> {
    pub command_line: &'a str,
    pub shell: &'a str,
    pub login: bool,
    pub tty: bool,
    pub workdir: PathBuf,
}

/// Starts a session and lists it with the runtime's jobs.
pub fn start(launch: Launch<'_>, context: &ToolContext) -> Result<Arc<Session>, String> {
    std::fs::create_dir_all(&context.output_dir)
        .map_err(|err| format!("cannot create {}: {err}", context.output_dir.display()))?;
    context.sessions.prune(&context.jobs);
    let id = next_id();
    let output_file = context.output_dir.join(format!("exec-{id}.log"));
    let file = std::fs::File::create(&output_file)
        .map_err(|err| format!("cannot create {}: {err}", output_file.display()))?;
    let flag = if launch.login { "-lc" } else { "-c" };
    let (child, stdin, readers): (_, _, Vec<Box<dyn AsyncRead + Send + Unpin>>) = if launch.tty {
        let spawned = crate::pty::spawn(&crate::pty::Launch {
            program: launch.shell,
            args: &[flag, launch.command_line],
            cwd: &launch.workdir,
            env: &[("TERM", "dumb"), ("PAGER", "cat"), ("GIT_PAGER", "cat")],
            rows: TERMINAL_ROWS,
            cols: TERMINAL_COLUMNS,
        })?;
        let readers: Vec<Box<dyn AsyncRead + Send + Unpin>> = vec![Box::new(spawned.output)];
        (spawned.child, Some(spawned.input), readers)
    } else {
        let mut command = tokio::process::Command::new(launch.shell);
        command
            .arg(flag)
            .arg(launch.command_line)
            .current_dir(&launch.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PAGER", "cat")
            .env("GIT_PAGER", "cat")
            .process_group(0)
            .kill_on_drop(false);
        crate::child_signals::reset_in(&mut command);
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", launch.shell))?;
        let mut readers: Vec<Box<dyn AsyncRead + Send + Unpin>> = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(Box::new(stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(Box::new(stderr));
        }
        (child, None, readers)
    };
    let session = Arc::new(Session {
        id: id.clone(),
        tty: launch.tty,
        pid: child.id(),
        output: Mutex::new(Output {
            readers: readers.len(),
            file: Some(CappedFile::new(file, MAX_SPILL_BYTES)),
            ..Output::default()
        }),
        grew: Notify::new(),
        stdin: tokio::sync::Mutex::new(stdin),
    });
    let mut job = BackgroundJob::running(id, "exec", launch.command_line, child.id(), output_file);
    job.watched = true;
    context
        .jobs
        .start(job, child, Some(SESSION_LIFETIME), context.cancel.clone())?;
    for reader in readers {
        tokio::spawn(read_into(session.clone(), reader));
    }
    context.sessions.insert(session.clone());
    Ok(session)
}

/// Copies one stream of the process into the session's output until it
/// closes (a terminal whose every process is gone reads as an error).
async fn read_into(session: Arc<Session>, mut reader: Box<dyn AsyncRead + Send + Unpin>) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => lock(&session.output).append(&chunk[..read]),
        }
        session.grew.notify_waiters();
    }
    lock(&session.output).readers -= 1;
    session.grew.notify_waiters();
}

impl Session {
    /// Types `chars` into the session's terminal.
    pub async fn type_in(&self, chars: &str) -> Result<(), String> {
        let mut stdin = self.stdin.lock().await;
        let Some(stdin) = stdin.as_mut() else {
            return Err(format!(
                "session {} was started without a terminal, so its input is closed; start the \
                 command again with exec_command and tty: true to type into it",
                self.id
            ));
        };
        stdin
            .write_all(chars.as_bytes())
            .await
            .and(stdin.flush().await)
            .map_err(|err| format!("cannot type into session {}: {err}", self.id))
    }

    /// Interrupts the session's foreground work (SIGINT to its group), as
    /// Ctrl-C would.
    pub fn interrupt(&self) -> Result<(), String> {
        let pid = self
            .pid
            .and_then(|pid| i32::try_from(pid).ok())
            .ok_or_else(|| format!("session {} has no process to interrupt", self.id))?;
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        )
        .map_err(|err| format!("cannot interrupt session {}: {err}", self.id))
    }

    /// Waits a short while for the output of an ended process to be all
    /// in (children may still hold its terminal or pipes open).
    pub async fn drain(&self) {
        let _ = tokio::time::timeout(DRAIN_GRACE, async {
            loop {
                let grew = self.grew.notified();
                if lock(&self.output).readers == 0 {
                    return;
                }
                grew.await;
            }
        })
        .await;
    }

    /// The output the agent has not read yet, marked as read. While the
    /// process runs, a character cut in half at the end waits for its
    /// other half.
    pub fn take_unread(&self, complete: bool) -> Unread {
        let mut output = lock(&self.output);
        let from = output.read.max(output.start);
        let dropped = from - output.read;
        let skip = usize::try_from(from - output.start).unwrap_or(usize::MAX);
        let bytes: Vec<u8> = output.buffered.iter().skip(skip).copied().collect();
        let mut taken = bytes.len();
        if !complete
            && let Err(err) = std::str::from_utf8(&bytes)
            && err.error_len().is_none()
        {
            taken = err.valid_up_to();
        }
        output.read = from + taken as u64;
        if output.read > output.end() {
            output.read = output.end();
        }
        Unread {
            text: String::from_utf8_lossy(&bytes[..taken]).replace("\r\n", "\n"),
            dropped,
        }
    }
}
