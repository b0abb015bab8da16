//! Steering from the shell: answering approvals at the terminal (with the
//! diff, for the session, or with a reason), the run options that pick
//! tools, directory and conversation, `abort` and `events --follow`.

use super::{new_agent, run_on, setup};
use crate::support::backend::Backend;

#[tokio::test]
async fn attach_shows_the_diff_and_answers_always_or_with_a_reason() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let notes = shell.cwd.join("notes.txt");
    std::fs::write(&notes, "old line\n").unwrap();
    let edit = |from: &str, to: &str| {
        format!(
            r#"[[call:Edit {{"file_path": "{}", "old_string": "{from}", "new_string": "{to}"}}]] go"#,
            notes.display()
        )
    };
    let attach = [
        "attach",
        "--agent",
        agent.as_str(),
        "--until-idle",
        "--interactive",
    ];

    assert_eq!(
        run_on(&shell, &agent, &["--detach", &edit("old", "new")])
            .await
            .code,
        0
    );
    let mut first = shell.spawn_answering("always", &attach);
    first
        .wait_for_output("the diff and the choices", |_, err| {
            err.contains("-old line") && err.contains("+new line") && err.contains("[a] ")
        })
        .await;
    first.answer("a").await;
    assert_eq!(first.wait().await.code, 0);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "new line\n");

    // Allowed for the rest of the session: no question this time.
    assert_eq!(
        run_on(&shell, &agent, &["--detach", &edit("new", "newer")])
            .await
            .code,
        0
    );
    let second = shell.run(&attach).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert!(!second.stderr.contains("needs approval"), "{second:?}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "newer line\n");

    let touch = r#"[[call:Bash {"command": "touch refused.txt"}]] go"#;
    assert_eq!(run_on(&shell, &agent, &["--detach", touch]).await.code, 0);
    let mut third = shell.spawn_answering("reason", &attach);
    third
        .wait_for_output("the question", |_, err| err.contains("[n] deny"))
        .await;
    third.answer("n").await;
    third
        .wait_for_output("the reason prompt", |_, err| {
            err.contains("reason for the agent")
        })
        .await;
    third.answer("not on a Friday").await;
    let done = third.wait().await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        done.stderr.contains("not on a Friday"),
        "the agent got the reason: {done:?}"
    );
    assert!(!shell.cwd.join("refused.txt").exists());
}

#[tokio::test]
async fn run_options_pick_tools_directory_and_conversation() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let touch = |file: &str| format!(r#"[[call:Bash {{"command": "touch {file}"}}]] go"#);

    std::fs::create_dir_all(shell.cwd.join("sub")).unwrap();
    let elsewhere = run_on(
        &shell,
        &agent,
        &[
            "--cwd",
            "sub",
            "--allowedTools",
            "Bash(touch:*)",
            &touch("here.txt"),
        ],
    )
    .await;
    assert_eq!(elsewhere.code, 0, "{elsewhere:?}");
    assert!(
        shell.cwd.join("sub/here.txt").exists(),
        "--cwd is where tools run"
    );
    let missing = run_on(&shell, &agent, &["--cwd", "no/such/dir", "hello"]).await;
    assert_eq!(missing.code, 2, "{missing:?}");

    let without_bash = run_on(
        &shell,
        &agent,
        &[
            "--tools",
            "Read,Grep",
            "--output-format",
            "json",
            &touch("never.txt"),
        ],
    )
    .await;
    assert_eq!(
        without_bash.code, 0,
        "an unoffered tool is not asked about: {without_bash:?}"
    );
    let result = without_bash.json();
    assert_eq!(
        result["permission_denials"],
        serde_json::json!([]),
        "{result}"
    );
    assert!(
        result["result"].as_str().unwrap().contains("not available"),
        "{result}"
    );
    assert!(!shell.cwd.join("never.txt").exists());
    let mut offered = backend.offered_tools("never.txt").await;
    offered.sort();
    assert_eq!(offered, ["Grep", "Read"], "a list offers exactly its tools");

    let started = run_on(
        &shell,
        &agent,
        &["--new", "--output-format", "json", "first"],
    )
    .await;
    let conversation = started.json()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let continued = run_on(
        &shell,
        &agent,
        &[
            "--conversation",
            &conversation,
            "--output-format",
            "json",
            "second",
        ],
    )
    .await;
    assert_eq!(continued.code, 0, "{continued:?}");
    assert_eq!(continued.json()["conversation_id"], conversation.as_str());
}

