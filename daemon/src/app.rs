//! Start-up and shutdown, in order.
//!
//! Start: data directory and its lock, database, method table, local
//! socket, TCP listener, then `daemon.json` — written last, so a client that
//! finds it can connect. Shutdown (SIGINT/SIGTERM): stop accepting, let
//! in-flight replies finish, remove `daemon.json` and the socket, record a
//! clean stop, close the database.

use std::sync::Arc;
use std::time::Duration;

use crate::util::now_rfc3339;

use axum::serve::ListenerExt;
use letta_protocol::discovery::DaemonFile;
use tokio::net::TcpListener;

use crate::backend::local::providers::CONNECTED_FILE;
use crate::backend::{Backends, LocalBackend, LocalSettings, local::Providers};
use crate::config::Config;
use crate::crons::Crons;
use crate::discovery::{DataDirLock, DiscoveryError, Published};
use crate::rpc::{self, DaemonState, Identity};
use crate::runtime::{RuntimeError, RuntimeSettings, Runtimes};
use crate::server::local_socket::{LocalSocket, LocalSocketError};
use crate::server::{Shared, http};
use crate::store::{CheckpointSchedule, DATABASE_FILE, Store, StoreError};
use crate::terminals::Terminals;
use letta_api::{LettaApi, LettaError};

