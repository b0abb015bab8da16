//! Schedules a frontend sets (`cron_*`): a one-off schedule due while the
//! daemon was killed runs once when it is back, and never again; schedules
//! are listed, changed, paused, resumed, run at once, and refused with a
//! reason when they are wrong.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm, on_both_backends};
use crate::support::frontend::{Frontend, start_runtime};
use crate::support::within;
use crate::wakes::in_seconds;

/// User messages a schedule's run sent with this prompt.
fn runs_of(messages: &[Value], marker: &str) -> usize {
    messages
        .iter()
        .filter(|message| {
            let content = message["content"].to_string();
            message["message_type"] == "user_message"
                && content.contains("comes from a schedule")
                && content.contains(marker)
        })
        .count()
}

fn add(runtime: &Value, fields: Value) -> Value {
    let mut frame = json!({
        "type": "cron_add",
        "agent_id": runtime["agent_id"],
        "conversation_id": runtime["conversation_id"],
        "name": "check back",
        "description": "",
        "cron": "0 9 * * *",
        "timezone": "UTC",
        "recurring": false,
        "prompt": "p",
    });
    for (key, value) in fields.as_object().unwrap() {
        frame[key] = value.clone();
    }
    frame
}

async fn a_schedule_fires_after_a_restart_exactly_once(backend: Backend) {
    let mut daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-cron", cwd.path(), "standard").await;
    let marker = format!("cron-prompt-{}", cm("cron"));
    let (at, due) = in_seconds(8);
    let added = frontend
        .request(add(
            &runtime,
            json!({ "prompt": marker, "scheduled_for": at }),
        ))
        .await;
    assert_eq!(added["success"], true, "{added}");
    let id = added["task"]["id"].as_str().unwrap().to_owned();
    assert_eq!(added["task"]["next_run_at"], at.as_str(), "{added}");
    frontend
        .seen_or_wait_for("crons_updated", |frame| frame["type"] == "crons_updated")
        .await;

    // Killed before it is due; back after it was due.
    daemon.kill();
    tokio::time::sleep_until(due.into()).await;
    let (mut restarted, mut after) = backend.restart(&daemon, &runtime).await;
    let ran = after
        .seen_or_wait_for("the scheduled turn's end", |frame| {
            frame["type"] == "turn_finished"
        })
        .await;
    assert_eq!(ran["stop_reason"], "end_turn", "{ran}");
    let request = backend.model_request(&marker).await;
    assert!(request.to_string().contains("check back"), "{request}");
    let got = after
        .request(json!({ "type": "cron_get", "task_id": id }))
        .await;
    assert_eq!(got["task"]["status"], "fired", "{got}");
    assert_eq!(got["task"]["fire_count"], 1, "{got}");
    assert_eq!(got["task"]["last_run_outcome"], "queued", "{got}");
    assert_eq!(got["task"]["last_run_reason"], "one_off_due", "{got}");
    let runs = after
        .request(json!({ "type": "cron_runs", "task_id": id }))
        .await;
    assert_eq!(runs["page"]["total"], 1, "{runs}");
    let run = &runs["page"]["entries"][0];
    assert_eq!(run["outcome"], "queued", "{runs}");
    assert_eq!(run["conversationId"], runtime["conversation_id"], "{runs}");
    assert_eq!(run["scheduledFor"], at.as_str(), "{runs}");

    // Another restart: the schedule that ran does not run again.
    restarted.kill();
    let (_again, mut last) = backend.restart(&daemon, &runtime).await;
    // A turn of its own outlasts the maintenance ticks a second run needs.
    let finished = turn(&mut last, &runtime, "after the schedule", "cron-after").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
    let messages = last.stored_messages(&runtime).await;
    assert_eq!(runs_of(&messages, &marker), 1, "{messages:?}");
}

