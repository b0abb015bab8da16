//! Daemon configuration: flags > environment > `~/.letta/daemon.toml` >
//! defaults.
//!
//! Flags and their environment forms are read by clap; the file fills what
//! neither gave; [`Config::resolve`] applies defaults and checks everything
//! that can be checked before anything is opened or bound, so a bad setting
//! is reported at once and by name.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use clap::{Parser, ValueEnum};
use serde::Deserialize;

use crate::backend::BackendKind;
use crate::backend::local::ProviderConfig;

mod providers;

/// Default largest accepted message: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Default frontend connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default model steps per local run.
pub const DEFAULT_MAX_STEPS: u32 = 50;
/// Default share of the context window before a local conversation is
/// compacted.
pub const DEFAULT_COMPACTION_THRESHOLD: f64 = 0.75;
/// Default events kept per runtime.
pub const DEFAULT_EVENT_RETENTION: u64 = 100_000;
/// 8 GiB: room for years of conversations, not for a runaway that fills
/// the disk.
pub const DEFAULT_MAX_DATABASE_MIB: u64 = 8192;
/// Most threads for the daemon's own async work (`--worker-threads`).
pub const MAX_WORKER_THREADS: usize = 64;
const DEFAULT_LISTEN: &str = "ws://127.0.0.1:4500";
const DEFAULT_LOCAL_LETTA_URL: &str = "http://localhost:8283";
const DEFAULT_CLOUD_LETTA_URL: &str = "https://api.letta.com";
/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with
/// the terminating NUL; macOS allows 104).
const MAX_SOCKET_PATH_BYTES: usize = 103;

