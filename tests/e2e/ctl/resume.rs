//! Coming back: the terminal is killed while the agent streams, waits on
//! an approval, or runs a tool; the daemon stops or dies mid-turn. A new
//! `letta-ctl attach` shows what happened meanwhile and the turn finishes.

use super::{new_agent, run_on, setup};
use crate::support::backend::{Backend, on_both_backends};
use crate::support::ctl::Shell;

on_both_backends!(
    terminal_killed_while_streaming,
    terminal_killed_while_waiting_on_approval,
    terminal_killed_while_a_tool_runs,
);

/// The stored text of the assistant message in the agent's default
/// conversation that contains `marker`.
async fn stored_reply(shell: &Shell, agent: &str, marker: &str) -> String {
    let listed = shell
        .run(&[
            "--json",
            "conversations",
            "messages",
            "default",
            "--agent",
            agent,
            "--limit",
            "100",
        ])
        .await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let messages = listed.json();
    messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["message_type"] == "assistant_message")
        .filter_map(|message| message["content"].as_str())
        .find(|content| content.contains(marker))
        .unwrap_or_else(|| panic!("no reply with {marker:?} in {messages}"))
        .to_owned()
}

async fn terminal_killed_while_streaming(backend: Backend) {
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let run = shell.spawn(
        "run",
        &[
            "run",
            "--agent",
            &agent,
            "[[delay=0.1]] [[repeat=6]] slow story",
        ],
    );
    let mut run = run;
    run.wait_for_output("streamed text", |out, _| out.contains("Echo"))
        .await;
    let (seen_by_run, _) = run.kill().await;

    let attach = shell
        .run(&["attach", "--agent", &agent, "--until-idle"])
        .await;
    assert_eq!(attach.code, 0, "{attach:?}");
    assert!(
        attach.stderr.contains("replaying after event"),
        "resumes from what the run saw: {attach:?}"
    );
    let full = stored_reply(&shell, &agent, "slow story").await;
    // Only the end is trimmed: the attach may start with the space that
    // followed the last piece the run showed, and it counts.
    let shown = attach.stdout.trim_end();
    assert!(
        !shown.trim_start().is_empty(),
        "the rest of the reply is shown: {attach:?}"
    );
    assert!(
        full.trim_end().ends_with(shown.trim_start()),
        "attach shows the end of {full:?}, got {shown:?}"
    );
    assert!(
        full.trim_start().starts_with(seen_by_run.trim()),
        "the run showed the start of {full:?}, got {seen_by_run:?}"
    );
    assert!(
        seen_by_run.len() + shown.len() >= full.trim().len(),
        "nothing is missing between the run ({seen_by_run:?}) and the attach ({shown:?}) of {full:?}"
    );
}

/// Sends a turn whose Bash call needs approval, without waiting for it.
async fn detach_asking_to_touch(shell: &Shell, agent: &str, file: &str) {
    let prompt = format!(r#"[[call:Bash {{"command": "touch {file}"}}]] go"#);
    let sent = run_on(shell, agent, &["--detach", &prompt]).await;
    assert_eq!(sent.code, 0, "{sent:?}");
}

async fn terminal_killed_while_waiting_on_approval(backend: Backend) {
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    detach_asking_to_touch(&shell, &agent, "approved.txt").await;

    let mut first = shell.spawn("attach-1", &["attach", "--agent", &agent]);
    first
        .wait_for_output("the approval", |_, err| {
            err.contains("needs approval [perm-")
        })
        .await;
    assert!(
        first.stderr().contains("letta-ctl approve perm-"),
        "says how to answer"
    );
    first.kill().await;

    let status = shell.run(&["daemon", "status"]).await;
    assert!(status.stdout.contains("1 pending approval"), "{status:?}");
    assert!(!shell.cwd.join("approved.txt").exists());

    let mut second = shell.spawn_answering(
        "attach-2",
        &["attach", "--agent", &agent, "--until-idle", "--interactive"],
    );
    second
        .wait_for_output("the approval again", |_, err| {
            err.contains("needs approval [perm-") && err.contains("[y] allow once")
        })
        .await;
    second.answer("y").await;
    let done = second.wait().await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        shell.cwd.join("approved.txt").exists(),
        "the approved call ran"
    );
    assert!(
        done.stderr.contains("● Bash(touch approved.txt)"),
        "{done:?}"
    );
}

async fn terminal_killed_while_a_tool_runs(backend: Backend) {
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let mut run = shell.spawn(
        "run",
        &[
            "run",
            "--agent",
            &agent,
            "--allowedTools",
            "Bash(sleep:*) Bash(touch:*)",
            r#"[[call:Bash {"command": "sleep 2 && touch slow.txt"}]] go"#,
        ],
    );
    run.wait_for_output("the tool starting", |_, err| err.contains("● Bash(sleep 2"))
        .await;
    run.kill().await;
    assert!(
        !shell.cwd.join("slow.txt").exists(),
        "killed before the tool ended"
    );

    let attach = shell
        .run(&["attach", "--agent", &agent, "--until-idle"])
        .await;
    assert_eq!(attach.code, 0, "{attach:?}");
    assert!(
        attach.stderr.contains("⎿"),
        "the tool's result is shown: {attach:?}"
    );
    assert!(
        !attach.stdout.trim().is_empty(),
        "and the reply after it: {attach:?}"
    );
    assert!(shell.cwd.join("slow.txt").exists());
}

