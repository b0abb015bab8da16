use serde_json::{Value, json};

use super::*;
use crate::tools::{arguments, execute};

async fn call(tool: &str, input: Value, context: &ToolContext) -> ToolOutput {
    let Value::Object(input) = input else {
        unreachable!()
    };
    execute(tool, &input, context).await
}

/// The session id an answer names, if the command is still running.
fn session_of(output: &ToolOutput) -> Option<u64> {
    let rest = output.text.split("Still running as session ").nth(1)?;
    rest.split('.').next()?.parse().ok()
}

#[tokio::test]
async fn a_command_that_ends_returns_its_output_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolContext::in_dir(dir.path());
    let out = call(
        "exec_command",
        json!({"cmd": "pwd; echo oops >&2", "description": "x", "login": false}),
        &ctx,
    )
    .await;
    assert!(!out.is_error, "{}", out.text);
    assert!(out.text.contains("Exit code: 0"), "{}", out.text);
    assert!(
        out.text.contains(&dir.path().display().to_string()) && out.text.contains("oops"),
        "{}",
        out.text
    );
    let failed = call(
        "exec_command",
        json!({"cmd": "exit 3", "description": "x", "login": false}),
        &ctx,
    )
    .await;
    assert!(failed.is_error && failed.text.contains("Exit code: 3"));
    assert!(
        ctx.jobs.list().iter().all(|job| !job.ended_unasked()),
        "an end the agent saw in the result is not reported again"
    );
}

#[tokio::test]
async fn a_terminal_session_keeps_its_shell_across_calls() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolContext::in_dir(dir.path());
    let started = call(
        "exec_command",
        json!({"cmd": "bash --norc --noprofile", "description": "x", "tty": true, "login": false, "yield_time_ms": 300}),
        &ctx,
    )
    .await;
    let id = session_of(&started).unwrap_or_else(|| panic!("{}", started.text));
    let typed = |chars: &str| json!({"session_id": id, "chars": chars, "yield_time_ms": 1000});
    call("write_stdin", typed("cd /tmp && MARK=kept\n"), &ctx).await;
    let out = call("write_stdin", typed("echo \"$MARK in $PWD\"\n"), &ctx).await;
    assert!(out.text.contains("kept in /tmp"), "{}", out.text);
    assert_eq!(session_of(&out), Some(id), "{}", out.text);

    let exited = call("write_stdin", typed("exit 7\n"), &ctx).await;
    assert!(exited.text.contains("Exit code: 7"), "{}", exited.text);
    let gone = call("write_stdin", typed(""), &ctx).await;
    assert!(
        gone.is_error && gone.text.contains(&format!("no session {id}")),
        "{}",
        gone.text
    );
}

/// What a shell does to a command it starts in the background (`cmd &`):
/// the daemon may well be started that way.
#[allow(unsafe_code)]
fn ignore_interrupts_as_a_background_launch_does() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for ignored in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: SIG_IGN installs no code to run in a signal handler.
        unsafe { signal(ignored, SigHandler::SigIgn) }.unwrap();
    }
}

/// Starts a session that says it began and then sleeps; returns its id.
async fn start_sleeper(tty: bool, ctx: &ToolContext) -> u64 {
    let started = call(
        "exec_command",
        json!({"cmd": "echo begun; sleep 30", "description": "x", "tty": tty, "login": false, "yield_time_ms": 300}),
        ctx,
    )
    .await;
    assert!(started.text.contains("begun"), "{}", started.text);
    session_of(&started).unwrap()
}

/// Types Ctrl-C into session `id`, which then ends as SIGINT ends it.
async fn assert_ctrl_c_ends(id: u64, ctx: &ToolContext) {
    let interrupted = call(
        "write_stdin",
        json!({"session_id": id, "chars": "\u{3}", "yield_time_ms": 5000}),
        ctx,
    )
    .await;
    assert!(
        interrupted.text.contains("Exit code: 130"),
        "{}",
        interrupted.text
    );
}

