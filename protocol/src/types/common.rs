use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A JSON object passed through as it is.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Which agent conversation a command or an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeScope {
    /// `null` for agent-free conversations.
    pub agent_id: Option<String>,
    pub conversation_id: String,
    /// Set by a relaying cloud service; echoed to the Letta API as
    /// `X-Letta-Acting-User-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_user_id: Option<String>,
}

impl RuntimeScope {
    /// Whether both name the same runtime: the same agent and conversation
    /// (the acting user routes a request; it does not name a runtime).
    pub fn same_runtime(&self, other: &RuntimeScope) -> bool {
        self.agent_id == other.agent_id && self.conversation_id == other.conversation_id
    }
}

/// The envelope every runtime-scoped event carries.
///
/// Unlike the reference, `event_seq` is durable and per runtime: it is
/// assigned when the event is written to the daemon's database, before anyone
/// receives it, so "everything after N" is a meaningful request across
/// reconnects and daemon restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    pub runtime: RuntimeScope,
    pub event_seq: u64,
    /// RFC 3339 time the event was recorded.
    pub emitted_at: String,
    /// Stable across redelivery: `<type>:<event_seq>:<runtime key>`.
    pub idempotency_key: String,
}

/// Permission mode of a runtime. `default` and `bypassPermissions` are
/// accepted as aliases of `standard` and `unrestricted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PermissionMode {
    #[serde(rename = "standard", alias = "default")]
    Standard,
    #[serde(rename = "acceptEdits")]
    AcceptEdits,
    #[serde(rename = "unrestricted", alias = "bypassPermissions")]
    Unrestricted,
    #[serde(rename = "strict")]
    Strict,
}

impl PermissionMode {
    /// The name the protocol uses (what it serializes to).
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Standard => "standard",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Unrestricted => "unrestricted",
            PermissionMode::Strict => "strict",
        }
    }
}

/// Who is talking to the daemon, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClientInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The answer to commands whose only outcome is success or failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ack {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Ack {
    /// Success.
    pub fn ok() -> Ack {
        Ack {
            success: true,
            error: None,
        }
    }
}
