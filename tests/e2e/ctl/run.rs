//! `letta-ctl run`: output formats, prompts from stdin, permissions and
//! exit codes.

use super::{NEW_AGENT, event_seqs, new_agent, run_on, setup};
use crate::support::backend::{Backend, on_both_backends};

on_both_backends!(
    run_prints_text_json_and_stream_json,
    run_reads_the_prompt_from_stdin,
    run_denies_what_needs_approval_unless_allowed,
);

async fn run_prints_text_json_and_stream_json(backend: Backend) {
    let (_daemon, shell) = setup(&backend);
    let mut args = vec!["run", "--output-format", "json"];
    args.extend(NEW_AGENT);
    args.push("hello json");
    let output = shell.run(&args).await;
    assert_eq!(output.code, 0, "{output:?}");
    let result = output.json();
    assert_eq!(result["type"], "result");
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["is_error"], false);
    assert!(
        result["result"]
            .as_str()
            .unwrap()
            .contains("Echo: hello json"),
        "{result}"
    );
    assert!(result["num_turns"].as_u64().unwrap() >= 1, "{result}");
    assert!(result["duration_ms"].as_u64().unwrap() >= result["duration_api_ms"].as_u64().unwrap());
    assert_eq!(result["session_id"], result["conversation_id"]);
    assert!(result["usage"].is_object(), "{result}");
    let agent = result["agent_id"].as_str().unwrap();

    let text = run_on(&shell, agent, &["hello text"]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("Echo: hello text"), "{text:?}");
    assert!(
        text.stderr.contains(agent),
        "the run names its agent: {text:?}"
    );

    let stream = run_on(
        &shell,
        agent,
        &["--new", "--output-format", "stream-json", "hello stream"],
    )
    .await;
    assert_eq!(stream.code, 0, "{stream:?}");
    let lines = stream.json_lines();
    let (last, events) = lines.split_last().unwrap();
    assert_eq!(last["type"], "result");
    assert_ne!(
        last["conversation_id"], "default",
        "--new starts a conversation"
    );
    assert!(events.iter().any(|event| event["type"] == "stream_delta"
        && event["delta"]["message_type"] == "assistant_message"));
    assert!(events.iter().any(|event| event["type"] == "turn_finished"));
    let seqs = event_seqs(events);
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "in order, once: {seqs:?}"
    );
}

async fn run_reads_the_prompt_from_stdin(backend: Backend) {
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let both = shell
        .run_with_stdin(
            &[
                "run",
                "--agent",
                &agent,
                "--output-format",
                "json",
                "review this",
            ],
            Some("piped diff line\n"),
        )
        .await;
    assert_eq!(both.code, 0, "{both:?}");
    let reply = both.json()["result"].as_str().unwrap().to_owned();
    assert!(
        reply.contains("review this") && reply.contains("piped diff line"),
        "{reply}"
    );

    let only_stdin = shell
        .run_with_stdin(&["run", "--agent", &agent, "-"], Some("only from stdin"))
        .await;
    assert_eq!(only_stdin.code, 0, "{only_stdin:?}");
    assert!(
        only_stdin.stdout.contains("Echo: only from stdin"),
        "{only_stdin:?}"
    );

    let empty = shell
        .run_with_stdin(&["run", "--agent", &agent], Some("  \n"))
        .await;
    assert_eq!(empty.code, 2, "an empty prompt is a usage error: {empty:?}");
}

async fn run_denies_what_needs_approval_unless_allowed(backend: Backend) {
    let (_daemon, shell) = setup(&backend);
    let agent = new_agent(&shell).await;
    let touch = |file: &str| format!(r#"[[call:Bash {{"command": "touch {file}"}}]] go"#);

    let denied = run_on(
        &shell,
        &agent,
        &["--output-format", "json", &touch("denied.txt")],
    )
    .await;
    assert_eq!(denied.code, 4, "{denied:?}");
    let result = denied.json();
    assert_eq!(result["subtype"], "error_approval_denied");
    assert_eq!(result["permission_denials"][0]["tool_name"], "Bash");
    assert!(
        denied.stderr.contains("--allowedTools"),
        "says how to allow it: {denied:?}"
    );
    assert!(!shell.cwd.join("denied.txt").exists());

    let allowed = run_on(
        &shell,
        &agent,
        &["--allowedTools", "Bash(touch:*)", &touch("allowed.txt")],
    )
    .await;
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert!(
        allowed.stderr.contains("Bash(touch allowed.txt)"),
        "shows the call: {allowed:?}"
    );
    assert!(
        shell.cwd.join("allowed.txt").exists(),
        "ran in the caller's directory"
    );

    // The rules were for that run only.
    let again = run_on(&shell, &agent, &[&touch("again.txt")]).await;
    assert_eq!(again.code, 4, "{again:?}");

    let mode = [
        "--permission-mode",
        "unrestricted",
        "--disallowedTools",
        "Bash",
    ];
    let mut args = mode.to_vec();
    let text = touch("forbidden.txt");
    args.push(&text);
    let forbidden = run_on(&shell, &agent, &args).await;
    assert_eq!(
        forbidden.code, 0,
        "a deny rule is an answer, not a question: {forbidden:?}"
    );
    assert!(!shell.cwd.join("forbidden.txt").exists());

    let bad_rule = run_on(&shell, &agent, &["--allowedTools", "Bash(oops", "hello"]).await;
    assert_eq!(bad_rule.code, 1, "{bad_rule:?}");
    assert!(
        bad_rule.stderr.contains("invalid permission rule"),
        "{bad_rule:?}"
    );
}

#[tokio::test]
async fn usage_errors_and_a_missing_daemon_have_their_exit_codes() {
    let backend = Backend::mock().await;
    let (mut daemon, shell) = setup(&backend);
    let bad_mode = shell
        .run(&["run", "--agent", "a", "--permission-mode", "yolo", "x"])
        .await;
    assert_eq!(bad_mode.code, 2, "{bad_mode:?}");
    let bad_flag = shell.run(&["run", "--no-such-flag"]).await;
    assert_eq!(bad_flag.code, 2, "{bad_flag:?}");

    daemon.stop();
    let unreachable = shell
        .run(&["run", "--no-start", "--agent", "a", "hello"])
        .await;
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("letta-ctl daemon start"),
        "{unreachable:?}"
    );
}
