//! `letta-ctl daemon start|stop|status|logs`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use letta_client::discovery::{DAEMON_FILE_NAME, read_daemon_file};
use letta_protocol::DaemonStatusResult;

use crate::error::CtlError;
use crate::render::say;
use crate::target::{self, Context};

/// Where `daemon start` sends the daemon's log, inside the data directory.
pub const LOG_FILE: &str = "daemon.log";

const POLL: Duration = Duration::from_millis(50);

pub async fn start(
    context: &Context,
    daemon_bin: Option<PathBuf>,
    timeout: u64,
) -> Result<u8, CtlError> {
    if let Ok(client) = context.client().await
        && let Ok(status) = target::daemon_status(&client).await
    {
        say(&format!(
            "letta-daemon is already running (pid {})",
            status.pid
        ));
        return Ok(0);
    }
    let (status, log_path) = launch(context, daemon_bin, timeout).await?;
    say(&format!(
        "letta-daemon {} ready (pid {})\n  socket    {}\n  websocket {}\n  log       {}",
        status.server.version,
        status.pid,
        status.socket,
        status.ws_url,
        log_path.display()
    ));
    Ok(0)
}

/// Starts the daemon in the background, in its own process group and with
/// its log in the data directory, and waits until it answers. Returns its
/// status and the log's path.
pub async fn launch(
    context: &Context,
    daemon_bin: Option<PathBuf>,
    timeout: u64,
) -> Result<(DaemonStatusResult, PathBuf), CtlError> {
    let binary = daemon_binary(daemon_bin)?;
    std::fs::create_dir_all(&context.data_dir).map_err(CtlError::io(format!(
        "creating {}",
        context.data_dir.display()
    )))?;
    let log_path = context.data_dir.join(LOG_FILE);
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(CtlError::io(format!("opening {}", log_path.display())))?;
    let log_start = log.metadata().map(|meta| meta.len()).unwrap_or_default();
    let stderr = log
        .try_clone()
        .map_err(CtlError::io(format!("opening {}", log_path.display())))?;
    let mut command = Command::new(&binary);
    command
        .arg("--data-dir")
        .arg(&context.data_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr);
    // Its own process group: closing this terminal or Ctrl-C here must not
    // reach the daemon.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(CtlError::io(format!("starting {}", binary.display())))?;

    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        if let Ok(Some(exit)) = child.try_wait() {
            return Err(CtlError::Failed(format!(
                "letta-daemon exited during start-up ({exit}):\n{}",
                log_since(&log_path, log_start)
            )));
        }
        if let Ok(file) = read_daemon_file(&context.data_dir)
            && file.pid == child.id()
            && let Ok(client) = context.client().await
            && let Ok(status) = target::daemon_status(&client).await
        {
            return Ok((status, log_path));
        }
        if Instant::now() > deadline {
            return Err(CtlError::Failed(format!(
                "letta-daemon (pid {}) is not ready after {timeout} s; see {}",
                child.id(),
                log_path.display()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `--daemon-bin`, else `letta-daemon` next to this program, else on PATH.
pub fn daemon_binary(explicit: Option<PathBuf>) -> Result<PathBuf, CtlError> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("letta-daemon")))
        .filter(|path| path.is_file());
    if let Some(path) = sibling {
        return Ok(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("letta-daemon"))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            CtlError::Usage(
                "cannot find letta-daemon next to letta-ctl or on PATH; pass --daemon-bin"
                    .to_owned(),
            )
        })
}

pub async fn stop(context: &Context, timeout: u64) -> Result<u8, CtlError> {
    let Ok(file) = read_daemon_file(&context.data_dir) else {
        say(&format!(
            "letta-daemon is not running ({})",
            context.data_dir.display()
        ));
        return Ok(0);
    };
    let pid = nix::unistd::Pid::from_raw(i32::try_from(file.pid).unwrap_or(i32::MAX));
    if let Err(err) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
        if err == nix::errno::Errno::ESRCH {
            // Died without cleaning up: its next start recovers.
            let _ = std::fs::remove_file(context.data_dir.join(DAEMON_FILE_NAME));
            say(&format!("letta-daemon (pid {}) was not running", file.pid));
            return Ok(0);
        }
        return Err(CtlError::Failed(format!(
            "cannot stop pid {}: {err}",
            file.pid
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while !exited(file.pid) {
        if Instant::now() > deadline {
            return Err(CtlError::Failed(format!(
                "letta-daemon (pid {}) still runs {timeout} s after SIGTERM; kill -9 {} loses nothing",
                file.pid, file.pid
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    say(&format!("letta-daemon stopped (pid {})", file.pid));
    Ok(0)
}

/// Whether the process is gone (or only a zombie waiting for its parent).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) if Path::new("/proc/self").exists() => true,
        Err(_) => {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            nix::sys::signal::kill(pid, None).is_err()
        }
    }
}

pub async fn status(context: &Context) -> Result<u8, CtlError> {
    let client = context.client().await?;
    let status = target::daemon_status(&client).await?;
    let mut stdout = std::io::stdout().lock();
    let text = if context.json {
        serde_json::to_string(&status).unwrap_or_default()
    } else {
        describe(&status)
    };
    writeln!(stdout, "{text}").map_err(CtlError::io("writing the status"))?;
    Ok(0)
}

fn describe(status: &DaemonStatusResult) -> String {
    let active = status.runtimes.iter().filter(|r| r.is_processing).count();
    let pending: usize = status
        .runtimes
        .iter()
        .map(|r| r.pending_approvals.len())
        .sum();
    let mut out = format!(
        "letta-daemon {} (protocol {}), pid {}, up {}\n\
         data dir   {}\nsocket     {}\nwebsocket  {}\nletta      {}\n\
         runtimes   {} ({active} active turn{}, {pending} pending approval{})",
        status.server.version,
        status.protocol_version,
        status.pid,
        uptime(status.uptime_ms),
        status.data_dir,
        status.socket,
        status.ws_url,
        status.letta_base_url,
        status.runtimes.len(),
        plural(active),
        plural(pending),
    );
    for runtime in &status.runtimes {
        let loop_status = serde_json::to_value(runtime.loop_status)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n  {} / {}  {loop_status}  mode {}  queued {}{}  cwd {}",
            runtime.runtime.agent_id.as_deref().unwrap_or("-"),
            runtime.runtime.conversation_id,
            runtime.permission_mode.as_str(),
            runtime.queued_inputs,
            if runtime.queue_paused {
                " (paused)"
            } else {
                ""
            },
            runtime.cwd,
        ));
        for request in &runtime.pending_approvals {
            let what = match &request.request {
                letta_protocol::ControlRequestBody::CanUseTool(ask) => format!(
                    "{}({})",
                    ask.tool_name,
                    crate::render::summary(&ask.tool_name, &ask.input)
                ),
                letta_protocol::ControlRequestBody::AskUserQuestion(ask) => format!(
                    "AskUserQuestion({})",
                    ask.questions
                        .iter()
                        .map(|question| question.header.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            out.push_str(&format!("\n    ? {}  {what}", request.request_id));
        }
    }
    out
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn uptime(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

pub async fn logs(context: &Context, lines: Option<usize>, follow: bool) -> Result<u8, CtlError> {
    let path = context.data_dir.join(LOG_FILE);
    let mut file = File::open(&path).map_err(|err| {
        CtlError::Failed(format!(
            "no log at {}: {err}\n(a daemon started by `letta-ctl daemon start` or the \
             installed service logs there; one started by hand logs to its stderr)",
            path.display()
        ))
    })?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(CtlError::io(format!("reading {}", path.display())))?;
    let shown = match lines {
        Some(count) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(count)..].join("\n") + "\n"
        }
        None => text,
    };
    let mut stdout = std::io::stdout().lock();
    let write_error = CtlError::io("writing the log");
    stdout
        .write_all(shown.trim_start_matches('\n').as_bytes())
        .map_err(write_error)?;
    drop(stdout);
    if !follow {
        return Ok(0);
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
        let mut more = String::new();
        let position = file.stream_position().unwrap_or_default();
        if file.metadata().is_ok_and(|meta| meta.len() < position) {
            // Truncated: start over.
            let _ = file.seek(SeekFrom::Start(0));
        }
        if file.read_to_string(&mut more).is_ok() && !more.is_empty() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(more.as_bytes());
            let _ = stdout.flush();
        }
    }
}

fn log_since(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_string(&mut text);
    }
    text.trim_end().to_owned()
}