async fn schedules_are_managed_and_run_at_once(backend: Backend) {
    let daemon = backend.daemon();
    let mut frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-cron-manage", cwd.path(), "standard").await;
    let marker = format!("cron-now-{}", cm("cron"));
    let added = frontend
        .request(add(
            &runtime,
            json!({
                "conversation_id": "new",
                "cron": "*/5 * * * *",
                "timezone": "Europe/Berlin",
                "recurring": true,
                "prompt": marker,
            }),
        ))
        .await;
    assert_eq!(added["success"], true, "{added}");
    let id = added["task"]["id"].as_str().unwrap().to_owned();
    let listed = frontend
        .request(json!({ "type": "cron_list", "agent_id": runtime["agent_id"] }))
        .await;
    assert_eq!(listed["tasks"][0]["id"], id.as_str(), "{listed}");

    // Run at once, into a new conversation of the agent.
    let triggered = frontend
        .request(json!({ "type": "cron_trigger", "task_id": id }))
        .await;
    assert_eq!(triggered["success"], true, "{triggered}");
    assert_eq!(triggered["task"]["fire_count"], 1, "{triggered}");
    assert_eq!(
        triggered["task"]["last_run_reason"], "manual",
        "{triggered}"
    );
    assert_eq!(triggered["task"]["status"], "active", "{triggered}");
    let runs = frontend
        .request(json!({ "type": "cron_runs", "task_id": id }))
        .await;
    let conversation = runs["page"]["entries"][0]["conversationId"].clone();
    assert!(conversation.is_string(), "{runs}");
    assert_ne!(conversation, runtime["conversation_id"], "{runs}");
    let scheduled = json!({ "agent_id": runtime["agent_id"], "conversation_id": conversation });
    let started = frontend
        .request(json!({ "type": "runtime_start", "agent_id": runtime["agent_id"], "conversation_id": conversation }))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let synced = frontend
        .request(json!({ "type": "sync", "runtime": scheduled, "after_event_seq": 0 }))
        .await;
    assert_eq!(synced["success"], true, "{synced}");
    let ran = frontend
        .seen_or_wait_for("the scheduled turn's end", |frame| {
            frame["type"] == "turn_finished" && frame["runtime"]["conversation_id"] == conversation
        })
        .await;
    assert_eq!(ran["stop_reason"], "end_turn", "{ran}");
    assert!(
        backend
            .model_request(&marker)
            .await
            .to_string()
            .contains("cron pattern"),
        "the prompt says how the schedule repeats"
    );

    // Paused, it does not run; resumed, it is due again.
    let paused = frontend
        .request(json!({ "type": "cron_pause", "task_id": id }))
        .await;
    assert_eq!(paused["task"]["status"], "paused", "{paused}");
    assert!(paused["task"]["next_run_at"].is_null(), "{paused}");
    let resumed = frontend
        .request(json!({ "type": "cron_resume", "task_id": id }))
        .await;
    assert_eq!(resumed["task"]["status"], "active", "{resumed}");
    assert!(resumed["task"]["next_run_at"].is_string(), "{resumed}");
    let updated = frontend
        .request(json!({ "type": "cron_update", "task_id": id, "prompt": "changed", "scheduled_for": null }))
        .await;
    assert_eq!(updated["task"]["prompt"], "changed", "{updated}");

    // Wrong schedules are refused with the reason.
    let past = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH).to_string();
    for (fields, expected) in [
        (json!({ "cron": "61 * * * *" }), "five fields"),
        (json!({ "timezone": "Mars/Olympus" }), "IANA"),
        (json!({ "scheduled_for": past }), "future"),
        (json!({ "scheduled_for": "soon" }), "RFC 3339"),
        (
            json!({ "recurring": true, "scheduled_for": "2099-01-01T00:00:00Z" }),
            "one-off",
        ),
        (json!({ "name": "  " }), "name"),
    ] {
        let refused = frontend.request(add(&runtime, fields.clone())).await;
        assert_eq!(refused["success"], false, "{fields}: {refused}");
        assert!(
            refused["error"]
                .as_str()
                .is_some_and(|error| error.contains(expected)),
            "{fields}: {refused}"
        );
    }
    let unknown = frontend
        .request(json!({ "type": "cron_trigger", "task_id": "no-such" }))
        .await;
    assert_eq!(unknown["success"], false, "{unknown}");
    assert_eq!(unknown["error_code"], -32008, "{unknown}");

    let deleted = frontend
        .request(json!({ "type": "cron_delete", "task_id": id }))
        .await;
    assert_eq!(deleted["found"], true, "{deleted}");
    let again = frontend
        .request(json!({ "type": "cron_delete", "task_id": id }))
        .await;
    assert_eq!(
        (again["success"].clone(), again["found"].clone()),
        (json!(true), json!(false))
    );
}

