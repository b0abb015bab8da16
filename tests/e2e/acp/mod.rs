//! `letta-ctl acp` driven as an editor drives it, with the client sides of
//! the Agent Client Protocol's Rust and TypeScript SDKs.

mod docs;
mod editor;
mod history;
mod sessions;