/// Exit code for a configuration error.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code when another daemon already owns the data directory or socket.
pub const EXIT_ALREADY_RUNNING: u8 = 3;
/// How often the maintenance task runs.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);
/// How long shutdown waits for connections to finish their replies.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    LocalSocket(#[from] LocalSocketError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the Letta client: {0}")]
    Letta(#[from] LettaError),
    #[error("cannot restore the runtimes: {0}")]
    Restore(#[from] RuntimeError),
    #[error("cannot register protocol methods: {0}")]
    Methods(#[from] jsonrpsee::core::RegisterMethodError),
    #[error("cannot wait for signals: {0}")]
    Signals(std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

impl DaemonError {
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Discovery(DiscoveryError::Locked { .. })
            | DaemonError::LocalSocket(LocalSocketError::InUse { .. }) => EXIT_ALREADY_RUNNING,
            _ => 1,
        }
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let data_dir = config.data_dir.clone();
    tokio::task::spawn_blocking(move || crate::orphans::end_left_behind(&data_dir));
    let store = Store::open_limited(
        &config.data_dir.join(DATABASE_FILE),
        Some(config.max_database_mib.saturating_mul(1024 * 1024)),
    )
    .await?;
    let started_at = now_rfc3339();
    let (run_id, unclean) = store
        .record_daemon_start(std::process::id(), env!("CARGO_PKG_VERSION"), &started_at)
        .await?;
    for run in unclean {
        tracing::warn!(pid = run.pid, started_at = %run.started_at, "an earlier daemon run did not stop cleanly");
    }

    let api = LettaApi::new(
        &config.letta.base_url,
        config
            .letta
            .api_key
            .as_ref()
            .map(|key| key.expose().to_owned()),
    )?
    .with_request_timeout(config.letta.request_timeout);
    let settings = RuntimeSettings {
        event_retention: config.event_retention,
        stall_timeout: config.stream_stall_timeout,
        tool_output_dir: config.data_dir.join("tool-output"),
        max_subagents: config.max_subagents,
    };
    let providers = Providers::new(
        config.local.providers.clone(),
        config.local.default_model.clone(),
    )
    .with_connected_file(config.data_dir.join(CONNECTED_FILE));
    let local = LocalBackend::new(
        store.clone(),
        providers,
        LocalSettings {
            max_steps: config.local.max_steps,
            compaction_threshold: config.local.compaction_threshold,
        },
    );
    tracing::info!(
        backend = config.backend.as_str(),
        "new agents live on this backend unless a request says otherwise"
    );
    let backends = Backends::new(api, local, config.backend, config.letta.configured);
    let runtimes = Runtimes::new(backends, store.clone(), settings);
    let restored = runtimes.restore().await?;
    if restored > 0 {
        tracing::info!(runtimes = restored, "restored runtimes");
    }
    runtimes.follow_subagents().await?;
    let crons = Arc::new(Crons::new(store.clone(), runtimes.clone()));
    let maintenance = tokio::spawn(maintain(store.clone(), runtimes.clone(), crons.clone()));
    let identity = Identity {
        pid: std::process::id(),
        started_at: started_at.clone(),
        data_dir: config.data_dir.display().to_string(),
        socket: config.socket.display().to_string(),
        letta_base_url: config.letta.base_url.clone(),
    };
    let terminals = Arc::new(Terminals::new(store.clone()));
    let ended = terminals.restore().await?;
    if ended > 0 {
        tracing::info!(terminals = ended, "terminals of the last run ended with it");
    }
    let state = Arc::new(DaemonState::new(
        identity,
        config.max_message_bytes,
        runtimes,
        terminals,
        crons,
    ));
    let methods = rpc::build(state.clone())?;
    let shared = Arc::new(Shared::new(
        methods,
        state.clone(),
        config.max_message_bytes,
        config.max_connections,
        config.slow_client_timeout,
    ));

    let socket = LocalSocket::bind(&config.socket).await?;
    let tcp = TcpListener::bind(config.listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: config.listen,
            source,
        })?;
    let ws_addr = tcp.local_addr().map_err(|source| DaemonError::Listen {
        addr: config.listen,
        source,
    })?;
    state.set_ws_url(format!("ws://{ws_addr}"));
    // Frames are small and latency matters: no Nagle delay on replies.
    let tcp = tcp.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });

    let socket_task = tokio::spawn(socket.serve(shared.clone()));
    let router = http::router(shared.clone(), config.auth_token.clone());
    let mut http_task = tokio::spawn(
        axum::serve(tcp, router)
            .with_graceful_shutdown(shared.shutdown.clone().cancelled_owned())
            .into_future(),
    );
    shared.set_ready(true);

    let published = Published::write(
        &config.data_dir,
        &DaemonFile {
            pid: std::process::id(),
            socket: config.socket.display().to_string(),
            ws_url: format!("ws://{ws_addr}"),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol_version: letta_protocol::PROTOCOL_VERSION,
            started_at,
        },
    )?;
    tracing::info!(
        socket = %config.socket.display(),
        ws_url = %format!("ws://{ws_addr}"),
        letta_base_url = %config.letta.base_url,
        "letta-daemon ready"
    );

    let outcome = tokio::select! {
        signal = shutdown_signal() => signal.map_err(DaemonError::Signals),
        served = &mut http_task => Err(DaemonError::Http(match served {
            Ok(Ok(())) => std::io::Error::other("stopped unexpectedly"),
            Ok(Err(err)) => err,
            Err(err) => std::io::Error::other(err),
        })),
    };

    tracing::info!("shutting down");
    shared.set_ready(false);
    shared.shutdown.cancel();
    let _ = socket_task.await;
    if !http_task.is_finished() {
        let _ = http_task.await;
    }
    shared.connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, shared.connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still busy after {SHUTDOWN_GRACE:?}; closing them");
    }
    maintenance.abort();
    state.runtimes.stop_background_jobs().await;
    state.terminals.stop_all().await;
    published.remove();
    if let Err(err) = store.record_daemon_stop(run_id, &now_rfc3339()).await {
        tracing::warn!(error = %err, "cannot record the clean stop");
    }
    store.close().await;
    tracing::info!("stopped");
    outcome
}

/// Background upkeep, off the path from chunk to frontend: WAL checkpoints,
/// event-log retention, and the wakes and schedules that are due.
async fn maintain(store: Store, runtimes: Arc<Runtimes>, crons: Arc<Crons>) {
    let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpoints = CheckpointSchedule::default();
    loop {
        tick.tick().await;
        if checkpoints.due(store.commits())
            && let Err(err) = store.checkpoint().await
        {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
        for runtime in runtimes.all().await {
            runtime.log.trim().await;
        }
        runtimes.fire_due_wakes().await;
        crons.fire_due().await;
    }
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