/// Where new agents live unless a request says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A Letta server.
    Api,
    /// The daemon itself.
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Command line of `letta-daemon`. Every flag also has an environment form.
#[derive(Debug, Default, Parser)]
#[command(
    name = "letta-daemon",
    version,
    about = "The local runtime for Letta agents: owns agent sessions, resumable run streams, local tools and permissions, and serves frontends over protocol v2.",
    after_help = "Clients find a running daemon through <data-dir>/daemon.json."
)]
pub struct Cli {
    /// Where the database, socket and daemon.json live [default: ~/.letta/daemon].
    #[arg(long, env = "LETTA_DAEMON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Local socket for newline-delimited JSON-RPC [default: <data-dir>/daemon.sock].
    #[arg(long, env = "LETTA_DAEMON_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// WebSocket and HTTP address; port 0 picks a free port [default: ws://127.0.0.1:4500].
    #[arg(long, env = "LETTA_DAEMON_LISTEN", value_name = "ws://HOST:PORT")]
    pub listen: Option<String>,
    /// File holding the bearer token HTTP and WebSocket clients must send.
    /// Required when --listen is not a loopback address.
    #[arg(long, env = "LETTA_DAEMON_AUTH_TOKEN_FILE", value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,
    /// Log format on stderr [default: text].
    #[arg(long, env = "LETTA_DAEMON_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `info,letta_daemon=debug` [default: info].
    #[arg(long, env = "LETTA_DAEMON_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Largest accepted message in bytes [default: 16777216].
    #[arg(long, env = "LETTA_DAEMON_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Frontend connections served at once; more are refused [default: 4096].
    #[arg(long, env = "LETTA_DAEMON_MAX_CONNECTIONS", value_name = "COUNT")]
    pub max_connections: Option<usize>,
    /// Events kept per runtime for replay [default: 100000].
    #[arg(long, env = "LETTA_DAEMON_EVENT_RETENTION", value_name = "EVENTS")]
    pub event_retention: Option<u64>,
    /// Largest size of the database in MiB; past it new work is refused [default: 8192].
    #[arg(long, env = "LETTA_DAEMON_MAX_DATABASE_MIB", value_name = "MIB")]
    pub max_database_mib: Option<u64>,
    /// Seconds a run stream may stay silent (pings included) before it is resumed [default: 60].
    #[arg(
        long,
        env = "LETTA_DAEMON_STREAM_STALL_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub stream_stall_timeout: Option<u64>,
    /// Seconds a frontend may leave the daemon's writes to it unread before it is cut, with the reason; it resumes from its last event_seq [default: 30].
    #[arg(long, env = "LETTA_DAEMON_SLOW_CLIENT_TIMEOUT", value_name = "SECONDS")]
    pub slow_client_timeout: Option<u64>,
    /// Subagents (launched with the Agent tool) working at once, across the daemon; a launch past it is refused with the reason [default: 8].
    #[arg(long, env = "LETTA_DAEMON_MAX_SUBAGENTS", value_name = "N")]
    pub max_subagents: Option<usize>,
    /// Seconds one request to the Letta server may take (opening a run stream included) [default: 120].
    #[arg(
        long,
        env = "LETTA_DAEMON_LETTA_REQUEST_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub letta_request_timeout: Option<u64>,
    /// Letta server URL [default: https://api.letta.com with an API key, else http://localhost:8283].
    #[arg(long, env = "LETTA_BASE_URL", value_name = "URL")]
    pub letta_base_url: Option<String>,
    /// Where new agents live [default: api when a Letta server is configured, else local].
    #[arg(long, env = "LETTA_DAEMON_BACKEND", value_enum)]
    pub backend: Option<BackendChoice>,
    /// The model new local agents get, as provider/model [default: the first available provider's].
    #[arg(long, env = "LETTA_DAEMON_DEFAULT_MODEL", value_name = "HANDLE")]
    pub default_model: Option<String>,
    /// Model steps one local run may take before it stops with max_steps [default: 50].
    #[arg(long, env = "LETTA_DAEMON_MAX_STEPS", value_name = "STEPS")]
    pub max_steps: Option<u32>,
    /// Share of a model's context window a local agent's prompt may fill before older messages are summarised [default: 0.75].
    #[arg(
        long,
        env = "LETTA_DAEMON_COMPACTION_THRESHOLD",
        value_name = "FRACTION"
    )]
    pub compaction_threshold: Option<f64>,
    /// Threads running the daemon's async work; SQLite, tools and file work have threads of their own [default: 1].
    #[arg(long, env = "LETTA_DAEMON_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<usize>,
    /// Configuration file [default: ~/.letta/daemon.toml].
    #[arg(long, env = "LETTA_DAEMON_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// `~/.letta/daemon.toml`. Same names as the flags, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    socket: Option<PathBuf>,
    listen: Option<String>,
    auth_token_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    max_message_bytes: Option<usize>,
    max_connections: Option<usize>,
    event_retention: Option<u64>,
    max_database_mib: Option<u64>,
    stream_stall_timeout: Option<u64>,
    slow_client_timeout: Option<u64>,
    max_subagents: Option<usize>,
    letta_request_timeout: Option<u64>,
    letta_base_url: Option<String>,
    letta_api_key: Option<String>,
    backend: Option<BackendChoice>,
    default_model: Option<String>,
    max_steps: Option<u32>,
    compaction_threshold: Option<f64>,
    worker_threads: Option<usize>,
    #[serde(default)]
    providers: BTreeMap<String, providers::ProviderFile>,
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the Letta server is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct LettaApiConfig {
    /// A server was named (URL or API key), not just the default address.
    pub configured: bool,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub request_timeout: std::time::Duration,
}

/// The resolved configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub listen: SocketAddr,
    pub auth_token: Option<Secret>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub max_message_bytes: usize,
    /// Frontend connections served at once.
    pub max_connections: usize,
    /// Events kept per runtime for replay.
    pub event_retention: u64,
    /// The database grows no larger than this many MiB.
    pub max_database_mib: u64,
    /// A run stream silent for this long is resumed.
    pub stream_stall_timeout: std::time::Duration,
    /// A frontend that reads nothing of a write for this long is cut.
    pub slow_client_timeout: std::time::Duration,
    /// Subagents working at once.
    pub max_subagents: usize,
    pub letta: LettaApiConfig,
    /// Where new agents live unless a request says otherwise.
    pub backend: BackendKind,
    pub local: LocalConfig,
    /// Threads of the async runtime.
    pub worker_threads: usize,
}