/// Kills the daemon `letta-ctl daemon start` launched when the test ends.
struct StopDaemon(Shell);

impl Drop for StopDaemon {
    fn drop(&mut self) {
        if let Ok(file) = letta_client::discovery::read_daemon_file(&self.0.data_dir) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &file.pid.to_string()])
                .status();
        }
    }
}

#[tokio::test]
async fn a_run_outlives_a_daemon_restart_and_a_crash() {
    let backend = Backend::mock().await;
    let root = tempfile::tempdir().unwrap();
    let shell = super::shell_for_own_daemon(root.path(), &backend);
    let _guard = StopDaemon(shell.clone());
    let started = shell.run(&["daemon", "start"]).await;
    assert_eq!(started.code, 0, "{started:?}");
    let agent = new_agent(&shell).await;

    // A clean stop and start.
    let mut run = shell.spawn(
        "run-1",
        &[
            "run",
            "--agent",
            &agent,
            "[[delay=0.1]] [[repeat=4]] long one",
        ],
    );
    run.wait_for_output("streamed text", |out, _| out.contains("Echo"))
        .await;
    let stopped = shell.run(&["daemon", "stop"]).await;
    assert_eq!(stopped.code, 0, "{stopped:?}");
    run.wait_for_output("the loss noticed", |_, err| err.contains("reconnecting"))
        .await;
    assert_eq!(shell.run(&["daemon", "start"]).await.code, 0);
    let finished = run.wait().await;
    assert_eq!(finished.code, 0, "{finished:?}");
    assert!(finished.stderr.contains("reconnected"), "{finished:?}");
    assert!(
        finished.stdout.contains("w39"),
        "the whole reply arrives: {finished:?}"
    );

    // kill -9 in the middle of a turn.
    let mut run = shell.spawn(
        "run-2",
        &[
            "run",
            "--agent",
            &agent,
            "[[delay=0.1]] [[repeat=4]] crash one",
        ],
    );
    run.wait_for_output("streamed text", |out, _| out.contains("Echo"))
        .await;
    let pid = letta_client::discovery::read_daemon_file(&shell.data_dir)
        .unwrap()
        .pid;
    crate::support::signal(pid, "KILL");
    run.wait_for_output("the loss noticed", |_, err| err.contains("reconnecting"))
        .await;
    assert_eq!(shell.run(&["daemon", "start"]).await.code, 0);
    let finished = run.wait().await;
    assert_eq!(finished.code, 0, "{finished:?}");
    assert!(
        finished.stdout.contains("w39"),
        "the whole reply arrives: {finished:?}"
    );
}

#[tokio::test]
async fn two_attach_sessions_follow_one_runtime() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    detach_asking_to_touch(&shell, &agent, "both.txt").await;
    let attach = [
        "attach",
        "--agent",
        agent.as_str(),
        "--until-idle",
        "--after",
        "0",
    ];
    let mut one = shell.spawn("one", &attach);
    let mut two = shell.spawn("two", &attach);
    for session in [&mut one, &mut two] {
        session
            .wait_for_output("the approval", |_, err| {
                err.contains("needs approval [perm-")
            })
            .await;
    }
    let status = shell.run(&["--json", "daemon", "status"]).await.json();
    let request_id = status["runtimes"][0]["pending_approvals"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approved = shell.run(&["approve", &request_id]).await;
    assert_eq!(approved.code, 0, "{approved:?}");
    let again = shell.run(&["deny", &request_id]).await;
    assert_eq!(again.code, 1, "answered already: {again:?}");
    assert!(again.stderr.contains("no pending approval"), "{again:?}");

    for session in [one, two] {
        let done = session.wait().await;
        assert_eq!(done.code, 0, "{done:?}");
        assert!(done.stderr.contains("● Bash(touch both.txt)"), "{done:?}");
        assert!(
            !done.stdout.trim().is_empty(),
            "both see the reply: {done:?}"
        );
    }
    assert!(shell.cwd.join("both.txt").exists());

    let events = shell
        .run(&["events", "--agent", &agent, "--after", "0"])
        .await;
    assert_eq!(events.code, 0, "{events:?}");
    let lines = events.json_lines();
    let seqs = super::event_seqs(&lines);
    assert_eq!(seqs.len(), lines.len(), "every line is an event");
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
    assert!(lines.iter().any(|line| line["type"] == "turn_finished"));
    assert!(lines.iter().any(|line| line["type"] == "control_request"));
}