#[tokio::test]
async fn without_a_terminal_input_is_closed_but_ctrl_c_interrupts() {
    ignore_interrupts_as_a_background_launch_does();
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolContext::in_dir(dir.path());
    let id = start_sleeper(false, &ctx).await;
    let refused = call(
        "write_stdin",
        json!({"session_id": id, "chars": "y\n"}),
        &ctx,
    )
    .await;
    assert!(
        refused.is_error && refused.text.contains("tty: true"),
        "{}",
        refused.text
    );
    assert_ctrl_c_ends(id, &ctx).await;
}

#[tokio::test]
async fn ctrl_c_on_a_terminal_interrupts_even_if_the_daemon_ignores_it() {
    ignore_interrupts_as_a_background_launch_does();
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolContext::in_dir(dir.path());
    let id = start_sleeper(true, &ctx).await;
    assert_ctrl_c_ends(id, &ctx).await;
}

#[tokio::test]
async fn a_session_that_ends_unwatched_is_reported_and_abort_ends_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolContext::in_dir(dir.path());
    let started = call(
        "exec_command",
        json!({"cmd": "sleep 0.5; echo done", "description": "x", "login": false, "yield_time_ms": 250}),
        &ctx,
    )
    .await;
    let id = session_of(&started).unwrap().to_string();
    let job = ctx.jobs.ended(&id, Duration::from_secs(10)).await.unwrap();
    assert!(job.ended_unasked(), "{job:?}");
    let read = call(
        "write_stdin",
        json!({"session_id": id.parse::<u64>().unwrap()}),
        &ctx,
    )
    .await;
    assert!(read.text.contains("done"), "{}", read.text);
    assert!(!ctx.jobs.get(&id).unwrap().ended_unasked());

    let started = call(
        "exec_command",
        json!({"cmd": "sleep 30", "description": "x", "login": false, "yield_time_ms": 250}),
        &ctx,
    )
    .await;
    let id = session_of(&started).unwrap().to_string();
    ctx.cancel.cancel();
    let job = ctx.jobs.ended(&id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(job.ended_by, Some("abort"));
    assert!(!job.ended_unasked());
}

#[tokio::test]
async fn output_is_bounded_per_call_and_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolContext::in_dir(dir.path());
    let out = call(
        "exec_command",
        json!({"cmd": "seq 1 100000", "description": "x", "login": false, "max_output_tokens": 100}),
        &ctx,
    )
    .await;
    assert!(out.text.contains("Exit code: 0"), "{}", out.text);
    assert!(out.text.len() < 1_000, "{}", out.text);
    assert!(
        out.text.contains("\n1\n2\n") && out.text.contains("100000"),
        "{}",
        out.text
    );
    assert!(out.text.contains("characters cut"), "{}", out.text);

    // More than a session buffers, unread: the agent is told what it lost.
    let started = call(
        "exec_command",
        json!({"cmd": "head -c 3000000 /dev/zero | tr '\\0' a; sleep 30", "description": "x", "login": false, "yield_time_ms": 2000}),
        &ctx,
    )
    .await;
    assert!(started.text.contains("characters cut"), "{}", started.text);
    assert!(
        started.text.contains(&format!(
            "{} bytes of output were dropped",
            3_000_000 - 1024 * 1024
        )),
        "{}",
        started.text
    );
    ctx.jobs.kill_all().await;
}

#[test]
fn arguments_are_checked() {
    let input = |value: Value| value.as_object().unwrap().clone();
    assert!(arguments::<ExecArgs>("exec_command", &input(json!({"description": "x"}))).is_err());
    assert!(session_id(1.5).is_err() && session_id(-1.0).is_err());
    assert_eq!(session_id(12.0).unwrap(), "12");
    assert_eq!(
        wait_ms(Some(1.0), DEFAULT_EXEC_WAIT_MS, MIN_WAIT_MS, MAX_WAIT_MS),
        Duration::from_millis(250)
    );
    assert_eq!(
        wait_ms(None, DEFAULT_EXEC_WAIT_MS, MIN_WAIT_MS, MAX_WAIT_MS),
        Duration::from_secs(10)
    );
    assert_eq!(
        wait_ms(
            Some(f64::NAN),
            MIN_EMPTY_WAIT_MS,
            MIN_EMPTY_WAIT_MS,
            MAX_EMPTY_WAIT_MS
        ),
        Duration::from_secs(5)
    );
}
