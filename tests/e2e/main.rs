//! End-to-end suites: each test spawns the real `letta-daemon` binary and
//! talks to it over its sockets.

// Test support code panics on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod acp;
mod agent_files;
mod bad_input;
mod bounds;
mod crash_paths;
mod crons;
mod ctl;
mod declarations;
mod faults;
mod forks;
mod handshake;
mod lifecycle;
mod local_agents;
mod local_tools;
mod mcp;
mod monitors;
mod official_client;
mod plans;
mod providers;
mod questions;
mod security;
mod session_context;
mod soak;
mod storage;
mod subagents;
mod subscriptions;
mod terminals;
mod toolsets;
mod turns;
mod wakes;
mod workspace;
