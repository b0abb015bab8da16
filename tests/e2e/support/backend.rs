//! Where scenarios run: the real Letta server with its scripted model, the
//! mock that follows the same script directives, or the daemon's own local
//! backend calling a scripted model directly.

use super::mock_letta::{Faults, MockLetta};
use super::scripted_model::ScriptedModel;
use super::{Daemon, Options, letta_server};

/// A client_message_id unique to this test run. Letta deduplicates requests
/// by their messages' otids across conversations, so ids must never repeat.
pub fn cm(name: &str) -> String {
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    format!(
        "cm-{name}-{:016x}",
        RUN.get_or_init(|| std::process::id() as u64 ^ now_nanos())
    )
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

/// Where the scenarios run.
pub enum Backend {
    /// The real Letta server with its scripted model.
    Real,
    /// The mock Letta server.
    Mock(MockLetta),
    /// No Letta server: agents live in the daemon, which calls the scripted
    /// model itself as the provider `openai-proxy`, so agents use the same
    /// model handle as on the real server.
    Local(LocalModel),
}

pub struct LocalModel {
    pub model: ScriptedModel,
    /// Holds the daemon's config file.
    dir: tempfile::TempDir,
}

impl LocalModel {
    pub fn config_file(&self) -> std::path::PathBuf {
        self.dir.path().join("daemon.toml")
    }
}

/// Where no Letta server listens.
const NO_SERVER: &str = "http://127.0.0.1:1";

impl Backend {
    pub async fn mock() -> Backend {
        Backend::Mock(MockLetta::start(Faults::default()).await)
    }

    pub async fn local() -> Backend {
        Backend::local_with("").await
    }

    /// The local backend with more lines for the provider's section of
    /// `daemon.toml` (e.g. `context_window = 2000`).
    pub async fn local_with(provider_settings: &str) -> Backend {
        Backend::local_config(|model| {
            format!(
                "[providers.openai-proxy]\nkind = \"openai\"\nbase_url = \"{}\"\n{provider_settings}\n",
                model.url
            )
        })
        .await
    }

    /// The local backend with a `daemon.toml` written for its scripted
    /// model.
    pub async fn local_config(config: impl FnOnce(&ScriptedModel) -> String) -> Backend {
        let model = ScriptedModel::start().await;
        let dir = tempfile::tempdir().unwrap();
        let local = LocalModel { model, dir };
        std::fs::write(local.config_file(), config(&local.model)).unwrap();
        Backend::Local(local)
    }

    /// The Letta server's URL (none listens there for the local backend).
    pub fn url(&self) -> String {
        match self {
            Backend::Real => letta_server::base_url(),
            Backend::Mock(mock) => mock.url.clone(),
            Backend::Local(_) => NO_SERVER.to_owned(),
        }
    }

    /// The environment a daemon (or a shell that starts one) needs to use
    /// this backend. The local backend has no Letta server configured.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Real | Backend::Mock(_) => vec![("LETTA_BASE_URL", self.url())],
            Backend::Local(local) => vec![
                ("LETTA_DAEMON_BACKEND", "local".to_owned()),
                (
                    "LETTA_DAEMON_CONFIG",
                    local.config_file().display().to_string(),
                ),
            ],
        }
    }

    /// Daemon options for this backend.
    pub fn options(&self) -> Options {
        let mut options = self
            .env()
            .into_iter()
            .fold(Options::default(), |options, (key, value)| {
                options.env(key, value)
            });
        if matches!(self, Backend::Local(_)) {
            options.env_remove.push("LETTA_BASE_URL".to_owned());
        }
        options
    }

    pub fn daemon(&self) -> Daemon {
        Daemon::start_with(self.options())
    }

    /// A new daemon on the data directory of `before` (stopped or killed
    /// by the caller), and a frontend subscribed to `runtime` again.
    pub async fn restart(
        &self,
        before: &Daemon,
        runtime: &serde_json::Value,
    ) -> (Daemon, super::frontend::Frontend) {
        Backend::restart_with(self.options(), before, runtime).await
    }

    /// [`Backend::restart`] with these options.
    pub async fn restart_with(
        options: Options,
        before: &Daemon,
        runtime: &serde_json::Value,
    ) -> (Daemon, super::frontend::Frontend) {
        let daemon = Daemon::start_with(Options {
            data_dir: Some(before.data_dir.clone()),
            ..options
        });
        let frontend = super::frontend::Frontend::connect(&daemon).await;
        let synced = frontend
            .request(serde_json::json!({ "type": "sync", "runtime": runtime }))
            .await;
        assert_eq!(synced["success"], true, "{synced}");
        (daemon, frontend)
    }

    /// The newest request that carried `marker` (text of the turn's
    /// message): what the mock received, or what the scripted model was
    /// asked (the real server's and the local backend's).
    pub async fn model_request(&self, marker: &str) -> serde_json::Value {
        self.model_requests()
            .await
            .into_iter()
            .rev()
            .find(|request| request.to_string().contains(marker))
            .unwrap_or_else(|| panic!("no request carried {marker:?}"))
    }

    /// Every request the model (or the mock) received, oldest first; the
    /// real server's scripted model keeps `{t, path, body}`: the body.
    pub async fn model_requests(&self) -> Vec<serde_json::Value> {
        let requests: Vec<serde_json::Value> = match self {
            Backend::Mock(mock) => mock.seen().bodies,
            Backend::Local(local) => local.model.requests(),
            Backend::Real => {
                super::within(async {
                    super::http()
                        .get(format!(
                            "{}/requests",
                            letta_server::model_url().trim_end_matches("/v1")
                        ))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap()
                })
                .await
            }
        };
        requests
            .iter()
            .map(|request| request.get("body").unwrap_or(request).clone())
            .collect()
    }

    /// The names of the tools offered with the newest request that carried
    /// `marker`: the mock's `client_tools`, or what the scripted model was
    /// offered (with the server's own tools among them).
    pub async fn offered_tools(&self, marker: &str) -> Vec<String> {
        tool_names(&self.model_request(marker).await)
    }
}

/// The names of the tools a model request offered: the mock's
/// `client_tools`, or the model's tools (with the server's own among them).
pub fn tool_names(request: &serde_json::Value) -> Vec<String> {
    let tools = request
        .get("client_tools")
        .or_else(|| request.get("tools"))
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    tools
        .iter()
        .filter_map(|tool| {
            tool["name"]
                .as_str()
                .or_else(|| tool["function"]["name"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// Each scenario runs against every backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod real_server {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario($crate::support::backend::Backend::Real).await
            } )*
        }
        mod mock_server {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario($crate::support::backend::Backend::mock().await).await
            } )*
        }
        mod local_backend {
            $( #[tokio::test] async fn $scenario() {
                super::$scenario($crate::support::backend::Backend::local().await).await
            } )*
        }
    };
}
pub(crate) use on_both_backends;

/// The text of the last user message of a model request (or of what the
/// mock received), reminders included.
pub fn last_user_text(request: &serde_json::Value) -> String {
    let message = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|message| message["role"] == "user")
        .unwrap();
    match &message["content"] {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}
