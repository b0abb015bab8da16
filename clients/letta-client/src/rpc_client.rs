//! JSON-RPC client, typed by the protocol registry.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::traits::tokio::Stream as _;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use jsonrpsee::core::ClientError as JsonRpcError;
use jsonrpsee::core::client::{Client, ClientBuilder, ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::core::traits::ToRpcParams;
use letta_protocol::Method;
use letta_protocol::errors::RpcError;
use serde_json::value::RawValue;

use crate::ClientError;
use crate::transport::{LineReceiver, LineSender, WsReceiver, WsSender};

/// Default time a call may take before it fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Event notifications buffered before a slow reader loses the
/// subscription (and [`crate::RuntimeEvents`] resumes from its last event).
const EVENT_BUFFER: usize = 16 * 1024;

/// A JSON-RPC connection to the daemon.
pub struct RpcClient {
    inner: Client,
}

impl RpcClient {
    /// Connects to the local socket at `path`.
    pub async fn connect_socket(path: &Path) -> Result<RpcClient, ClientError> {
        let target = path.display().to_string();
        let connect_error = |source| ClientError::Connect {
            target: target.clone(),
            source,
        };
        let name = path
            .to_fs_name::<GenericFilePath>()
            .map_err(connect_error)?;
        let stream = Stream::connect(name).await.map_err(connect_error)?;
        let (reader, writer) = tokio::io::split(stream);
        Ok(Self::build(
            LineSender::new(writer),
            LineReceiver::new(reader),
        ))
    }

    /// Connects to a daemon's `/rpc` WebSocket, e.g. `ws://127.0.0.1:4500/rpc`.
    pub async fn connect_ws(url: &str) -> Result<RpcClient, ClientError> {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(
            url,
            Some(crate::websocket_config()),
            true,
        )
        .await
        .map_err(|err| ClientError::Connect {
            target: url.to_owned(),
            source: std::io::Error::other(err),
        })?;
        let (sink, stream) = socket.split();
        Ok(Self::build(WsSender(sink), WsReceiver(stream)))
    }

    fn build<S, R>(sender: S, receiver: R) -> RpcClient
    where
        S: jsonrpsee::core::client::TransportSenderT + Send,
        R: jsonrpsee::core::client::TransportReceiverT + Send,
    {
        let inner = ClientBuilder::default()
            .request_timeout(DEFAULT_TIMEOUT)
            .max_buffer_capacity_per_subscription(EVENT_BUFFER)
            .build_with_tokio(sender, receiver);
        RpcClient { inner }
    }

    /// Calls method `M` with its params and returns its result.
    pub async fn call<M: Method>(&self, params: &M::Params) -> Result<M::Result, ClientError> {
        let params = ObjectParams(
            serde_json::value::to_raw_value(params)
                .map_err(|err| ClientError::Protocol(err.to_string()))?,
        );
        self.inner.request(M::NAME, params).await.map_err(map_error)
    }

    /// Calls a method by name with raw JSON params; for tools and tests that
    /// need to send what the registry would not.
    pub async fn call_raw(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let params = ObjectParams(
            serde_json::value::to_raw_value(&params)
                .map_err(|err| ClientError::Protocol(err.to_string()))?,
        );
        self.inner.request(method, params).await.map_err(map_error)
    }

    /// Every event notification this connection receives, from now on.
    /// Call it once per connection, before subscribing to runtimes.
    pub async fn events(&self) -> Result<Subscription<serde_json::Value>, ClientError> {
        self.inner
            .subscribe_to_method(letta_protocol::EVENT_NOTIFICATION)
            .await
            .map_err(map_error)
    }

    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
}

struct ObjectParams(Box<RawValue>);

impl ToRpcParams for ObjectParams {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(Some(self.0))
    }
}

fn map_error(err: JsonRpcError) -> ClientError {
    match err {
        JsonRpcError::Call(error) => ClientError::Rpc(RpcError {
            code: error.code(),
            message: error.message().to_owned(),
            data: error
                .data()
                .and_then(|data| serde_json::from_str(data.get()).ok()),
        }),
        JsonRpcError::RequestTimeout => ClientError::Timeout(DEFAULT_TIMEOUT),
        JsonRpcError::RestartNeeded(reason) => ClientError::Disconnected(reason.to_string()),
        other => ClientError::Protocol(other.to_string()),
    }
}