/// The schedule commands as typed JSON-RPC calls on the local socket.
#[tokio::test]
async fn schedules_over_json_rpc() {
    use letta_client::{ClientError, RpcClient};
    use letta_protocol::methods::{CronAdd, CronDelete, CronGet, CronList, CronUpdate};
    use letta_protocol::*;

    let daemon = crate::support::Daemon::start();
    let client = within(RpcClient::connect_socket(&daemon.socket()))
        .await
        .unwrap();
    let added = within(client.call::<CronAdd>(&CronAddParams {
        agent_id: "agent-rpc".to_owned(),
        conversation_id: Some("default".to_owned()),
        name: "nightly".to_owned(),
        description: String::new(),
        cron: "0 2 * * *".to_owned(),
        timezone: Some("UTC".to_owned()),
        recurring: false,
        prompt: "Tidy up.".to_owned(),
        scheduled_for: Some("2099-01-01T02:00:00Z".to_owned()),
    }))
    .await
    .unwrap();
    assert_eq!(added.task.status, CronTaskStatus::Active);
    assert_eq!(
        added.task.next_run_at.as_deref(),
        Some("2099-01-01T02:00:00Z")
    );
    let task_id = added.task.id.clone();

    // A null scheduled_for clears it: the one-off runs at the pattern's
    // next match instead.
    let updated = within(client.call::<CronUpdate>(&CronUpdateParams {
        task_id: task_id.clone(),
        name: None,
        description: None,
        conversation_id: None,
        cron: None,
        timezone: None,
        recurring: None,
        prompt: None,
        scheduled_for: Some(None),
    }))
    .await
    .unwrap();
    assert_eq!(updated.task.scheduled_for, None);
    let next = updated.task.next_run_at.unwrap();
    assert!(
        next.ends_with("T02:00:00Z") && next.as_str() < "2099",
        "{next}"
    );

    let listed = within(client.call::<CronList>(&CronListParams {
        agent_id: Some("agent-rpc".to_owned()),
        conversation_id: None,
    }))
    .await
    .unwrap();
    assert_eq!(listed.tasks.len(), 1);
    let refused = within(client.call::<CronAdd>(&CronAddParams {
        cron: "0 2 * *".to_owned(),
        scheduled_for: None,
        ..added_params("agent-rpc")
    }))
    .await;
    assert!(
        matches!(&refused, Err(ClientError::Rpc(err)) if err.code == -32602),
        "{refused:?}"
    );
    let deleted = within(client.call::<CronDelete>(&CronTaskParams {
        task_id: task_id.clone(),
    }))
    .await
    .unwrap();
    assert!(deleted.found);
    let gone = within(client.call::<CronGet>(&CronTaskParams { task_id }))
        .await
        .unwrap();
    assert!(!gone.found && gone.task.is_none());
}

fn added_params(agent_id: &str) -> letta_protocol::CronAddParams {
    letta_protocol::CronAddParams {
        agent_id: agent_id.to_owned(),
        conversation_id: None,
        name: "n".to_owned(),
        description: String::new(),
        cron: "0 2 * * *".to_owned(),
        timezone: None,
        recurring: true,
        prompt: "p".to_owned(),
        scheduled_for: None,
    }
}

/// A recurring schedule whose due times passed while the daemon was down
/// runs once when it is back; the others are counted as missed.
#[tokio::test]
async fn missed_due_times_are_counted_and_the_newest_runs_once() {
    let backend = Backend::mock().await;
    let mut daemon = backend.daemon();
    let frontend = Frontend::connect(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let runtime = start_runtime(&frontend, "e2e-cron-missed", cwd.path(), "standard").await;
    let marker = format!("cron-missed-{}", cm("cron"));
    let added = frontend
        .request(add(
            &runtime,
            json!({ "cron": "* * * * *", "recurring": true, "prompt": marker }),
        ))
        .await;
    assert_eq!(added["success"], true, "{added}");
    let id = added["task"]["id"].as_str().unwrap().to_owned();

    // The daemon is down for five minutes: its schedule's due time is moved
    // back while it is killed, as if they had passed.
    daemon.kill();
    let five_minutes_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 5 * 60_000;
    move_due_time(&daemon.data_dir, &id, five_minutes_ago / 60_000 * 60_000).await;
    let (_restarted, mut after) = backend.restart(&daemon, &runtime).await;
    let ran = after
        .seen_or_wait_for("the scheduled turn's end", |frame| {
            frame["type"] == "turn_finished"
        })
        .await;
    assert_eq!(ran["stop_reason"], "end_turn", "{ran}");
    let got = after
        .request(json!({ "type": "cron_get", "task_id": id }))
        .await;
    assert_eq!(got["task"]["fire_count"], 1, "{got}");
    let missed = got["task"]["missed_count"].as_u64().unwrap();
    assert!((4..=6).contains(&missed), "{got}");
    assert!(got["task"]["next_run_at"].is_string(), "{got}");
    let runs = after
        .request(json!({ "type": "cron_runs", "task_id": id }))
        .await;
    let entries = runs["page"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{runs}");
    assert_eq!(entries[0]["outcome"], "queued", "{runs}");
    assert_eq!(entries[1]["outcome"], "missed", "{runs}");
    assert_eq!(entries[1]["reason"], "scheduler_inactive", "{runs}");
    assert_eq!(entries[1]["missedCount"].as_u64(), Some(missed), "{runs}");
    let messages = after.stored_messages(&runtime).await;
    assert_eq!(runs_of(&messages, &marker), 1, "{messages:?}");
}

/// Sets a schedule's next due time (Unix ms) in a stopped daemon's database.
async fn move_due_time(data_dir: &std::path::Path, id: &str, at: i64) {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data_dir.join("daemon.db"));
    let mut database = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let moved = sqlx::query("UPDATE crons SET next_run_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(&mut database)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    database.close().await.unwrap();
}

on_both_backends!(
    a_schedule_fires_after_a_restart_exactly_once,
    schedules_are_managed_and_run_at_once,
);
