//! Session context: the first message of a session tells the agent where it
//! works (directory, git branch, its own ids) once — not again after a
//! restart — and again when the working directory changes; a runtime can
//! turn it off.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, last_user_text, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime};
use crate::support::git;

/// Runs a turn whose text carries a fresh marker; returns the text of the
/// user message the model got for it.
async fn sent(backend: &Backend, frontend: &mut Frontend, runtime: &Value, what: &str) -> String {
    let marker = format!("{what} {}", cm(what));
    let finished = turn(frontend, runtime, &marker, what).await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    last_user_text(&backend.model_request(&marker).await)
}

async fn the_agent_learns_where_it_works_once_per_session(backend: Backend) {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "feature-x"]);
    std::fs::write(repo.path().join("notes.txt"), "n").unwrap();
    git(repo.path(), &["add", "notes.txt"]);
    let author = "--author=Ada <ada@example.com>";
    git(
        repo.path(),
        &["commit", "-q", author, "-m", "add the notes"],
    );
    let cwd = repo.path().canonicalize().unwrap();

    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-context", &cwd, "standard").await;
    let first = sent(&backend, &mut frontend, &runtime, "context-first").await;
    assert!(first.contains("<system-reminder>"), "{first}");
    for expected in [
        format!("Working directory: {}", cwd.display()),
        "on branch feature-x".to_owned(),
        "add the notes (Ada)".to_owned(),
        format!("Agent id: {}", runtime["agent_id"].as_str().unwrap()),
        format!(
            "Conversation id: {}",
            runtime["conversation_id"].as_str().unwrap()
        ),
    ] {
        assert!(first.contains(&expected), "{expected} in {first}");
    }
    // What the agent answered is what the user wrote.
    let echoed: String = frontend
        .deltas("assistant_message")
        .iter()
        .filter_map(|delta| delta["content"].as_str())
        .collect();
    assert!(echoed.contains("Echo: context-first"), "{echoed}");

    let second = sent(&backend, &mut frontend, &runtime, "context-second").await;
    assert!(
        !second.contains("<system-reminder>"),
        "once per session: {second}"
    );

    daemon.stop();
    let (_restarted, mut after) = backend.restart(&daemon, &runtime).await;
    let third = sent(&backend, &mut after, &runtime, "context-third").await;
    assert!(!third.contains("<system-reminder>"), "remembered: {third}");

    let elsewhere = tempfile::tempdir().unwrap();
    let elsewhere = elsewhere.path().canonicalize().unwrap();
    after
        .send(json!({
            "type": "change_device_state",
            "runtime": runtime,
            "payload": { "cwd": elsewhere.display().to_string() },
        }))
        .await;
    after
        .wait_for("the new working directory", |frame| {
            frame["type"] == "update_device_status"
                && frame["device_status"]["current_working_directory"]
                    == elsewhere.display().to_string().as_str()
        })
        .await;
    let moved = sent(&backend, &mut after, &runtime, "context-moved").await;
    assert!(moved.contains("has changed"), "{moved}");
    assert!(
        moved.contains(&format!("Working directory: {}", elsewhere.display())),
        "{moved}"
    );
    assert!(moved.contains("Git repository: no"), "{moved}");
}

async fn a_runtime_can_go_without_it(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let mut frame = crate::support::frontend::start_new_runtime("e2e-no-context", Value::Null);
    frame["cwd"] = json!(cwd.path().display().to_string());
    frame["session_context"] = json!(false);
    frame.as_object_mut().unwrap().remove("external_tools");
    let started = frontend.request(frame).await;
    assert_eq!(started["success"], true, "{started}");
    let runtime = started["runtime"].clone();
    let first = sent(&backend, &mut frontend, &runtime, "context-off").await;
    assert!(!first.contains("<system-reminder>"), "{first}");
}

async fn skills_are_listed_loaded_and_their_changes_told(backend: Backend) {
    let cwd = tempfile::tempdir().unwrap();
    let skill = |name: &str, description: &str, body: &str| {
        let folder = cwd.path().join(".letta/skills").join(name);
        std::fs::create_dir_all(folder.join("scripts")).unwrap();
        std::fs::write(
            folder.join("SKILL.md"),
            format!("---\nname: {name}\ndescription: {description}\n---\n{body}\n"),
        )
        .unwrap();
        std::fs::write(folder.join("scripts/run.sh"), "echo hi").unwrap();
    };
    skill(
        "greet",
        "Greets people politely",
        "Say hello, then run scripts/run.sh.",
    );

    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "e2e-skills", cwd.path(), "standard").await;
    let first = sent(&backend, &mut frontend, &runtime, "skills-first").await;
    assert!(
        first.contains("- greet (project): Greets people politely"),
        "{first}"
    );

    let script = r#"[[call:Skill {"skill": "greet"}]]"#;
    let finished = turn(&mut frontend, &runtime, script, "skills-load").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    assert!(!frontend.asked_anyone(), "loading a skill asks nobody");
    let returned = frontend.deltas("tool_return_message");
    let loaded = returned.last().unwrap()["tool_return"].as_str().unwrap();
    assert!(
        loaded.contains("Say hello, then run scripts/run.sh."),
        "{loaded}"
    );
    assert!(loaded.contains("- scripts/run.sh"), "{loaded}");

    skill("fold", "Folds laundry", "Fold it.");
    let changed = sent(&backend, &mut frontend, &runtime, "skills-changed").await;
    assert!(
        changed.contains("The skills you can load have changed"),
        "{changed}"
    );
    assert!(
        changed.contains("- fold (project): Folds laundry"),
        "{changed}"
    );
    assert!(!changed.contains("- greet"), "only what changed: {changed}");
    assert!(!changed.contains("Working directory"), "{changed}");
    let same = sent(&backend, &mut frontend, &runtime, "skills-same").await;
    assert!(!same.contains("<system-reminder>"), "{same}");
}

on_both_backends!(
    the_agent_learns_where_it_works_once_per_session,
    a_runtime_can_go_without_it,
    skills_are_listed_loaded_and_their_changes_told,
);
