//! Model providers a frontend connects for agents that live in the daemon
//! (`target: "local"`), with the user's credentials. Keys go in, never out.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `list_connect_providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListConnectProvidersParams {
    /// `local`: the daemon's own providers (the only store it has).
    pub target: String,
}

/// Params of `connect_provider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectProviderParams {
    pub target: String,
    /// An `id` from `list_connect_providers`.
    pub provider_id: String,
    /// Not used: every provider here has one way in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method_id: Option<String>,
    /// `apiKey`, and `baseUrl` where the entry lists it.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// Subscription sign-in is not offered; refused when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_config: Option<serde_json::Value>,
}

/// Params of `disconnect_provider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DisconnectProviderParams {
    pub target: String,
    pub provider_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
}

/// A credential a provider asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectProviderField {
    pub key: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    pub secret: bool,
    pub required: bool,
}

/// Whether a provider is connected, and where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectProviderConnectionState {
    pub is_connected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `connect_provider`, or `configuration` (the daemon's environment or
    /// `daemon.toml`, which only they change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A provider the daemon can connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectProviderEntry {
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// The wire format: `openai` or `anthropic`.
    pub provider_type: String,
    /// The prefix of its model handles (`openai` in `openai/gpt-4.1`).
    pub provider_name: String,
    pub provider_names: Vec<String>,
    pub requires_api_key: bool,
    pub fields: Vec<ConnectProviderField>,
    pub connected: ConnectProviderConnectionState,
    pub connected_providers: Vec<ConnectProviderConnectionState>,
}

/// Result of `list_connect_providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListConnectProvidersResult {
    pub success: bool,
    pub target: String,
    pub providers: Vec<ConnectProviderEntry>,
}

/// Result of `connect_provider` and `disconnect_provider`: the providers
/// as they stand now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectProviderResult {
    pub success: bool,
    pub target: String,
    pub providers: Vec<ConnectProviderEntry>,
    /// Always true: `list_models` may answer differently now.
    pub models_may_have_changed: bool,
}
