//! Attempts to run a program or write a file through commands that look
//! read-only, and settings files that cannot be parsed: each must ask.

use serde_json::json;

use super::{approval, project, start_runtime};
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, user_input};

on_both_backends!(
    lookers_that_would_run_or_write_ask_first,
    a_broken_settings_file_fails_closed,
);

/// `rg --pre` runs a program on each file, `tree -o` writes one, `find
/// -exec` and `xargs` run programs, `git -c` sets one: the programs are on
/// the read-only list (or wrap one), those uses are not.
async fn lookers_that_would_run_or_write_ask_first(backend: Backend) {
    let project = project();
    let script_path = project.path().join("script.sh");
    std::fs::write(&script_path, "#!/bin/sh\ntouch ran.txt\ncat \"$1\"\n").unwrap();
    std::fs::set_permissions(
        &script_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-probe-lookers", project.path(), "standard").await;
    // Each of these would run the script or write a file; the last only looks.
    let probes = [
        "rg --pre ./script.sh alpha a.txt",
        "tree -o listing.txt .",
        "find . -name a.txt -exec ./script.sh ;",
        "echo a.txt | xargs ./script.sh",
        "git -c core.pager=./script.sh log",
    ];
    let script: String = probes
        .iter()
        .chain(&["ls -la && grep -n alpha a.txt"])
        .map(|command| {
            format!(r#"[[call:Bash {{"command": "{command}", "description": "probe"}}]] "#)
        })
        .collect();
    frontend
        .send(user_input(&runtime, &script, &cm("probe-lookers")))
        .await;
    for (index, probe) in probes.iter().enumerate() {
        let asked = frontend
            .wait_for(probe, |frame| {
                frame["type"] == "control_request" && frame["request"]["input"]["command"] == *probe
            })
            .await;
        assert!(!project.path().join("ran.txt").exists(), "the script ran");
        assert!(!project.path().join("listing.txt").exists());
        let denied = frontend
            .request(approval(
                &runtime,
                &asked["request_id"],
                json!({"behavior": "deny", "message": "no"}),
                &format!("deny-{index}"),
            ))
            .await;
        assert_eq!(denied["accepted"], true, "{denied}");
    }
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    // The plain look ran without asking.
    let asked: Vec<_> = frontend
        .seen
        .iter()
        .filter(|frame| frame["type"] == "control_request")
        .collect();
    assert_eq!(asked.len(), probes.len(), "{asked:?}");
    let returns = frontend.deltas("tool_return_message");
    assert!(
        returns.iter().any(|delta| delta["tool_return"]
            .as_str()
            .unwrap_or("")
            .contains("1:alpha")),
        "{returns:?}"
    );
    assert!(!project.path().join("ran.txt").exists());
    assert!(!project.path().join("listing.txt").exists());
}

/// A settings file that does not parse might have denied the call: it
/// asks, even in unrestricted mode, and the frontend is told why.
async fn a_broken_settings_file_fails_closed(backend: Backend) {
    let project = project();
    std::fs::create_dir_all(project.path().join(".letta")).unwrap();
    std::fs::write(
        project.path().join(".letta/settings.json"),
        r#"{"permissions": {"deny": ["Bash(rm:*)"],}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(project.path().join("victim")).unwrap();
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(
        &frontend,
        "e2e-probe-settings",
        project.path(),
        "unrestricted",
    )
    .await;
    let status = frontend
        .seen_or_wait_for("settings errors in device status", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["settings_errors"].is_array()
        })
        .await;
    let error = &status["device_status"]["settings_errors"][0];
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with(".letta/settings.json"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("line 1"),
        "{error}"
    );

    let script = r#"[[call:Bash {"command": "rm -rf victim", "description": "clean"}]]"#;
    frontend
        .send(user_input(&runtime, script, &cm("probe-settings")))
        .await;
    let asked = frontend.wait_for_type("control_request").await;
    assert!(project.path().join("victim").exists());
    frontend
        .request(approval(
            &runtime,
            &asked["request_id"],
            json!({"behavior": "deny", "message": "fix the settings first"}),
            "deny-settings",
        ))
        .await;
    frontend.wait_for_type("turn_finished").await;
    assert!(project.path().join("victim").exists());
    assert!(
        daemon.stderr().contains("settings.json"),
        "the log names the broken file"
    );
}
