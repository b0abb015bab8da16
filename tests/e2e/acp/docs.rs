//! What the README and the registry manifest tell editors, checked.

use std::sync::Arc;

use agent_client_protocol::v1::schema::StopReason;
use serde_json::{Value, json};

use super::editor::{Seen, Workspace, agent_text, editor_running, open_session, prompt, repo};
use crate::support::backend::Backend;

/// Each editor configuration the README gives, started as written, holds
/// a session.
#[tokio::test]
async fn the_readme_editor_configurations_hold_a_session() {
    let backend = Backend::mock().await;
    let workspace = Workspace::new(&backend).await;
    let shell = workspace
        .shell
        .clone()
        .env("LETTA_AGENT_ID", workspace.agent.clone());
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = readme_editor_commands(&readme);
    let languages: Vec<&str> = commands.iter().map(|(language, _)| *language).collect();
    assert_eq!(languages, ["json", "json", "lua", "elisp"], "{commands:?}");
    for (language, command) in &commands {
        assert_eq!(command[0], "letta-ctl", "{language}: {command:?}");
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        let (root, text) = (workspace.root.clone(), format!("hello from {language}"));
        let seen = Arc::new(Seen::default());
        let check = seen.clone();
        editor_running(&shell, &args, seen, async move |cx| {
            let (id, _) = open_session(&cx, &root).await?;
            let answer = cx.send_request(prompt(&id, &text)).block_task().await?;
            assert_eq!(answer.stop_reason, StopReason::EndTurn);
            assert!(agent_text(&check.updates()).contains(&text));
            Ok(())
        })
        .await;
    }
}

/// The ACP registry manifest has what the registry requires of an agent,
/// with this release's version.
#[test]
fn the_registry_manifest_names_this_release() {
    let output = std::process::Command::new("bash")
        .arg(repo().join("tools/acp-registry-manifest.sh"))
        .arg("https://example.org/releases/v1/")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let manifest: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = manifest["id"].as_str().unwrap();
    assert!(
        id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{id}"
    );
    for field in ["name", "description", "license"] {
        assert!(!manifest[field].as_str().unwrap().is_empty(), "{field}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(manifest["version"], version);
    let targets = manifest["distribution"]["binary"].as_object().unwrap();
    assert!(targets.contains_key("linux-x86_64"), "{manifest:#}");
    for (platform, target) in targets {
        assert_eq!(
            target["archive"],
            format!("https://example.org/releases/v1/letta-daemon-{version}-{platform}.tar.gz")
        );
        assert_eq!(target["cmd"], "./letta-ctl");
        assert_eq!(target["args"], json!(["acp"]));
    }
}

/// The command line of each code block in the README's editor section:
/// (its language, the command and its arguments).
fn readme_editor_commands(readme: &str) -> Vec<(&str, Vec<String>)> {
    let section = readme
        .split("\n## Use it from your editor\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README's editor section");
    let quoted = |text: &str| -> Vec<String> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let after = |text: &'static str, block: &str, open: &str, close: char| -> String {
        let start = block.find(text).expect(text) + text.len();
        let rest = &block[start..];
        let open_at = rest.find(open).expect(open) + open.len();
        rest[open_at..].split(close).next().unwrap().to_owned()
    };
    section
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|block| {
            let (language, code) = block.split_once('\n').unwrap();
            let command = match language {
                "json" => {
                    let config: Value = serde_json::from_str(code).unwrap();
                    let letta = &config["agent_servers"]["Letta"];
                    let mut command = vec![letta["command"].as_str().unwrap().to_owned()];
                    command.extend(
                        letta["args"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|arg| arg.as_str().unwrap().to_owned()),
                    );
                    command
                }
                "lua" => quoted(&after("commands", code, "default = {", '}')),
                "elisp" => {
                    let mut command = quoted(&after(":command ", code, "", '\n'));
                    command.extend(quoted(&after(":command-params", code, "'(", ')')));
                    command
                }
                other => panic!("a code block in {other} in the editor section"),
            };
            (language, command)
        })
        .collect()
}
