//! `letta-ctl` end to end: the real binary against a real daemon, on the
//! mock and the real Letta server.

mod daemon;
mod first_run;
mod resources;
mod resume;
mod run;
mod steering;

use serde_json::Value;

use crate::support::Daemon;
use crate::support::backend::Backend;
use crate::support::ctl::{Output, Shell};
use crate::support::letta_server::{EMBEDDING, MODEL};

/// A daemon on `backend` and a shell that talks to it.
pub fn setup(backend: &Backend) -> (Daemon, Shell) {
    let daemon = backend.daemon();
    let shell = Shell::new(daemon.dir.path(), &daemon.data_dir);
    (daemon, shell)
}

/// A shell whose daemon `letta-ctl daemon start` launches under `root`,
/// talking to `backend`.
pub fn shell_for_own_daemon(root: &std::path::Path, backend: &Backend) -> Shell {
    backend
        .env()
        .into_iter()
        .fold(
            Shell::new(root, &root.join("data")),
            |shell, (key, value)| shell.env(key, value),
        )
        .env("LETTA_DAEMON_LISTEN", "ws://127.0.0.1:0")
}

/// `run` flags that create an agent the scripted model drives.
pub const NEW_AGENT: [&str; 5] = ["--new-agent", "--model", MODEL, "--embedding", EMBEDDING];

/// Runs one turn on a new agent; returns the agent id.
pub async fn new_agent(shell: &Shell) -> String {
    let mut args = vec!["run", "--output-format", "json"];
    args.extend(NEW_AGENT);
    args.push("say hello");
    let output = shell.run(&args).await;
    assert_eq!(output.code, 0, "{output:?}");
    output.json()["agent_id"].as_str().unwrap().to_owned()
}

/// A `run` with --agent and these extra arguments.
pub async fn run_on(shell: &Shell, agent: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--agent", agent];
    args.extend(extra);
    shell.run(&args).await
}

/// The `event_seq`s of JSON lines that are events.
pub fn event_seqs(lines: &[Value]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|line| line["event_seq"].as_u64())
        .collect()
}
