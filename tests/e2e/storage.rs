//! The daemon's database running out of room.

use serde_json::{Value, json};

use crate::support::backend::{Backend, cm};
use crate::support::frontend::{Frontend, start_runtime, user_input};
use crate::support::{Daemon, Options};

/// Inputs big enough to fill a 2 MiB database in a few dozen turns.
const INPUT_BYTES: usize = 48 * 1024;

/// A database near its size limit refuses new inputs and runtimes with a
/// typed error that says why; every turn it took finished and every event
/// stays replayable; with the limit raised it takes work again.
#[tokio::test]
async fn a_full_database_refuses_new_work_and_loses_nothing() {
    let backend = Backend::mock().await;
    let project = tempfile::tempdir().unwrap();
    let limited = |mib: &str| backend.options().arg("--max-database-mib").arg(mib);
    let mut daemon = Daemon::start_with(limited("2"));
    let mut frontend = Frontend::connect(&daemon).await;
    let runtime = start_runtime(&frontend, "full", project.path(), "standard").await;

    let filler = "y".repeat(INPUT_BYTES);
    let mut accepted = 0;
    let refused = loop {
        assert!(accepted < 200, "2 MiB holds fewer inputs than that");
        let reply = frontend
            .request(user_input(
                &runtime,
                &format!("[[notool]] {filler}"),
                &cm(&format!("full-{accepted}")),
            ))
            .await;
        if reply["accepted"] != true {
            break reply;
        }
        accepted += 1;
        let finished = frontend.wait_for_type("turn_finished").await;
        assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    };
    assert!(accepted >= 5, "only {accepted} inputs fit: {refused}");
    assert_eq!(refused["error_code"], -32007, "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("database is full") && error.contains("--max-database-mib"),
        "{refused}"
    );
    let another = frontend
        .request(json!({
            "type": "runtime_start",
            "create_agent": { "body": { "name": "one-more", "model": "mock/default-model" } },
            "create_conversation": {},
        }))
        .await;
    assert_ne!(another["success"], true, "{another}");

    // Every event of every turn is still there, in order.
    let replayed = replay_all(&daemon, &runtime).await;
    let finished = replayed
        .iter()
        .filter(|event| event["type"] == "turn_finished")
        .count();
    assert_eq!(
        finished, accepted,
        "every accepted turn finished and is kept"
    );

    daemon.stop();
    let daemon = Daemon::start_with(Options {
        data_dir: Some(daemon.data_dir.clone()),
        ..limited("64")
    });
    let mut frontend = Frontend::connect(&daemon).await;
    let synced = frontend
        .request(json!({"type": "sync", "runtime": runtime}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let reply = frontend
        .request(user_input(&runtime, "[[notool]] room again", &cm("room")))
        .await;
    assert_eq!(reply["accepted"], true, "{reply}");
    let finished = frontend.wait_for_type("turn_finished").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}

/// Every event of `runtime` from the start, checked consecutive.
async fn replay_all(daemon: &Daemon, runtime: &Value) -> Vec<Value> {
    let mut reader = Frontend::connect(daemon).await;
    let synced = reader
        .request(json!({"type": "sync", "runtime": runtime, "after_event_seq": 0}))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    // Every event up to the sync's last one was sent before its answer.
    let last = synced["last_event_seq"].as_u64().expect("a last event_seq");
    reader
        .wait_for("the replay", |frame| frame["event_seq"] == last)
        .await;
    let seqs = reader.event_seqs();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    reader.seen
}
