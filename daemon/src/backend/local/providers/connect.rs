//! Providers a frontend connects with the user's credentials
//! (`connect_provider`): checked by listing the provider's models, kept in
//! a `0600` file in the data directory, and in use at once. Keys are never
//! returned, printed or logged.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Client, LocalError, ProviderConfig, ProviderKind, ProviderSet, Providers};

/// The file connected providers' credentials are kept in, in the data
/// directory.
pub const CONNECTED_FILE: &str = "providers.json";
/// How long a provider gets to list its models when its key is checked.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_FIELD_BYTES: usize = 4096;

/// A provider the daemon can connect.
#[derive(Debug)]
pub struct Connectable {
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub kind: ProviderKind,
    base_url: &'static str,
    default_model: Option<&'static str>,
    /// Whether `baseUrl` may point it at a compatible server.
    pub takes_base_url: bool,
}

impl Connectable {
    /// `openai` or `anthropic`: the wire format, as Letta names provider
    /// types.
    pub fn provider_type(&self) -> &'static str {
        match self.kind {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

pub const CONNECTABLE: &[Connectable] = &[
    Connectable {
        id: "openai",
        display_name: "OpenAI",
        description: "GPT models with an OpenAI API key, or any server speaking Chat Completions",
        kind: ProviderKind::OpenAi,
        base_url: "https://api.openai.com/v1",
        default_model: Some("gpt-4.1"),
        takes_base_url: true,
    },
    Connectable {
        id: "anthropic",
        display_name: "Anthropic",
        description: "Claude models with an Anthropic API key",
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com",
        default_model: Some("claude-sonnet-4-5"),
        takes_base_url: false,
    },
    Connectable {
        id: "openrouter",
        display_name: "OpenRouter",
        description: "Models of many labs through one OpenRouter API key",
        kind: ProviderKind::OpenAi,
        base_url: "https://openrouter.ai/api/v1",
        default_model: Some("openai/gpt-4.1"),
        takes_base_url: false,
    },
];

/// Who made a provider available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectedBy {
    /// `connect_provider`; `disconnect_provider` removes it.
    Frontend,
    /// The daemon's environment or `daemon.toml`; only they change it.
    Configuration,
}

/// A connectable provider and whether it is connected.
#[derive(Debug)]
pub struct Standing {
    pub provider: &'static Connectable,
    /// The address it is reached at, and who connected it.
    pub connected: Option<(String, ConnectedBy)>,
}

/// The credentials file: one entry per connected provider.
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    providers: BTreeMap<String, StoredCredentials>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredCredentials {
    api_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
}

/// Where the credentials live; one change at a time.
pub(super) struct ConnectedFile {
    path: PathBuf,
    changing: tokio::sync::Mutex<()>,
}

impl ConnectedFile {
    fn read(&self) -> Stored {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                tracing::warn!(
                    file = %self.path.display(),
                    error = %err,
                    "the connected providers' file is not readable JSON; no provider is connected from it"
                );
                Stored::default()
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(err) => {
                tracing::warn!(file = %self.path.display(), error = %err, "cannot read the connected providers");
                Stored::default()
            }
        }
    }

    async fn write(&self, stored: &Stored) -> Result<(), LocalError> {
        let bytes = serde_json::to_vec_pretty(stored)
            .map_err(|err| LocalError::Invalid(format!("cannot encode credentials: {err}")))?;
        let path = self.path.clone();
        crate::fs::blocking(move || crate::fs::write_private_file_atomically(&path, &bytes))
            .await
            .map_err(|err| {
                LocalError::Invalid(format!("cannot write {}: {err}", self.path.display()))
            })
    }
}

fn config_of(provider: &Connectable, credentials: &StoredCredentials) -> ProviderConfig {
    let base_url = credentials
        .base_url
        .clone()
        .unwrap_or_else(|| provider.base_url.to_owned());
    ProviderConfig {
        name: provider.id.to_owned(),
        kind: provider.kind,
        // A compatible server elsewhere has models of its own.
        default_model: provider
            .default_model
            .filter(|_| base_url == provider.base_url)
            .map(str::to_owned),
        base_url,
        api_key: Some(credentials.api_key.clone()),
        optional: false,
        context_window: None,
        thinking_budget: None,
    }
}

fn configs_of(stored: &Stored) -> Vec<ProviderConfig> {
    CONNECTABLE
        .iter()
        .filter_map(|provider| {
            stored
                .providers
                .get(provider.id)
                .map(|credentials| config_of(provider, credentials))
        })
        .collect()
}

fn connectable(id: &str) -> Result<&'static Connectable, LocalError> {
    CONNECTABLE
        .iter()
        .find(|provider| provider.id == id)
        .ok_or_else(|| {
            let ids: Vec<&str> = CONNECTABLE.iter().map(|provider| provider.id).collect();
            LocalError::Invalid(format!(
                "no connectable provider {id:?}; connectable: {}",
                ids.join(", ")
            ))
        })
}

