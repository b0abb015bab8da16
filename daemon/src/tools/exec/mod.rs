//! `exec_command` and `write_stdin`: commands the agent can keep talking
//! to. A command runs until it ends or the call's wait is over; if it is
//! still running, the agent gets a session id to type into it or read more
//! of its output with `write_stdin`, and is told when it ends.
//!
//! Sessions belong to the runtime, not to a frontend or a turn's call: they
//! outlive every frontend disconnecting, and end with their process group
//! on abort of the turn that started them, on `TaskStop`, after
//! [`SESSION_LIFETIME`], and when the daemon stops.

mod session;

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{ToolContext, ToolOutput, truncate_chars};
use crate::tools::bash::MAX_OUTPUT_CHARS;
pub use session::{ExecSessions, SESSION_LIFETIME};
use session::{Launch, Session};

const DEFAULT_EXEC_WAIT_MS: f64 = 10_000.0;
const DEFAULT_INPUT_WAIT_MS: f64 = 250.0;
const MIN_WAIT_MS: f64 = 250.0;
const MAX_WAIT_MS: f64 = 30_000.0;
/// An empty `write_stdin` only waits for output: not too briefly, and at
/// most this long.
const MIN_EMPTY_WAIT_MS: f64 = 5_000.0;
const MAX_EMPTY_WAIT_MS: f64 = 300_000.0;
const DEFAULT_MAX_OUTPUT_TOKENS: f64 = 10_000.0;
/// What Ctrl-C types; without a terminal it is sent as SIGINT.
const INTERRUPT: &str = "\u{3}";

/// `description` is for the human and not read here.
#[derive(Deserialize)]
pub struct ExecArgs {
    cmd: String,
    #[serde(default)]
    login: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<f64>,
    #[serde(default)]
    shell: Option<String>,
    #[serde(default)]
    tty: Option<bool>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    yield_time_ms: Option<f64>,
}

#[derive(Deserialize)]
pub struct StdinArgs {
    session_id: f64,
    #[serde(default)]
    chars: Option<String>,
    #[serde(default)]
    max_output_tokens: Option<f64>,
    #[serde(default)]
    yield_time_ms: Option<f64>,
}

pub async fn exec_command(args: ExecArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    if args.cmd.trim().is_empty() {
        return Err("cmd is empty".into());
    }
    let workdir = match &args.workdir {
        Some(dir) => super::resolve(&context.cwd, dir),
        None => context.cwd.clone(),
    };
    if !workdir.is_dir() {
        return Err(format!("{} is not a directory", workdir.display()));
    }
    let shell = args.shell.as_deref().map(str::trim).unwrap_or_default();
    let launch = Launch {
        command_line: &args.cmd,
        shell: if shell.is_empty() { "bash" } else { shell },
        login: args.login.unwrap_or(true),
        tty: args.tty.unwrap_or(false),
        workdir,
    };
    let started = Instant::now();
    let session = session::start(launch, context)?;
    let wait = wait_ms(
        args.yield_time_ms,
        DEFAULT_EXEC_WAIT_MS,
        MIN_WAIT_MS,
        MAX_WAIT_MS,
    );
    Ok(collect(&session, wait, started, args.max_output_tokens, context).await)
}

pub async fn write_stdin(args: StdinArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let id = session_id(args.session_id)?;
    let session = context
        .sessions
        .get(&id)
        .filter(|_| context.jobs.watch(&id, true).is_some())
        .ok_or_else(|| {
            format!(
                "no session {id}: it has ended and its end was reported, or it belonged to an \
                 earlier run of the daemon; start the command again with exec_command"
            )
        })?;
    let chars = args.chars.unwrap_or_default();
    let started = Instant::now();
    let typed = match chars.as_str() {
        "" => Ok(()),
        INTERRUPT if !session.tty => session.interrupt(),
        _ => session.type_in(&chars).await,
    };
    if let Err(err) = typed {
        context.jobs.watch(&id, false);
        return Err(err);
    }
    let wait = if chars.is_empty() {
        wait_ms(
            args.yield_time_ms,
            MIN_EMPTY_WAIT_MS,
            MIN_EMPTY_WAIT_MS,
            MAX_EMPTY_WAIT_MS,
        )
    } else {
        wait_ms(
            args.yield_time_ms,
            DEFAULT_INPUT_WAIT_MS,
            MIN_WAIT_MS,
            MAX_WAIT_MS,
        )
    };
    Ok(collect(&session, wait, started, args.max_output_tokens, context).await)
}

