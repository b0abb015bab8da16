//! A runtime's events that survive lost connections and daemon restarts.
//!
//! Every event carries a durable, per-runtime `event_seq`. [`RuntimeEvents`]
//! remembers the last one it handed out; when the connection drops it
//! reconnects (re-reading `daemon.json`) and asks the daemon to `sync` from
//! there, so the caller sees every event exactly once, in order.

use std::time::Duration;

use jsonrpsee::core::client::Subscription;
use letta_protocol::{
    Method, RuntimeScope, RuntimeStartParams, RuntimeStartResult, SyncParams, methods,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{ClientError, Endpoint, RpcClient};

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What [`RuntimeEvents::next`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The next event frame of the runtime.
    Event(Value),
    /// The connection dropped; reconnecting. Carries why.
    Reconnecting(String),
    /// Connected again; replay continues after the last event seen.
    Reconnected,
}

/// One runtime's event stream; see the module docs.
pub struct RuntimeEvents {
    endpoint: Endpoint,
    scope: RuntimeScope,
    last_seq: Option<u64>,
    /// Where the latest sync's replay and snapshots end.
    synced_through: Option<u64>,
    connection: Option<Connection>,
    /// How long to keep trying to reconnect before giving up.
    reconnect_for: Duration,
    backoff: Duration,
    reported_loss: bool,
}

struct Connection {
    client: RpcClient,
    events: Subscription<Value>,
}

impl RuntimeEvents {
    /// Starts (or resumes) a runtime with `runtime_start` and streams its
    /// events from then on.
    pub async fn start(
        endpoint: Endpoint,
        params: RuntimeStartParams,
    ) -> Result<(RuntimeEvents, RuntimeStartResult), ClientError> {
        let client = endpoint.connect().await?;
        let events = client.events().await?;
        let result = client.call::<methods::RuntimeStart>(&params).await?;
        let scope = result.runtime.clone().ok_or_else(|| {
            ClientError::Protocol(format!(
                "runtime_start failed: {}",
                result
                    .error
                    .as_deref()
                    .unwrap_or("no runtime in the answer")
            ))
        })?;
        let stream = RuntimeEvents::new(endpoint, scope, params.after_event_seq, client, events);
        Ok((stream, result))
    }

    /// Streams the events of a runtime the daemon runs: those after `after`
    /// first (all kept ones for `Some(0)`), then the current state, then
    /// live ones. `None` starts at the current state.
    pub async fn sync(
        endpoint: Endpoint,
        scope: RuntimeScope,
        after: Option<u64>,
    ) -> Result<RuntimeEvents, ClientError> {
        let (client, events, synced_through) = open(&endpoint, &scope, after).await?;
        let mut stream = RuntimeEvents::new(endpoint, scope, after, client, events);
        stream.synced_through = synced_through;
        Ok(stream)
    }

    fn new(
        endpoint: Endpoint,
        scope: RuntimeScope,
        after: Option<u64>,
        client: RpcClient,
        events: Subscription<Value>,
    ) -> RuntimeEvents {
        RuntimeEvents {
            endpoint,
            scope,
            last_seq: after,
            synced_through: None,
            connection: Some(Connection { client, events }),
            reconnect_for: Duration::from_secs(60),
            backoff: FIRST_BACKOFF,
            reported_loss: false,
        }
    }

    /// How long [`next`](Self::next) keeps reconnecting before it fails
    /// (default 60 s).
    pub fn reconnect_for(mut self, limit: Duration) -> RuntimeEvents {
        self.reconnect_for = limit;
        self
    }

    pub fn scope(&self) -> &RuntimeScope {
        &self.scope
    }

    /// The `event_seq` of the last event handed out.
    pub fn last_event_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The last `event_seq` of the latest sync (the first one, and each
    /// one after a reconnect): events up to it are replay and state, later
    /// ones are live.
    pub fn synced_through(&self) -> Option<u64> {
        self.synced_through
    }

    /// Calls a method on the current connection (reconnecting first if
    /// there is none).
    pub async fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        if self.connection.is_none() {
            self.reconnect_once().await?;
        }
        match &self.connection {
            Some(connection) => connection.client.call::<M>(params).await,
            None => Err(ClientError::Disconnected("not connected".to_owned())),
        }
    }

    /// The next update; events of other runtimes on the connection and
    /// events replayed twice are skipped.
    pub async fn next(&mut self) -> Result<Update, ClientError> {
        let deadline = tokio::time::Instant::now() + self.reconnect_for;
        loop {
            let Some(connection) = &mut self.connection else {
                match self.reconnect_once().await {
                    Ok(()) => {
                        self.reported_loss = false;
                        return Ok(Update::Reconnected);
                    }
                    Err(err) if tokio::time::Instant::now() >= deadline => return Err(err),
                    Err(err) => {
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                        if !self.reported_loss {
                            self.reported_loss = true;
                            return Ok(Update::Reconnecting(err.to_string()));
                        }
                        continue;
                    }
                }
            };
            let lost = match connection.events.next().await {
                Some(Ok(frame)) => {
                    if !self.is_new(&frame) {
                        continue;
                    }
                    self.last_seq = frame["event_seq"].as_u64().or(self.last_seq);
                    return Ok(Update::Event(frame));
                }
                Some(Err(err)) => format!("unreadable event: {err}"),
                None => "the daemon closed the connection".to_owned(),
            };
            self.connection = None;
            self.backoff = FIRST_BACKOFF;
            self.reported_loss = true;
            return Ok(Update::Reconnecting(lost));
        }
    }

    fn is_new(&self, frame: &Value) -> bool {
        let ours = RuntimeScope::deserialize(&frame["runtime"])
            .is_ok_and(|scope| scope.same_runtime(&self.scope));
        let seq = frame["event_seq"].as_u64();
        ours && match (seq, self.last_seq) {
            (Some(seq), Some(last)) => seq > last,
            _ => true,
        }
    }

    async fn reconnect_once(&mut self) -> Result<(), ClientError> {
        let after = Some(self.last_seq.unwrap_or(0));
        let (client, events, synced_through) = open(&self.endpoint, &self.scope, after).await?;
        self.connection = Some(Connection { client, events });
        self.synced_through = synced_through;
        Ok(())
    }
}

/// Connects, subscribes to events, and syncs the runtime after `after`;
/// returns where the sync ended.
async fn open(
    endpoint: &Endpoint,
    scope: &RuntimeScope,
    after: Option<u64>,
) -> Result<(RpcClient, Subscription<Value>, Option<u64>), ClientError> {
    let client = endpoint.connect().await?;
    let events = client.events().await?;
    let synced = client
        .call::<methods::Sync>(&SyncParams {
            runtime: scope.clone(),
            after_event_seq: after,
            recover_approvals: None,
            force_device_status: None,
        })
        .await?;
    Ok((client, events, synced.last_event_seq))
}
