//! Rust client for letta-daemon.
//!
//! * [`RpcClient`]: JSON-RPC 2.0 over the local socket (the default) or the
//!   `/rpc` WebSocket, with calls typed by the protocol registry:
//!   `client.call::<methods::AppServerInfo>(&params)`.
//! * [`FrameClient`]: Letta Code frames over `/ws`, for speaking to the
//!   daemon (or any Letta Code app-server) the way Letta Code's own client
//!   does.
//! * [`RuntimeEvents`]: one runtime's events, resumed from the last
//!   `event_seq` across lost connections and daemon restarts.
//! * [`Endpoint`] and [`discovery`]: finding a running daemon through
//!   `<data-dir>/daemon.json`.

pub mod discovery;
mod endpoint;
mod error;
mod events;
mod frame_client;
mod rpc_client;
mod transport;

pub use endpoint::Endpoint;
pub use error::ClientError;
pub use events::{RuntimeEvents, Update};
pub use frame_client::FrameClient;
pub use rpc_client::RpcClient;

/// WebSocket settings for every client connection: no Nagle delay, and a
/// small read buffer (tungstenite zeroes its whole read buffer, 128 KiB by
/// default, on every read).
pub fn websocket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024)
}