/// A session id as the agent sent it: a whole number.
fn session_id(number: f64) -> Result<String, String> {
    match super::whole_number(Some(number), "session_id")? {
        Some(id) => Ok(id.to_string()),
        None => Err("session_id is missing".into()),
    }
}

fn wait_ms(asked: Option<f64>, default: f64, min: f64, max: f64) -> Duration {
    let ms = asked.filter(|ms| ms.is_finite()).unwrap_or(default);
    Duration::from_millis(ms.clamp(min, max) as u64)
}

/// Waits for the session's process to end, at most `wait`, then answers
/// with what it printed since the agent last read.
async fn collect(
    session: &Session,
    wait: Duration,
    started: Instant,
    max_output_tokens: Option<f64>,
    context: &ToolContext,
) -> ToolOutput {
    tokio::select! {
        _ = context.jobs.ended(&session.id, wait) => {}
        () = context.cancel.cancelled() => {}
    }
    let Some(job) = context.jobs.watch(&session.id, false) else {
        return ToolOutput::error(format!("session {} is no longer listed", session.id));
    };
    let running = job.status == "running";
    if !running {
        session.drain().await;
        context.sessions.remove(&session.id);
    }
    let unread = session.take_unread(!running);
    let mut text = format!("Wall time: {:.3} s\n", started.elapsed().as_secs_f64());
    if running {
        text.push_str(&format!(
            "Still running as session {}. You are told when it ends; call write_stdin to type \
             into it or to read more of its output.\n",
            session.id
        ));
    } else {
        let how = match (job.ended_by, job.exit_code) {
            (Some("abort"), _) => "Stopped: the turn was aborted".to_owned(),
            (Some("stop"), _) => "Stopped with TaskStop".to_owned(),
            (Some("shutdown"), _) => "Stopped: the daemon is stopping".to_owned(),
            (Some("timeout"), _) => format!(
                "Stopped after running for {} hours",
                SESSION_LIFETIME.as_secs() / 3600
            ),
            (_, Some(code)) => format!("Exit code: {code}"),
            _ => "Ended by a signal".to_owned(),
        };
        text.push_str(&how);
        text.push('\n');
    }
    if unread.dropped > 0 {
        text.push_str(&format!(
            "[{} bytes of output were dropped before being read; {} has all of it]\n",
            unread.dropped,
            job.output_file.display()
        ));
    }
    text.push_str("Output:\n");
    text.push_str(&shown(&unread.text, max_output_tokens, &job.output_file));
    let failed = !running && job.exit_code != Some(0);
    if failed {
        ToolOutput::error(text)
    } else {
        ToolOutput::ok(text)
    }
}

/// The output as the agent sees it: at most `max_output_tokens` (about
/// four characters each, and never more than Bash returns), keeping its
/// start and its end.
fn shown(text: &str, max_output_tokens: Option<f64>, file: &std::path::Path) -> String {
    if text.is_empty() {
        return "(no output)".to_owned();
    }
    let tokens = max_output_tokens
        .filter(|tokens| *tokens >= 1.0)
        .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
    let max_chars = ((tokens * 4.0) as usize).min(MAX_OUTPUT_CHARS);
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_owned();
    }
    let (head, _) = truncate_chars(text, max_chars / 2);
    let tail_start = text
        .char_indices()
        .nth(total - max_chars / 2)
        .map_or(text.len(), |(index, _)| index);
    format!(
        "{head}\n[… {} characters cut; {} has all of it …]\n{}",
        total - max_chars / 2 * 2,
        file.display(),
        &text[tail_start..]
    )
}

#[cfg(test)]
mod tests;
