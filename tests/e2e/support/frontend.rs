//! A frontend on `/ws` that keeps every event it receives, for assertions.

use std::path::Path;
use std::time::Duration;

use letta_client::FrameClient;
use serde_json::{Map, Value, json};

use super::{Daemon, within};

/// Turns are slower than single requests: a real server and model run them.
pub const TURN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Frontend {
    pub client: FrameClient,
    /// Every unsolicited frame received so far, in order.
    pub seen: Vec<Value>,
}

impl Frontend {
    pub async fn connect(daemon: &Daemon) -> Frontend {
        let client = within(FrameClient::connect(&daemon.ws_url("/ws"), None))
            .await
            .unwrap();
        Frontend {
            client,
            seen: Vec::new(),
        }
    }

    /// Sends a command frame and returns its reply frame.
    pub async fn request(&self, frame: Value) -> Value {
        let Value::Object(frame) = frame else {
            panic!("frames are objects")
        };
        self.client.request(frame, TURN_TIMEOUT).await.unwrap()
    }

    pub async fn send(&self, frame: Value) {
        self.client.send(frame).await.unwrap();
    }

    /// Collects frames until one matches; returns that one.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + TURN_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self
                .client
                .next_unsolicited(left)
                .await
                .unwrap_or_else(|err| panic!("waiting for {what}: {err}; saw {:#?}", self.types()));
            self.seen.push(frame.clone());
            if matches(&frame) {
                return frame;
            }
        }
    }

    /// A frame already seen that matches, or the next one that does.
    pub async fn seen_or_wait_for(
        &mut self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(frame) = self.seen.iter().find(|frame| matches(frame)) {
            return frame.clone();
        }
        self.wait_for(what, matches).await
    }

    /// Reads what arrives until `daemon`, crashing on purpose, closes the
    /// connection; then checks that it died. (A mock it uses is served
    /// from the test's runtime: read, do not block, until then.)
    pub async fn until_crashed(mut self, daemon: &mut super::Daemon) {
        while let Ok(frame) = self.client.next_unsolicited(TURN_TIMEOUT).await {
            self.seen.push(frame);
        }
        let status = daemon.wait();
        assert!(!status.success(), "the daemon crashed on purpose: {status}");
    }

    pub async fn wait_for_type(&mut self, kind: &str) -> Value {
        self.wait_for(kind, |frame| frame["type"] == kind).await
    }

    /// The types of the frames seen, for failure messages.
    pub fn types(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|frame| match frame["delta"]["message_type"].as_str() {
                Some(delta) => format!(
                    "{}:{delta}#{}",
                    frame["type"].as_str().unwrap_or("?"),
                    frame["event_seq"]
                ),
                None => format!(
                    "{}#{}",
                    frame["type"].as_str().unwrap_or("?"),
                    frame["event_seq"]
                ),
            })
            .collect()
    }

    /// The event_seq of every runtime event seen.
    pub fn event_seqs(&self) -> Vec<u64> {
        self.seen
            .iter()
            .filter_map(|frame| frame["event_seq"].as_u64())
            .collect()
    }

    /// The messages the server stored for a runtime's conversation (an
    /// agent's default conversation is asked for with its agent).
    pub async fn stored_messages(&self, runtime: &Value) -> Vec<Value> {
        let mut query = json!({ "limit": 50 });
        if runtime["conversation_id"] == "default" {
            query["agent_id"] = runtime["agent_id"].clone();
        }
        let listed = self
            .request(json!({
                "type": "conversation_messages_list",
                "conversation_id": runtime["conversation_id"],
                "query": query,
            }))
            .await;
        assert_eq!(listed["success"], true, "{listed}");
        listed["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Whether a `control_request` (a question for a human) was seen.
    pub fn asked_anyone(&self) -> bool {
        self.types().iter().any(|kind| kind == "control_request")
    }

    /// The text of the newest tool result seen.
    pub fn last_tool_return(&self) -> String {
        let returned = self.deltas("tool_return_message");
        let last = returned.last().expect("a tool result");
        last["tool_return"].as_str().unwrap_or_default().to_owned()
    }

    /// Stream deltas of one message type.
    pub fn deltas(&self, message_type: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|frame| {
                frame["type"] == "stream_delta" && frame["delta"]["message_type"] == message_type
            })
            .map(|frame| &frame["delta"])
            .collect()
    }
}

/// A `runtime_start` that creates an agent and a conversation on the real
/// server, with `tools` registered as external tools.
pub fn start_new_runtime(name: &str, tools: Value) -> Value {
    json!({
        "type": "runtime_start",
        "create_agent": { "body": {
            "name": name,
            "model": super::letta_server::MODEL,
            "embedding": super::letta_server::EMBEDDING,
        }},
        "create_conversation": {},
        "cwd": "/tmp",
        "mode": "standard",
        "external_tools": [{ "tools": tools }],
    })
}

/// Starts a runtime on a new agent the scripted model drives, working in
/// `cwd` with permission `mode`.
pub async fn start_runtime(frontend: &Frontend, name: &str, cwd: &Path, mode: &str) -> Value {
    let mut frame = start_new_runtime(name, Value::Null);
    if let Value::Object(fields) = &mut frame {
        fields.remove("external_tools");
        fields.insert("cwd".to_owned(), json!(cwd.display().to_string()));
        fields.insert("mode".to_owned(), json!(mode));
    }
    let reply = frontend.request(frame).await;
    assert_eq!(reply["success"], true, "{reply}");
    reply["runtime"].clone()
}

/// An `input` frame with one user message.
pub fn user_input(runtime: &Value, text: &str, client_message_id: &str) -> Value {
    json!({
        "type": "input",
        "runtime": runtime,
        "payload": {
            "kind": "create_message",
            "messages": [{ "role": "user", "content": text, "client_message_id": client_message_id }],
        },
    })
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
