//! Terminals frontends open beside the chat: a shell in a pseudo-terminal
//! that outlives the connection that opened it. Its output goes to every
//! connection attached to it; a frontend that comes back attaches again and
//! gets what it missed from a bounded scroll-back, by byte offset. A
//! terminal ends with everything in it (its session) on `terminal_kill` or
//! when the daemon stops; how it ended is kept, so a frontend returning after a
//! restart is told.

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use letta_protocol::{
    TerminalExitedEvent, TerminalOutputEvent, TerminalSpawnResult, TerminalSpawnedEvent, events,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::EventSink;
use crate::store::{Store, StoreError};
use crate::util::lock;

/// Terminals running at once.
pub const MAX_TERMINALS: usize = 64;
/// Output kept per terminal for frontends that reattach.
pub const SCROLLBACK_BYTES: usize = 1024 * 1024;
/// Longest `terminal_id`.
const MAX_ID_CHARS: usize = 128;
/// Largest side of a terminal, in cells.
const MAX_CELLS: u16 = 1000;
/// How long output may still come after the shell ended (from what it
/// left holding the terminal).
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long typing may wait for the terminal's program to read.
const INPUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Between the hangup `terminal_kill` sends and the kill that follows.
const KILL_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("{0}")]
    Invalid(String),
    #[error("no terminal {0} runs")]
    NotRunning(String),
    #[error("terminal {id} ended (exit code {exit_code}){}", reason.as_deref().map(|reason| format!(": {reason}")).unwrap_or_default())]
    Ended {
        id: String,
        exit_code: i32,
        reason: Option<String>,
    },
    #[error("{0}")]
    Overloaded(String),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `terminal_spawn` asks for.
pub struct Spawn {
    pub id: String,
    pub cols: u16,
    pub rows: u16,
    pub cwd: PathBuf,
    pub after_offset: Option<u64>,
}

/// Every terminal of the daemon.
pub struct Terminals {
    store: Store,
    live: Mutex<HashMap<String, Arc<Terminal>>>,
}

struct Terminal {
    id: String,
    pid: u32,
    input: tokio::sync::Mutex<pty_process::OwnedWritePty>,
    output: Mutex<Output>,
}

#[derive(Default)]
struct Output {
    /// The newest output, whole characters only.
    scrollback: VecDeque<u8>,
    /// Offset of the first byte of `scrollback`.
    start: u64,
    /// The start of a character whose other bytes have not come yet.
    partial: Vec<u8>,
    /// Connections receiving the output.
    attached: Vec<(usize, Arc<dyn EventSink>)>,
}

impl Output {
    fn end(&self) -> u64 {
        self.start + self.scrollback.len() as u64
    }

    /// Keeps `bytes` (whole characters) and returns the offset after them.
    fn keep(&mut self, bytes: &[u8]) -> u64 {
        self.scrollback.extend(bytes);
        let over = self.scrollback.len().saturating_sub(SCROLLBACK_BYTES);
        self.scrollback.drain(..over);
        self.start += over as u64;
        self.end()
    }

    /// Sends `frame` to every attached connection; one that cannot take it
    /// now is cut, told to reattach from its offset.
    fn send(&mut self, id: &str, frame: &str) {
        self.attached.retain(|(_, sink)| {
            let pushed = sink.try_push(frame).is_ok();
            if !pushed {
                sink.close(format!(
                    "this connection fell behind terminal {id}'s output; reconnect and terminal_spawn it with after_offset"
                ));
            }
            pushed
        });
    }
}

fn frame<E: letta_protocol::Event>(body: &E::Frame) -> String {
    letta_protocol::event_frame::<E>(body)
        .map(|frame| frame.to_string())
        .unwrap_or_default()
}

