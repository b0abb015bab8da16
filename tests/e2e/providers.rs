//! Model providers a frontend connects for the daemon's own agents: checked
//! before they are kept, kept `0600` across restarts, used by agents at
//! once, never echoed or logged, and forgotten on disconnect.

use serde_json::{Value, json};

use crate::local_agents::turn;
use crate::support::backend::{Backend, cm};
use crate::support::frontend::Frontend;

fn connected(reply: &Value, id: &str) -> Value {
    reply["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == id)
        .map(|entry| entry["connected"].clone())
        .unwrap_or_else(|| panic!("no provider {id} in {reply}"))
}

async fn handles(frontend: &Frontend) -> Vec<String> {
    let models = frontend.request(json!({ "type": "list_models" })).await;
    assert_eq!(models["success"], true, "{models}");
    models["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["handle"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_provider_is_connected_used_and_disconnected() {
    let backend = Backend::local().await;
    let Backend::Local(local) = &backend else {
        unreachable!()
    };
    let options = backend.options().env("RUST_LOG", "debug");
    let mut daemon = crate::support::Daemon::start_with(options.clone());
    let mut frontend = Frontend::connect(&daemon).await;
    let key = format!("sk-secret-{}", cm("key"));

    let listed = frontend
        .request(json!({ "type": "list_connect_providers", "target": "local" }))
        .await;
    assert_eq!(
        listed["type"], "list_connect_providers_response",
        "{listed}"
    );
    assert_eq!(
        connected(&listed, "openai")["is_connected"],
        false,
        "{listed}"
    );
    assert_eq!(listed["providers"].as_array().map(Vec::len), Some(3));

    // Refused, with the reason: another store, a key that does not work,
    // a provider there is not.
    let connect = |provider: &str, fields: Value, target: &str| json!({ "type": "connect_provider", "target": target, "provider_id": provider, "fields": fields });
    let elsewhere = frontend
        .request(connect("openai", json!({ "apiKey": key }), "api"))
        .await;
    assert_eq!(elsewhere["success"], false, "{elsewhere}");
    let dead = frontend
        .request(connect(
            "openai",
            json!({ "apiKey": key, "baseUrl": "http://127.0.0.1:1/v1" }),
            "local",
        ))
        .await;
    assert_eq!(dead["success"], false, "{dead}");
    assert!(
        dead["error"]
            .as_str()
            .is_some_and(|error| error.contains("did not list its models")),
        "{dead}"
    );
    let unknown = frontend
        .request(connect("gemini", json!({ "apiKey": key }), "local"))
        .await;
    assert_eq!(unknown["success"], false, "{unknown}");
    let credentials = daemon.data_dir.join("providers.json");
    assert!(!credentials.exists(), "nothing is kept before a key works");

    let done = frontend
        .request(connect(
            "openai",
            json!({ "apiKey": key, "baseUrl": local.model.url }),
            "local",
        ))
        .await;
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(done["models_may_have_changed"], true);
    let state = connected(&done, "openai");
    assert_eq!(state["is_connected"], true, "{done}");
    assert_eq!(state["base_url"], local.model.url.as_str());
    assert_eq!(state["source"], "connect_provider");
    assert!(!done.to_string().contains(&key), "the key is never echoed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        handles(&frontend)
            .await
            .contains(&"openai/fake-model".to_owned())
    );

    // An agent on the connected provider works at once.
    let started = frontend
        .request(json!({
            "type": "runtime_start",
            "create_agent": { "body": { "name": "e2e-connected", "model": "openai/fake-model" } },
            "create_conversation": {},
            "cwd": "/tmp",
            "mode": "standard",
        }))
        .await;
    assert_eq!(started["success"], true, "{started}");
    let runtime = started["runtime"].clone();
    let finished = turn(&mut frontend, &runtime, "hello connected", "conn-1").await;
    assert_eq!(finished["stop_reason"], "end_turn", "{finished}");

    // Kept across a restart.
    daemon.stop();
    let mut daemon = crate::support::Daemon::start_with(crate::support::Options {
        data_dir: Some(daemon.data_dir.clone()),
        ..options
    });
    let frontend = Frontend::connect(&daemon).await;
    let listed = frontend
        .request(json!({ "type": "list_connect_providers", "target": "local" }))
        .await;
    assert_eq!(
        connected(&listed, "openai")["is_connected"],
        true,
        "{listed}"
    );

    let gone = frontend
        .request(
            json!({ "type": "disconnect_provider", "target": "local", "provider_id": "openai" }),
        )
        .await;
    assert_eq!(gone["success"], true, "{gone}");
    assert_eq!(connected(&gone, "openai")["is_connected"], false, "{gone}");
    assert!(
        !handles(&frontend)
            .await
            .iter()
            .any(|handle| handle.starts_with("openai/"))
    );
    assert!(
        !std::fs::read_to_string(&credentials)
            .unwrap()
            .contains(&key)
    );
    daemon.stop();
    assert!(!daemon.stderr().contains(&key), "the key is never logged");
}

/// A provider the daemon's environment configures is listed as connected
/// by the configuration, and only the configuration changes it.
#[tokio::test]
async fn configured_providers_are_listed_and_left_alone() {
    let backend = Backend::local().await;
    let Backend::Local(local) = &backend else {
        unreachable!()
    };
    let options = backend
        .options()
        .env("OPENAI_API_KEY", "sk-from-env")
        .env("OPENAI_BASE_URL", local.model.url.clone());
    let daemon = crate::support::Daemon::start_with(options);
    let frontend = Frontend::connect(&daemon).await;
    let listed = frontend
        .request(json!({ "type": "list_connect_providers", "target": "local" }))
        .await;
    let state = connected(&listed, "openai");
    assert_eq!(state["is_connected"], true, "{listed}");
    assert_eq!(state["source"], "configuration", "{listed}");
    assert!(!listed.to_string().contains("sk-from-env"));
    let refused = frontend
        .request(
            json!({ "type": "disconnect_provider", "target": "local", "provider_id": "openai" }),
        )
        .await;
    assert_eq!(refused["success"], false, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|error| error.contains("environment")),
        "{refused}"
    );
}