#[tokio::test]
async fn abort_ends_the_turn_that_events_follow_shows() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let mut follow = shell.spawn("follow", &["events", "--agent", &agent, "--follow"]);
    let sent = run_on(
        &shell,
        &agent,
        &["--detach", "[[delay=0.2]] [[repeat=5]] endless"],
    )
    .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    follow
        .wait_for_output("streamed events", |out, _| {
            out.contains("assistant_message")
        })
        .await;

    let aborted = shell.run(&["abort", "--agent", &agent]).await;
    assert_eq!(aborted.code, 0, "{aborted:?}");
    assert!(aborted.stderr.contains("aborted"), "{aborted:?}");
    follow
        .wait_for_output("the cancelled turn", |out, _| {
            out.lines().any(|line| {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                event["type"] == "turn_finished" && event["stop_reason"] == "cancelled"
            })
        })
        .await;
    let (lines, _) = follow.kill().await;
    let seqs: Vec<u64> = lines
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["event_seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");

    let idle = shell.run(&["abort", "--agent", &agent]).await;
    assert_eq!(idle.code, 0, "{idle:?}");
    assert!(idle.stderr.contains("nothing was running"), "{idle:?}");
}

#[tokio::test]
async fn a_run_without_a_terminal_says_nobody_can_answer_a_question() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let question = QUESTION;
    let output = run_on(&shell, &agent, &["--output-format", "json", question]).await;
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("declined the agent's question"),
        "{output:?}"
    );
    let result = output.json();
    assert!(
        result["result"]
            .as_str()
            .unwrap()
            .contains("Nobody can answer"),
        "{result}"
    );
}

#[tokio::test]
async fn attach_asks_the_agents_question_and_sends_the_answer() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let question = &format!("{QUESTION} go");
    assert_eq!(
        run_on(&shell, &agent, &["--detach", question]).await.code,
        0
    );
    let attach = [
        "attach",
        "--agent",
        agent.as_str(),
        "--until-idle",
        "--interactive",
    ];
    let mut attached = shell.spawn_answering("question", &attach);
    attached
        .wait_for_output("the question and its options", |_, err| {
            err.contains("Color") && err.contains("2) Blue — cool")
        })
        .await;
    attached.answer("2").await;
    let done = attached.wait().await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        done.stdout.contains(r#""Which color?" = "Blue""#),
        "the agent got the answer: {done:?}"
    );
}

/// An agent script asking one question with two options.
const QUESTION: &str = r#"[[call:AskUserQuestion {"questions": [{"question": "Which color?", "header": "Color", "options": [{"label": "Red", "description": "warm"}, {"label": "Blue", "description": "cool"}]}]}]]"#;

/// A subagent launched in a `run` shows there as a call, and `attach`
/// shows it ending (its report then comes as a turn of its own).
#[tokio::test]
async fn attach_shows_a_subagent_start_and_end() {
    let backend = Backend::mock().await;
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let launch = serde_json::json!({
        "description": "look around",
        "prompt": "the ctl explorer",
        "subagent_type": "explore",
    });
    let ran = run_on(&shell, &agent, &[&format!("[[call:Agent {launch}]]")]).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stderr.contains("● Agent(look around)"), "{ran:?}");
    let mut attach = shell.spawn("attach", &["attach", "--agent", &agent]);
    attach
        .wait_for_output("the subagent's end", |_, err| {
            err.contains("◆ subagent explore \"look around\": completed")
        })
        .await;
    attach.kill().await;
}
