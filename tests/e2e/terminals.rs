//! Terminals of a desktop frontend: a real shell in a pseudo-terminal that
//! outlives the frontend that opened it.

use serde_json::{Value, json};

use crate::support::frontend::Frontend;
use crate::support::{Daemon, Options, within};

/// Waits for the terminal's output to show `marker`; returns the output
/// seen (from this call on) and the offset after it.
async fn output_until(frontend: &mut Frontend, terminal: &str, marker: &str) -> (String, u64) {
    let mut text = String::new();
    let mut offset = 0;
    frontend
        .wait_for(&format!("{marker:?} in terminal {terminal}"), |frame| {
            frame["type"] == "terminal_output"
                && frame["terminal_id"] == terminal
                && frame["data"]
                    .as_str()
                    .is_some_and(|data| data.contains(marker))
        })
        .await;
    for frame in frontend.seen.iter().rev() {
        if frame["type"] == "terminal_output" && frame["terminal_id"] == terminal {
            offset = offset.max(frame["offset"].as_u64().unwrap());
        }
    }
    for frame in &frontend.seen {
        if frame["type"] == "terminal_output" && frame["terminal_id"] == terminal {
            text.push_str(frame["data"].as_str().unwrap());
        }
    }
    (text, offset)
}

fn typed(terminal: &str, data: &str) -> Value {
    json!({ "type": "terminal_input", "terminal_id": terminal, "data": data })
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Waits until process `pid` has exited.
pub(crate) async fn until_gone(pid: u32) {
    within(async {
        while alive(pid) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Typed into, resized, left by its frontend, reattached with the output it
/// missed, typed into again, and killed with its process group.
#[tokio::test]
async fn a_terminal_outlives_its_frontend_and_is_killed_with_its_group() {
    let daemon = Daemon::start_with(Options::default().env("SHELL", "/bin/sh"));
    let cwd = daemon.dir.path().display().to_string();
    let mut first = Frontend::connect(&daemon).await;
    first
        .send(json!({ "type": "terminal_spawn", "terminal_id": "t1", "cols": 80, "rows": 24, "cwd": cwd }))
        .await;
    let spawned = first.wait_for_type("terminal_spawned").await;
    let pid = spawned["pid"].as_u64().unwrap() as u32;
    assert!(alive(pid));

    first.send(typed("t1", "echo hello-$((6*7))\n")).await;
    output_until(&mut first, "t1", "hello-42").await;
    first
        .send(json!({ "type": "terminal_resize", "terminal_id": "t1", "cols": 100, "rows": 30 }))
        .await;
    first.send(typed("t1", "stty size; pwd\n")).await;
    let (_, offset) = output_until(&mut first, "t1", "30 100").await;
    drop(first);

    // Typed by another frontend while nobody watches.
    let other = Frontend::connect(&daemon).await;
    other.send(typed("t1", "echo away-$((2+3))\n")).await;
    other
        .send(json!({ "type": "terminal_resize", "terminal_id": "t1", "cols": 0, "rows": 30 }))
        .await;
    let mut other = other;
    let refused = other.wait_for_type("error").await;
    assert_eq!(refused["command"], "terminal_resize", "{refused}");

    let mut back = Frontend::connect(&daemon).await;
    back.send(json!({ "type": "terminal_spawn", "terminal_id": "t1", "cols": 100, "rows": 30, "after_offset": offset }))
        .await;
    let again = back.wait_for_type("terminal_spawned").await;
    assert_eq!(
        again["pid"].as_u64(),
        Some(u64::from(pid)),
        "the same terminal"
    );
    let (missed, _) = output_until(&mut back, "t1", "away-5").await;
    assert!(
        !missed.contains("hello-42"),
        "only what came after the cursor: {missed:?}"
    );

    // The marker is printed, not echoed with the typed line.
    back.send(typed("t1", "sleep 1000 & printf 'bg-%s:%s\\n' pid $!\n"))
        .await;
    let (text, _) = output_until(&mut back, "t1", "bg-pid:").await;
    let background: u32 = text
        .rsplit("bg-pid:")
        .next()
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no background pid in {text:?}"));
    assert!(alive(background));
    back.send(json!({ "type": "terminal_kill", "terminal_id": "t1" }))
        .await;
    let exited = back.wait_for_type("terminal_exited").await;
    assert_eq!(exited["terminal_id"], "t1");
    assert!(exited["exitCode"].as_i64().is_some(), "{exited}");
    until_gone(pid).await;
    until_gone(background).await;
    back.send(typed("t1", "echo nobody\n")).await;
    let gone = back.wait_for_type("error").await;
    assert_eq!(gone["command"], "terminal_input");
    assert_eq!(gone["error_code"], -32008, "{gone}");
}

/// A terminal ends with the daemon; the frontend that comes back after the
/// restart is told so instead of finding a new shell.
#[tokio::test]
async fn a_terminal_is_reported_exited_after_a_restart() {
    let options = || Options::default().env("SHELL", "/bin/sh");
    let mut daemon = Daemon::start_with(options());
    let mut frontend = Frontend::connect(&daemon).await;
    frontend
        .send(json!({ "type": "terminal_spawn", "terminal_id": "kept", "cols": 80, "rows": 24 }))
        .await;
    let pid = frontend.wait_for_type("terminal_spawned").await["pid"]
        .as_u64()
        .unwrap() as u32;
    frontend.send(typed("kept", "echo ready\n")).await;
    let (_, offset) = output_until(&mut frontend, "kept", "ready").await;
    drop(frontend);
    daemon.stop();
    until_gone(pid).await;

    let daemon = Daemon::start_with(Options {
        data_dir: Some(daemon.data_dir.clone()),
        ..options()
    });
    let mut frontend = Frontend::connect(&daemon).await;
    frontend
        .send(json!({ "type": "terminal_spawn", "terminal_id": "kept", "cols": 80, "rows": 24, "after_offset": offset }))
        .await;
    let exited = frontend.wait_for_type("terminal_exited").await;
    assert_eq!(exited["terminal_id"], "kept");
    assert_eq!(exited["error"], "the daemon stopped", "{exited}");
    let refused = frontend.wait_for_type("error").await;
    assert_eq!(refused["command"], "terminal_spawn", "{refused}");
}
