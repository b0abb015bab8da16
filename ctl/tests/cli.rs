//! The command line itself, without a daemon: help, completions, and the
//! exit codes of mistakes.

// Tests fail by panicking.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn ctl(args: &[&str], data_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_letta-ctl"))
        .args(args)
        .env("LETTA_DAEMON_DATA_DIR", data_dir)
        .env_remove("LETTA_AGENT_ID")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let help = ctl(&["--help"], dir.path());
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for expected in [
        "daemon",
        "agents",
        "conversations",
        "run",
        "attach",
        "approve",
        "deny",
        "abort",
        "events",
        "Exit codes:",
        "NO_COLOR",
    ] {
        assert!(text.contains(expected), "--help lacks {expected}:\n{text}");
    }
    let run_help = String::from_utf8(ctl(&["run", "--help"], dir.path()).stdout).unwrap();
    for flag in [
        "--allowedTools",
        "--disallowedTools",
        "--output-format",
        "--new-agent",
        "--permission-mode",
        "--tools",
    ] {
        assert!(run_help.contains(flag), "run --help lacks {flag}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = ctl(&["completions", shell], dir.path());
        assert!(out.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("letta-ctl"),
            "{shell}"
        );
    }
}

#[test]
fn mistakes_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(ctl(&["no-such-command"], dir.path()).status.code(), Some(2));
    assert_eq!(
        ctl(&["run", "--output-format", "xml", "x"], dir.path())
            .status
            .code(),
        Some(2)
    );
    let unreachable = ctl(&["agents", "list"], dir.path());
    assert_eq!(unreachable.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.contains("daemon.json") && stderr.contains("letta-ctl daemon start"),
        "{stderr}"
    );
    let unknown = ctl(&["approve", "perm-x"], dir.path());
    assert_eq!(unknown.status.code(), Some(3), "no daemon to ask");
}
