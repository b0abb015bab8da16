//! Connecting model providers for the daemon's own agents.

use std::sync::Arc;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    ConnectProviderConnectionState, ConnectProviderEntry, ConnectProviderField,
    ConnectProviderParams, ConnectProviderResult, DisconnectProviderParams,
    ListConnectProvidersParams, ListConnectProvidersResult,
};

use super::errors::upstream;
use super::{ConnectionInfo, DaemonState};
use crate::backend::local::Providers;
use crate::backend::local::providers::{ConnectedBy, Standing};

type State = Arc<DaemonState>;
type Connection = Arc<ConnectionInfo>;

/// The one provider store: the daemon's own.
const TARGET: &str = "local";

fn providers(state: &DaemonState, target: &str) -> Result<Providers, RpcError> {
    if target != TARGET {
        return Err(RpcError::new(
            ErrorCode::InvalidParams,
            format!(
                "target {target:?} is not served; the daemon keeps providers for target \"local\""
            ),
        ));
    }
    Ok(state.runtimes.backends().local().providers().clone())
}

fn entry(standing: &Standing) -> ConnectProviderEntry {
    let provider = standing.provider;
    let mut fields = vec![ConnectProviderField {
        key: "apiKey".to_owned(),
        label: "API Key".to_owned(),
        placeholder: None,
        secret: true,
        required: true,
    }];
    if provider.takes_base_url {
        fields.push(ConnectProviderField {
            key: "baseUrl".to_owned(),
            label: "Base URL".to_owned(),
            placeholder: Some("https://api.openai.com/v1".to_owned()),
            secret: false,
            required: false,
        });
    }
    let connected = match &standing.connected {
        Some((base_url, by)) => ConnectProviderConnectionState {
            is_connected: true,
            id: Some(provider.id.to_owned()),
            provider_name: Some(provider.id.to_owned()),
            provider_type: Some(provider.provider_type().to_owned()),
            auth_type: Some("api".to_owned()),
            base_url: Some(base_url.clone()),
            source: Some(
                match by {
                    ConnectedBy::Frontend => "connect_provider",
                    ConnectedBy::Configuration => "configuration",
                }
                .to_owned(),
            ),
        },
        None => ConnectProviderConnectionState {
            is_connected: false,
            id: None,
            provider_name: None,
            provider_type: None,
            auth_type: None,
            base_url: None,
            source: None,
        },
    };
    ConnectProviderEntry {
        id: provider.id.to_owned(),
        display_name: provider.display_name.to_owned(),
        description: provider.description.to_owned(),
        provider_type: provider.provider_type().to_owned(),
        provider_name: provider.id.to_owned(),
        provider_names: vec![provider.id.to_owned()],
        requires_api_key: true,
        fields,
        connected_providers: if connected.is_connected {
            vec![connected.clone()]
        } else {
            Vec::new()
        },
        connected,
    }
}

fn entries(providers: &Providers) -> Vec<ConnectProviderEntry> {
    providers.connectable().iter().map(entry).collect()
}

fn changed(providers: &Providers) -> ConnectProviderResult {
    ConnectProviderResult {
        success: true,
        target: TARGET.to_owned(),
        providers: entries(providers),
        models_may_have_changed: true,
    }
}

/// Names other than the provider's own are not offered: one connection per
/// provider.
fn check_name(provider_id: &str, name: Option<&str>) -> Result<(), RpcError> {
    match name {
        Some(name) if name != provider_id => Err(RpcError::new(
            ErrorCode::InvalidParams,
            format!("provider_name {name:?}: each provider connects once, as {provider_id:?}"),
        )),
        _ => Ok(()),
    }
}

pub async fn list_connect_providers(
    state: State,
    _: Connection,
    params: ListConnectProvidersParams,
) -> Result<ListConnectProvidersResult, RpcError> {
    let providers = providers(&state, &params.target)?;
    Ok(ListConnectProvidersResult {
        success: true,
        target: TARGET.to_owned(),
        providers: entries(&providers),
    })
}

pub async fn connect_provider(
    state: State,
    _: Connection,
    params: ConnectProviderParams,
) -> Result<ConnectProviderResult, RpcError> {
    let providers = providers(&state, &params.target)?;
    check_name(&params.provider_id, params.provider_name.as_deref())?;
    if params.oauth_config.is_some() || params.auth_method_id.is_some() {
        return Err(RpcError::new(
            ErrorCode::InvalidParams,
            "providers connect with an API key (fields.apiKey); sign-in methods are not offered",
        ));
    }
    providers
        .connect(&params.provider_id, &params.fields)
        .await
        .map_err(|err| upstream(err.into()))?;
    Ok(changed(&providers))
}

pub async fn disconnect_provider(
    state: State,
    _: Connection,
    params: DisconnectProviderParams,
) -> Result<ConnectProviderResult, RpcError> {
    let providers = providers(&state, &params.target)?;
    check_name(&params.provider_id, params.provider_name.as_deref())?;
    providers
        .disconnect(&params.provider_id)
        .await
        .map_err(|err| upstream(err.into()))?;
    Ok(changed(&providers))
}