impl Terminals {
    pub fn new(store: Store) -> Terminals {
        Terminals {
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Records that terminals an earlier daemon ran ended with it.
    pub async fn restore(&self) -> Result<u64, StoreError> {
        self.store
            .end_terminals_left_running("the daemon stopped while it ran")
            .await
    }

    /// Starts the terminal, or attaches `sink` to the running one of that
    /// id; either way `terminal_spawned` and then the output follow.
    pub async fn spawn(
        self: &Arc<Self>,
        spawn: Spawn,
        connection: usize,
        sink: Arc<dyn EventSink>,
    ) -> Result<TerminalSpawnResult, TerminalError> {
        if spawn.id.is_empty() || spawn.id.chars().count() > MAX_ID_CHARS {
            return Err(TerminalError::Invalid(format!(
                "terminal_id must have 1 to {MAX_ID_CHARS} characters"
            )));
        }
        let size = |cells: u16, default: u16| match cells {
            0 => Ok(default),
            cells if cells <= MAX_CELLS => Ok(cells),
            _ => Err(TerminalError::Invalid(format!(
                "a terminal is at most {MAX_CELLS} cells wide and high"
            ))),
        };
        let (cols, rows) = (size(spawn.cols, 80)?, size(spawn.rows, 24)?);
        let running = lock(&self.live).get(&spawn.id).cloned();
        if let Some(terminal) = running {
            terminal.attach(connection, sink, spawn.after_offset);
            terminal.resize(cols, rows).await?;
            return Ok(TerminalSpawnResult {
                success: true,
                terminal_id: spawn.id,
                pid: terminal.pid,
                attached: true,
            });
        }
        if spawn.after_offset.is_some()
            && let Some(end) = self.store.terminal_end(&spawn.id).await?
        {
            let exited = TerminalExitedEvent {
                terminal_id: spawn.id.clone(),
                exit_code: end.exit_code,
                error: end.end_reason.clone(),
            };
            let _ = sink.try_push(&frame::<events::TerminalExited>(&exited));
            return Err(TerminalError::Ended {
                id: spawn.id,
                exit_code: end.exit_code,
                reason: end.end_reason,
            });
        }
        if !spawn.cwd.is_dir() {
            return Err(TerminalError::Invalid(format!(
                "{} is not a directory",
                spawn.cwd.display()
            )));
        }
        let terminal = self.start(&spawn, cols, rows).await?;
        terminal.attach(connection, sink, None);
        Ok(TerminalSpawnResult {
            success: true,
            terminal_id: spawn.id,
            pid: terminal.pid,
            attached: false,
        })
    }

    async fn start(
        self: &Arc<Self>,
        spawn: &Spawn,
        cols: u16,
        rows: u16,
    ) -> Result<Arc<Terminal>, TerminalError> {
        if lock(&self.live).len() >= MAX_TERMINALS {
            return Err(TerminalError::Overloaded(format!(
                "{MAX_TERMINALS} terminals already run, the most the daemon keeps; kill one first"
            )));
        }
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|shell| !shell.is_empty())
            .unwrap_or_else(|| "/bin/sh".to_owned());
        let spawned = crate::pty::spawn(&crate::pty::Launch {
            program: &shell,
            args: &[],
            cwd: &spawn.cwd,
            env: &[("TERM", "xterm-256color"), ("COLORTERM", "truecolor")],
            rows,
            cols,
        })
        .map_err(TerminalError::Failed)?;
        let pid = spawned.child.id().unwrap_or_default();
        self.store
            .record_terminal_start(&spawn.id, pid, &spawn.cwd.display().to_string())
            .await?;
        let terminal = Arc::new(Terminal {
            id: spawn.id.clone(),
            pid,
            input: tokio::sync::Mutex::new(spawned.input),
            output: Mutex::default(),
        });
        lock(&self.live).insert(spawn.id.clone(), terminal.clone());
        tokio::spawn(
            self.clone()
                .follow(terminal.clone(), spawned.child, spawned.output),
        );
        Ok(terminal)
    }

    /// Passes the terminal's output on until its shell ends, then reports
    /// and records the end.
    async fn follow(
        self: Arc<Self>,
        terminal: Arc<Terminal>,
        mut child: tokio::process::Child,
        mut output: pty_process::OwnedReadPty,
    ) {
        let mut chunk = vec![0u8; 16 * 1024];
        let mut status = None;
        loop {
            let read = match status {
                None => tokio::select! {
                    read = output.read(&mut chunk) => read,
                    exited = child.wait() => {
                        status = Some(exited);
                        continue;
                    }
                },
                Some(_) => match tokio::time::timeout(DRAIN_GRACE, output.read(&mut chunk)).await {
                    Ok(read) => read,
                    Err(_) => break,
                },
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(read) => terminal.printed(&chunk[..read]),
            }
        }
        let status = match status {
            Some(status) => status,
            None => child.wait().await,
        };
        let exit_code = match status {
            Ok(status) => status
                .code()
                .or_else(|| status.signal().map(|signal| 128 + signal))
                .unwrap_or(1),
            Err(_) => 1,
        };
        lock(&self.live).remove(&terminal.id);
        if let Err(err) = self
            .store
            .record_terminal_end(&terminal.id, exit_code, None)
            .await
        {
            tracing::warn!(terminal = %terminal.id, error = %err, "cannot record a terminal's end");
        }
        let exited = TerminalExitedEvent {
            terminal_id: terminal.id.clone(),
            exit_code,
            error: None,
        };
        lock(&terminal.output).send(&terminal.id, &frame::<events::TerminalExited>(&exited));
    }

    fn running(&self, id: &str) -> Result<Arc<Terminal>, TerminalError> {
        lock(&self.live)
            .get(id)
            .cloned()
            .ok_or_else(|| TerminalError::NotRunning(id.to_owned()))
    }

    /// Types `data`; a terminal whose program does not read its input for
    /// [`INPUT_TIMEOUT`] refuses the rest, rather than holding up the
    /// connection's later commands.
    pub async fn input(&self, id: &str, data: &str) -> Result<(), TerminalError> {
        let terminal = self.running(id)?;
        let typed = tokio::time::timeout(INPUT_TIMEOUT, async {
            let mut input = terminal.input.lock().await;
            input.write_all(data.as_bytes()).await?;
            input.flush().await
        })
        .await
        .map_err(|_| {
            TerminalError::Failed(format!(
                "terminal {id} has not read its input for {INPUT_TIMEOUT:?}; part of it may not have been typed"
            ))
        })?;
        typed.map_err(|err| TerminalError::Failed(format!("cannot type into terminal {id}: {err}")))
    }

    pub async fn resize(&self, id: &str, cols: u16, rows: u16) -> Result<(), TerminalError> {
        if cols == 0 || rows == 0 || cols > MAX_CELLS || rows > MAX_CELLS {
            return Err(TerminalError::Invalid(format!(
                "a terminal is 1 to {MAX_CELLS} cells wide and high"
            )));
        }
        self.running(id)?.resize(cols, rows).await
    }

    /// Hangs up everything in the terminal, and kills what is left a little
    /// later; the end is reported as the shell exits.
    pub fn kill(&self, id: &str) -> Result<(), TerminalError> {
        let terminal = self.running(id)?;
        signal_session(terminal.pid, nix::sys::signal::Signal::SIGHUP);
        let pid = terminal.pid;
        tokio::spawn(async move {
            tokio::time::sleep(KILL_GRACE).await;
            signal_session(pid, nix::sys::signal::Signal::SIGKILL);
        });
        Ok(())
    }

    /// Stops attached output to a connection that closed; its terminals
    /// go on.
    pub fn detach(&self, connection: usize) {
        for terminal in lock(&self.live).values() {
            lock(&terminal.output)
                .attached
                .retain(|(attached, _)| *attached != connection);
        }
    }

    /// Ends every terminal as the daemon stops, recording why.
    pub async fn stop_all(&self) {
        let terminals: Vec<Arc<Terminal>> = lock(&self.live).drain().map(|(_, t)| t).collect();
        for terminal in terminals {
            // Recorded first: the shell's own end, seen as it dies, must not
            // be recorded without the reason.
            let _ = self
                .store
                .record_terminal_end(&terminal.id, 137, Some("the daemon stopped"))
                .await;
            signal_session(terminal.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Signals everything in the terminal: its shell leads a session, and an
/// interactive shell puts each job in a process group of its own within
/// it, so the session is what holds them all.
fn signal_session(leader: u32, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::{kill, killpg};
    use nix::unistd::Pid;

    let Ok(leader) = i32::try_from(leader) else {
        return;
    };
    if leader <= 0 {
        return;
    }
    let _ = killpg(Pid::from_raw(leader), signal);
    for pid in crate::util::process_ids() {
        if session_of(pid) == Some(leader) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

/// The session of `pid`, from `/proc/<pid>/stat` (Linux; elsewhere none,
/// and the shell's process group is all that is signalled).
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (name) state ppid pgrp session ...`; the name may hold spaces.
    let fields = &stat[stat.rfind(')')? + 1..];
    fields.split_whitespace().nth(3)?.parse().ok()
}

impl Terminal {
    /// Output read from the terminal: whole characters go out now, a
    /// character cut at the end waits for the rest.
    fn printed(&self, bytes: &[u8]) {
        let mut output = lock(&self.output);
        let mut pending = std::mem::take(&mut output.partial);
        pending.extend_from_slice(bytes);
        let whole = match std::str::from_utf8(&pending) {
            Err(err) if err.error_len().is_none() => err.valid_up_to(),
            _ => pending.len(),
        };
        output.partial = pending.split_off(whole);
        if pending.is_empty() {
            return;
        }
        let offset = output.keep(&pending);
        let event = TerminalOutputEvent {
            terminal_id: self.id.clone(),
            data: String::from_utf8_lossy(&pending).into_owned(),
            offset,
        };
        output.send(&self.id, &frame::<events::TerminalOutput>(&event));
    }

    /// Sends `terminal_spawned` and the output after `after` (all that is
    /// kept without it) to `sink`, which then receives what follows.
    fn attach(&self, connection: usize, sink: Arc<dyn EventSink>, after: Option<u64>) {
        let mut output = lock(&self.output);
        output
            .attached
            .retain(|(attached, _)| *attached != connection);
        let spawned = TerminalSpawnedEvent {
            terminal_id: self.id.clone(),
            pid: self.pid,
        };
        let _ = sink.try_push(&frame::<events::TerminalSpawned>(&spawned));
        let from = after.unwrap_or(0).clamp(output.start, output.end());
        let skip = usize::try_from(from - output.start).unwrap_or(usize::MAX);
        let missed: Vec<u8> = output.scrollback.iter().skip(skip).copied().collect();
        if !missed.is_empty() {
            let event = TerminalOutputEvent {
                terminal_id: self.id.clone(),
                data: String::from_utf8_lossy(&missed).into_owned(),
                offset: output.end(),
            };
            let _ = sink.try_push(&frame::<events::TerminalOutput>(&event));
        }
        output.attached.push((connection, sink));
    }

    async fn resize(&self, cols: u16, rows: u16) -> Result<(), TerminalError> {
        self.input
            .lock()
            .await
            .resize(pty_process::Size::new(rows, cols))
            .map_err(|err| {
                TerminalError::Failed(format!("cannot resize terminal {}: {err}", self.id))
            })
    }
}
