//! Params, results and event frames of protocol v2.
//!
//! Names and fields follow Letta Code's `protocol_v2.d.ts` so that its clients
//! work against the daemon unmodified. Bodies that the reference forwards to
//! the Letta API untouched (agent and conversation create/update bodies, list
//! queries) are kept as JSON objects, so fields the server learns later pass
//! through without a protocol change.

mod common;
mod crons;
mod events;
mod external_tools;
mod info;
mod input;
mod providers;
mod resources;
mod runtime;
mod status;
mod terminals;
mod workspace;

pub use common::*;
pub use crons::*;
pub use events::*;
pub use external_tools::*;
pub use info::*;
pub use input::*;
pub use providers::*;
pub use resources::*;
pub use runtime::*;
pub use status::*;
pub use terminals::*;
pub use workspace::*;