/// How the local backend runs agents.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub providers: Vec<ProviderConfig>,
    pub default_model: Option<String>,
    pub max_steps: u32,
    pub compaction_threshold: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("cannot find the home directory; pass --data-dir")]
    NoHome,
    #[error(
        "invalid --listen {value:?}: {reason} (expected ws://HOST:PORT, e.g. ws://127.0.0.1:4500)"
    )]
    Listen { value: String, reason: String },
    #[error(
        "refusing to listen on non-loopback address {addr} without an auth token: pass --auth-token-file"
    )]
    NonLoopbackWithoutToken { addr: SocketAddr },
    #[error("cannot read auth token file {path}: {source}")]
    ReadToken {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("auth token file {path} is empty")]
    EmptyToken { path: PathBuf },
    #[error("--max-message-bytes must be at least 1024, got {0}")]
    MaxMessageBytes(usize),
    #[error(
        "socket path {path} is {len} bytes long; the limit is {MAX_SOCKET_PATH_BYTES}: pass a shorter --socket"
    )]
    SocketPathTooLong { path: PathBuf, len: usize },
    #[error("invalid [providers.{name}] in the config file: {message}")]
    Provider { name: String, message: String },
    #[error("--default-model {0:?} is not a provider/model handle (e.g. openai/gpt-4.1)")]
    DefaultModel(String),
    #[error("--compaction-threshold must be between 0.1 and 0.95, got {0}")]
    CompactionThreshold(f64),
    #[error("--worker-threads must be from 1 to {MAX_WORKER_THREADS}, got {0}")]
    WorkerThreads(usize),
}

/// What configuration reads from the user's environment beyond the flags'
/// own variables. Tests pass their own, so they never read the developer's
/// key or `~/.letta`.
#[derive(Debug, Clone, Default)]
pub struct UserEnvironment {
    /// `LETTA_API_KEY`.
    pub api_key: Option<String>,
    /// Where `~/.letta/daemon.toml` and the default data directory are.
    pub home: Option<PathBuf>,
    /// The variables model providers are found by (`OPENAI_API_KEY`, ...,
    /// and whatever `api_key_env` names).
    pub vars: BTreeMap<String, String>,
}

impl UserEnvironment {
    pub fn current() -> UserEnvironment {
        UserEnvironment {
            api_key: std::env::var("LETTA_API_KEY").ok(),
            home: std::env::home_dir(),
            vars: std::env::vars().collect(),
        }
    }
}