/// The credentials in `fields` (`apiKey`, and `baseUrl` where it applies).
fn credentials(
    provider: &Connectable,
    fields: &BTreeMap<String, String>,
) -> Result<StoredCredentials, LocalError> {
    let invalid = |message: String| Err(LocalError::Invalid(message));
    for (key, value) in fields {
        if !(key == "apiKey" || key == "baseUrl" && provider.takes_base_url) {
            return invalid(format!(
                "{} takes the fields apiKey{}, not {key:?}",
                provider.display_name,
                if provider.takes_base_url {
                    " and baseUrl"
                } else {
                    ""
                }
            ));
        }
        if value.len() > MAX_FIELD_BYTES {
            return invalid(format!("{key} is longer than {MAX_FIELD_BYTES} bytes"));
        }
    }
    let field = |key: &str| {
        fields
            .get(key)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let Some(api_key) = field("apiKey") else {
        return invalid(format!(
            "{} needs an API key (apiKey)",
            provider.display_name
        ));
    };
    let base_url = field("baseUrl").map(|url| url.trim_end_matches('/').to_owned());
    if let Some(url) = &base_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return invalid(format!("baseUrl {url:?} is not an http(s) URL"));
    }
    Ok(StoredCredentials { api_key, base_url })
}

impl Providers {
    /// Keeps connected providers in `path` (read now, written on every
    /// connect and disconnect).
    pub fn with_connected_file(self, path: PathBuf) -> Providers {
        let file = ConnectedFile {
            path,
            changing: tokio::sync::Mutex::new(()),
        };
        let connected = configs_of(&file.read());
        let configured = self.set().configured.clone();
        *self.set.write().unwrap_or_else(|err| err.into_inner()) =
            ProviderSet::new(configured, connected);
        Providers {
            connected: Some(Arc::new(file)),
            ..self
        }
    }

    /// Every connectable provider, and how it stands.
    pub fn connectable(&self) -> Vec<Standing> {
        let set = self.set();
        CONNECTABLE
            .iter()
            .map(|provider| {
                let find = |configs: &[ProviderConfig]| {
                    configs
                        .iter()
                        .find(|config| config.name == provider.id)
                        .map(|config| config.base_url.clone())
                };
                let connected = find(&set.configured)
                    .map(|url| (url, ConnectedBy::Configuration))
                    .or_else(|| find(&set.connected).map(|url| (url, ConnectedBy::Frontend)));
                Standing {
                    provider,
                    connected,
                }
            })
            .collect()
    }

    /// Connects provider `id` with `fields`, once it lists its models with
    /// them; replaces an earlier connection.
    pub async fn connect(
        &self,
        id: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<(), LocalError> {
        let provider = connectable(id)?;
        let file = self.connected_file()?;
        self.refuse_configured(provider)?;
        let credentials = credentials(provider, fields)?;
        let config = config_of(provider, &credentials);
        let reached = config.base_url.clone();
        if Client::new(config)
            .list_models(CHECK_TIMEOUT)
            .await
            .is_empty()
        {
            return Err(LocalError::NoProvider(format!(
                "{} at {reached} did not list its models with this key: check the key{}",
                provider.display_name,
                if provider.takes_base_url {
                    " and baseUrl"
                } else {
                    ""
                }
            )));
        }
        let _changing = file.changing.lock().await;
        let mut stored = file.read();
        stored.providers.insert(provider.id.to_owned(), credentials);
        file.write(&stored).await?;
        self.install(&stored);
        tracing::info!(provider = provider.id, "provider connected");
        Ok(())
    }

    /// Disconnects provider `id`; connecting it again needs its key again.
    pub async fn disconnect(&self, id: &str) -> Result<(), LocalError> {
        let provider = connectable(id)?;
        let file = self.connected_file()?;
        self.refuse_configured(provider)?;
        let _changing = file.changing.lock().await;
        let mut stored = file.read();
        if stored.providers.remove(provider.id).is_some() {
            file.write(&stored).await?;
            tracing::info!(provider = provider.id, "provider disconnected");
        }
        self.install(&stored);
        Ok(())
    }

    fn connected_file(&self) -> Result<&ConnectedFile, LocalError> {
        self.connected.as_deref().ok_or_else(|| {
            LocalError::Invalid("this daemon keeps no connected providers".to_owned())
        })
    }

    fn refuse_configured(&self, provider: &Connectable) -> Result<(), LocalError> {
        let configured = self
            .set()
            .configured
            .iter()
            .any(|config| config.name == provider.id);
        if configured {
            return Err(LocalError::Invalid(format!(
                "{} is configured by the daemon's environment or daemon.toml; change it there \
                 and restart the daemon",
                provider.display_name
            )));
        }
        Ok(())
    }

    /// Puts the stored connections in use, and forgets the context windows
    /// their models had.
    fn install(&self, stored: &Stored) {
        let mut set = self.set.write().unwrap_or_else(|err| err.into_inner());
        let configured = std::mem::take(&mut set.configured);
        *set = ProviderSet::new(configured, configs_of(stored));
        crate::util::lock(&self.windows).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn credentials_are_checked_field_by_field() {
        let openai = connectable("openai").unwrap();
        let anthropic = connectable("anthropic").unwrap();
        let good = credentials(
            openai,
            &fields(&[("apiKey", " sk-1 "), ("baseUrl", "http://h/v1/")]),
        )
        .unwrap();
        assert_eq!(good.api_key, "sk-1");
        assert_eq!(good.base_url.as_deref(), Some("http://h/v1"));
        for (provider, given) in [
            (openai, fields(&[])),
            (openai, fields(&[("apiKey", "  ")])),
            (openai, fields(&[("apiKey", "k"), ("baseUrl", "ftp://h")])),
            (openai, fields(&[("apiKey", "k"), ("token", "t")])),
            (
                anthropic,
                fields(&[("apiKey", "k"), ("baseUrl", "http://h")]),
            ),
            (openai, fields(&[("apiKey", &"k".repeat(5000))])),
        ] {
            assert!(credentials(provider, &given).is_err(), "{given:?}");
        }
        assert!(connectable("gemini").is_err());
    }
}
