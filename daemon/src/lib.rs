//! letta-daemon: the long-running process on the user's machine that owns
//! agent sessions, runs their client-side tools, and serves frontends over
//! protocol v2 on a local socket and on WebSocket.
//!
//! Start at [`app::run`]: it opens the [`store`], builds the method table
//! ([`rpc`]), binds the transports ([`server`]), publishes the discovery file
//! ([`discovery`]) and shuts everything down in order on SIGINT/SIGTERM.

pub mod app;
pub mod backend;
mod child_signals;
pub mod config;
pub mod crons;
pub mod discovery;
pub mod faults;
mod fs;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod git;
pub mod logging;
pub mod mcp;
pub mod orphans;
pub mod permissions;
pub mod pty;
pub mod rpc;
pub mod runtime;
pub mod server;
pub mod store;
pub mod terminals;
pub mod tools;
pub mod util;
pub mod workspace;