impl Config {
    /// Applies the file and the defaults to what the command line gave.
    pub fn resolve(cli: Cli, user: UserEnvironment) -> Result<Config, ConfigError> {
        let UserEnvironment {
            api_key: env_api_key,
            home,
            vars,
        } = user;
        let file = load_file(cli.config.as_deref(), home.as_deref())?;

        let data_dir = match cli.data_dir.or(file.data_dir) {
            Some(dir) => dir,
            None => home
                .ok_or(ConfigError::NoHome)?
                .join(".letta")
                .join("daemon"),
        };
        let socket = cli
            .socket
            .or(file.socket)
            .unwrap_or_else(|| data_dir.join("daemon.sock"));
        let socket_len = socket.as_os_str().len();
        if socket_len > MAX_SOCKET_PATH_BYTES {
            return Err(ConfigError::SocketPathTooLong {
                path: socket,
                len: socket_len,
            });
        }

        let listen_text = cli
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = parse_listen(&listen_text)?;

        let auth_token = match cli.auth_token_file.or(file.auth_token_file) {
            Some(path) => Some(read_token(&path)?),
            None => None,
        };
        if auth_token.is_none() && !listen.ip().is_loopback() {
            return Err(ConfigError::NonLoopbackWithoutToken { addr: listen });
        }

        let max_message_bytes = cli
            .max_message_bytes
            .or(file.max_message_bytes)
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if max_message_bytes < 1024 {
            return Err(ConfigError::MaxMessageBytes(max_message_bytes));
        }

        let api_key = env_api_key
            .or(file.letta_api_key)
            .filter(|key| !key.trim().is_empty());
        let named_url = cli.letta_base_url.or(file.letta_base_url);
        let letta_configured = named_url.is_some() || api_key.is_some();
        // A Letta server named (or a key for Letta Cloud) makes it the
        // default home of new agents; otherwise they live in the daemon.
        let backend = match cli.backend.or(file.backend) {
            Some(BackendChoice::Api) => BackendKind::Api,
            Some(BackendChoice::Local) => BackendKind::Local,
            None if letta_configured => BackendKind::Api,
            None => BackendKind::Local,
        };
        let default_model = cli.default_model.or(file.default_model);
        if let Some(model) = &default_model
            && !model.contains('/')
        {
            return Err(ConfigError::DefaultModel(model.clone()));
        }
        let compaction_threshold = cli
            .compaction_threshold
            .or(file.compaction_threshold)
            .unwrap_or(DEFAULT_COMPACTION_THRESHOLD);
        if !(0.1..=0.95).contains(&compaction_threshold) {
            return Err(ConfigError::CompactionThreshold(compaction_threshold));
        }
        let local = LocalConfig {
            providers: providers::resolve(&file.providers, &vars)?,
            default_model,
            max_steps: cli
                .max_steps
                .or(file.max_steps)
                .unwrap_or(DEFAULT_MAX_STEPS)
                .max(1),
            compaction_threshold,
        };
        // One thread: a turn's work hops between tasks and SQLite's thread
        // dozens of times, and each hop that wakes a second async thread
        // as well costs more than the parallelism gives a local daemon
        // (BENCHMARKS.md, "One async thread").
        let worker_threads = cli.worker_threads.or(file.worker_threads).unwrap_or(1);
        if !(1..=MAX_WORKER_THREADS).contains(&worker_threads) {
            return Err(ConfigError::WorkerThreads(worker_threads));
        }
        let base_url = named_url.unwrap_or_else(|| {
            let default = if api_key.is_some() {
                DEFAULT_CLOUD_LETTA_URL
            } else {
                DEFAULT_LOCAL_LETTA_URL
            };
            default.to_owned()
        });

        Ok(Config {
            data_dir,
            socket,
            listen,
            auth_token,
            log_format: cli
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log_filter: cli.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
            max_message_bytes,
            max_connections: cli
                .max_connections
                .or(file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS)
                .max(1),
            event_retention: cli
                .event_retention
                .or(file.event_retention)
                .unwrap_or(DEFAULT_EVENT_RETENTION)
                .max(1),
            max_database_mib: cli
                .max_database_mib
                .or(file.max_database_mib)
                .unwrap_or(DEFAULT_MAX_DATABASE_MIB)
                .max(1),
            stream_stall_timeout: std::time::Duration::from_secs(
                cli.stream_stall_timeout
                    .or(file.stream_stall_timeout)
                    .unwrap_or(60)
                    .max(1),
            ),
            slow_client_timeout: std::time::Duration::from_secs(
                cli.slow_client_timeout
                    .or(file.slow_client_timeout)
                    .unwrap_or(30)
                    .max(1),
            ),
            max_subagents: cli.max_subagents.or(file.max_subagents).unwrap_or(8),
            letta: LettaApiConfig {
                configured: letta_configured,
                base_url,
                api_key: api_key.map(Secret::new),
                request_timeout: cli
                    .letta_request_timeout
                    .or(file.letta_request_timeout)
                    .map_or(letta_api::DEFAULT_REQUEST_TIMEOUT, |seconds| {
                        std::time::Duration::from_secs(seconds.max(1))
                    }),
            },
            backend,
            local,
            worker_threads,
        })
    }
}

fn load_file(explicit: Option<&Path>, home: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let (path, required) = match (explicit, home) {
        (Some(path), _) => (path.to_path_buf(), true),
        (None, Some(home)) => (home.join(".letta").join("daemon.toml"), false),
        (None, None) => return Ok(FileConfig::default()),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default());
        }
        Err(source) => return Err(ConfigError::ReadFile { path, source }),
    };
    toml::from_str(&text).map_err(|err| ConfigError::ParseFile {
        path,
        message: err.to_string(),
    })
}

fn read_token(path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadToken {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ConfigError::EmptyToken {
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(token.to_owned()))
}

/// Parses `ws://HOST:PORT` (also accepting `http://` and a bare `HOST:PORT`).
/// `localhost` means 127.0.0.1; other names are refused rather than resolved,
/// so what the daemon binds is exactly what was written.
pub fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let fail = |reason: &str| ConfigError::Listen {
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = ["ws://", "http://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .unwrap_or(text);
    if rest.contains("://") {
        return Err(fail("only ws:// is supported"));
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(fail("a path is not allowed"));
    }
    if let Some(port) = authority.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| fail("the port must be a number from 0 to 65535"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    authority
        .parse::<SocketAddr>()
        .map_err(|_| fail("HOST must be an IP address or localhost, and PORT a number"))
}

#[cfg(test)]
mod tests;
