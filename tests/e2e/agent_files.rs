//! Agent Files (`.af`): a local agent copied, bad files refused, and a
//! local agent moving to the real Letta server and back.

use serde_json::{Value, json};

use crate::local_agents::{started, turn};
use crate::support::backend::Backend;
use crate::support::ctl::Shell;
use crate::support::frontend::{Frontend, start_runtime};
use crate::support::{Daemon, Options, letta_server};

#[tokio::test]
async fn an_agent_file_copies_a_local_agent_and_bad_files_are_refused() {
    let backend = Backend::local().await;
    let (_daemon, mut frontend, runtime) = started(&backend, "e2e-af-copy").await;
    let script = r#"[[call:memory_rethink {"label": "persona", "new_memory": "I am terse."}]]"#;
    turn(&mut frontend, &runtime, script, "af-copy").await;
    let exported = frontend
        .request(json!({ "type": "agent_export", "agent_id": runtime["agent_id"], "conversation_id": runtime["conversation_id"] }))
        .await;
    assert_eq!(exported["success"], true, "{exported}");
    let file = exported["agent_file"].clone();
    assert_eq!(file["agents"][0]["messages"][0]["role"], "system");
    assert!(file["blocks"].to_string().contains("I am terse."), "{file}");

    let imported = frontend
        .request(json!({ "type": "agent_import", "agent_file": file, "backend": "local" }))
        .await;
    assert_eq!(imported["success"], true, "{imported}");
    let copy = imported["agent_ids"][0].clone();
    assert_ne!(copy, runtime["agent_id"]);
    let listed = frontend
        .request(json!({ "type": "conversation_messages_list", "conversation_id": "default", "query": { "agent_id": copy, "order": "asc" } }))
        .await;
    let types: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "user_message",
            "tool_call_message",
            "tool_return_message",
            "assistant_message"
        ],
        "{listed}"
    );

    for (bad, says) in [
        (json!({ "agents": [] }), "holds no agents"),
        (
            json!({ "agents": [{ "name": "x", "model": "nowhere/m" }] }),
            "no provider \"nowhere\"",
        ),
        (
            json!({ "agents": [{ "name": "x", "model": "openai-proxy/fake-model", "block_ids": ["block-9"] }], "blocks": [] }),
            "no block",
        ),
    ] {
        let refused = frontend
            .request(json!({ "type": "agent_import", "agent_file": bad, "backend": "local" }))
            .await;
        assert_eq!(refused["success"], false, "{refused}");
        assert!(
            refused["error"].as_str().unwrap().contains(says),
            "{refused}"
        );
    }
}

/// A local agent moves to the real Letta server and back as an Agent File,
/// through `letta-ctl agents export|import`, keeping its memory and
/// history, and answers on either side.
#[tokio::test]
async fn real_server_an_agent_moves_between_the_daemon_and_a_letta_server() {
    let server = letta_server::base_url();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.openai-proxy]\nbase_url = \"{}\"\n",
            letta_server::model_url()
        ),
    )
    .unwrap();
    let daemon = Daemon::start_with(
        Options::default()
            .env("LETTA_BASE_URL", server)
            .env("LETTA_DAEMON_BACKEND", "local")
            .env("LETTA_DAEMON_CONFIG", config.display().to_string()),
    );
    let mut frontend = Frontend::connect(&daemon).await;
    let shell = Shell::new(daemon.dir.path(), &daemon.data_dir);

    // A local agent remembers something.
    let local_runtime = start_runtime(
        &frontend,
        "e2e-af-local",
        std::path::Path::new("/tmp"),
        "standard",
    )
    .await;
    let local_agent = local_runtime["agent_id"].as_str().unwrap().to_owned();
    let script = r#"[[call:memory_insert {"label": "human", "new_string": "Name: Ada Lovelace"}]]"#;
    let finished = turn(&mut frontend, &local_runtime, script, "af-remember").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");

    // To the Letta server.
    let file = dir.path().join("agent.af");
    let file_arg = file.display().to_string();
    let exported = shell
        .run(&["agents", "export", &local_agent, "--output", &file_arg])
        .await;
    assert_eq!(exported.code, 0, "{exported:?}");
    let imported = shell
        .run(&[
            "--json",
            "agents",
            "import",
            &file_arg,
            "--backend",
            "api",
            "--embedding",
            letta_server::EMBEDDING,
        ])
        .await;
    assert_eq!(imported.code, 0, "{imported:?}");
    let server_agent = imported.json()["agent_ids"][0].as_str().unwrap().to_owned();
    assert_ne!(server_agent, local_agent);
    let agent = frontend
        .request(json!({ "type": "agent_retrieve", "agent_id": server_agent }))
        .await;
    assert!(
        agent["agent"].to_string().contains("Name: Ada Lovelace"),
        "memory travelled: {agent}"
    );
    let started = frontend
        .request(json!({ "type": "runtime_start", "agent_id": server_agent, "cwd": "/tmp", "mode": "standard" }))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let server_runtime = started["runtime"].clone();
    let finished = turn(
        &mut frontend,
        &server_runtime,
        "[[notool]] hello from the server",
        "af-server",
    )
    .await;
    assert_eq!(
        finished["stop_reason"], "end_turn",
        "the server agent answers: {finished}"
    );
    let history = frontend
        .stored_messages(&server_runtime)
        .await
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(
        history.contains("Name: Ada Lovelace") && history.contains("hello from the server"),
        "{history}"
    );

    // And back into the daemon.
    let back = dir.path().join("back.af");
    let back_arg = back.display().to_string();
    let exported = shell
        .run(&["agents", "export", &server_agent, "--output", &back_arg])
        .await;
    assert_eq!(exported.code, 0, "{exported:?}");
    let imported = shell
        .run(&[
            "--json",
            "agents",
            "import",
            &back_arg,
            "--backend",
            "local",
        ])
        .await;
    assert_eq!(imported.code, 0, "{imported:?}");
    let returned = imported.json()["agent_ids"][0].as_str().unwrap().to_owned();
    let agent = frontend
        .request(json!({ "type": "agent_retrieve", "agent_id": returned }))
        .await;
    assert_eq!(agent["agent"]["backend"], "local", "{agent}");
    assert!(
        agent["agent"]["memory"]
            .to_string()
            .contains("Name: Ada Lovelace"),
        "{agent}"
    );
    let started = frontend
        .request(json!({ "type": "runtime_start", "agent_id": returned, "conversation_id": "default", "cwd": "/tmp", "mode": "standard" }))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let returned_runtime = started["runtime"].clone();
    let history = frontend
        .stored_messages(&returned_runtime)
        .await
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(
        history.contains("hello from the server"),
        "history came back: {history}"
    );
    let finished = turn(
        &mut frontend,
        &returned_runtime,
        "[[notool]] home again",
        "af-home",
    )
    .await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");
}
