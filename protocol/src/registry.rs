//! The one list of everything protocol v2 can say.
//!
//! Every client-to-daemon method and every daemon-to-client event is declared
//! exactly once, in [`crate::methods`] and [`crate::events`]. The JSON-RPC
//! dispatch in the daemon, the Letta Code frame codec, the Rust client and the
//! JSON Schema all read these declarations, so a name, a params type or a reply
//! type can never disagree between them.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// How a JSON-RPC message of this name travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// Client to daemon; the daemon answers with a result or an error.
    Request,
    /// Daemon to client; nobody answers.
    Notification,
}

/// What the daemon sends back when a method arrives as a Letta Code frame
/// (`{type, request_id, ...}` on `/ws`). JSON-RPC callers always get a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "when", content = "type", rename_all = "snake_case")]
pub enum FrameReply {
    /// A reply frame of this type, always, echoing `request_id`.
    Always(&'static str),
    /// A reply frame of this type, only when the command carried a `request_id`
    /// (the reference treats these commands as fire-and-forget otherwise).
    WhenRequestId(&'static str),
    /// No reply frame. Such a command has no correlation id, so a `request_id`
    /// field in it belongs to the command itself (e.g. the id of the external
    /// tool call being answered).
    Never,
}

impl FrameReply {
    /// The reply frame type, if this command ever gets one.
    pub fn reply_type(self) -> Option<&'static str> {
        match self {
            FrameReply::Always(reply) | FrameReply::WhenRequestId(reply) => Some(reply),
            FrameReply::Never => None,
        }
    }

    /// Whether the frame's `request_id` is a correlation id (stripped from the
    /// params and echoed on the reply) rather than a field of the command.
    pub fn correlates(self) -> bool {
        !matches!(self, FrameReply::Never)
    }
}

/// A client-to-daemon method: its wire name and the types of both directions.
pub trait Method {
    /// Wire name: the JSON-RPC `method` and the Letta Code frame `type`.
    const NAME: &'static str;
    /// How a frame client is answered.
    const FRAME_REPLY: FrameReply;
    /// The params object (the frame without `type` and `request_id`).
    type Params: Serialize + DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// The result object (the reply frame without `type` and `request_id`).
    type Result: Serialize + DeserializeOwned + schemars::JsonSchema + Send + 'static;
}

/// A daemon-to-client event: its frame `type` and its payload.
pub trait Event {
    /// The frame `type`.
    const NAME: &'static str;
    /// The whole event frame, `type` and envelope included.
    type Frame: Serialize + DeserializeOwned + schemars::JsonSchema + Send + 'static;
}

/// What the registry knows about one method, for code that looks names up at
/// run time (the frame codec, error messages, `initialize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    pub kind: MethodKind,
    pub frame_reply: FrameReply,
}

/// Declares the methods: one marker type per method implementing [`Method`],
/// plus the [`METHODS`](crate::METHODS) table and the schema hook.
macro_rules! declare_methods {
    ($(
        $(#[$doc:meta])*
        $marker:ident => $name:literal {
            params: $params:ty,
            result: $result:ty,
            frame_reply: $reply:expr $(,)?
        }
    )*) => {
        /// One marker type per protocol v2 method; see [`Method`](crate::Method).
        pub mod methods {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$doc])*
                #[derive(Debug, Clone, Copy)]
                pub struct $marker;

                impl $crate::registry::Method for $marker {
                    const NAME: &'static str = $name;
                    const FRAME_REPLY: $crate::registry::FrameReply = $reply;
                    type Params = $params;
                    type Result = $result;
                }
            )*
        }

        /// Every method by name. Code that must handle each method matches on
        /// it exhaustively, so a method declared without a handler is a
        /// compile error, not a "method not found" at run time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum MethodId {
            $( $(#[$doc])* $marker, )*
        }

        impl MethodId {
            /// Every method, in declaration order.
            pub const ALL: &'static [MethodId] = &[$(MethodId::$marker,)*];
        }

        /// Every protocol v2 method, in declaration order.
        pub const METHODS: &[$crate::registry::MethodInfo] = &[$(
            $crate::registry::MethodInfo {
                name: $name,
                kind: $crate::registry::MethodKind::Request,
                frame_reply: $reply,
            },
        )*];

        pub(crate) fn describe_methods(out: &mut $crate::schema::Describer) {
            $( out.method::<methods::$marker>(); )*
        }
    };
}

/// Declares the events: one marker type per event implementing [`Event`],
/// plus the [`EVENTS`](crate::EVENTS) table and the schema hook.
macro_rules! declare_events {
    ($(
        $(#[$doc:meta])*
        $marker:ident => $name:literal { frame: $frame:ty $(,)? }
    )*) => {
        /// One marker type per protocol v2 event; see [`Event`](crate::Event).
        pub mod events {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$doc])*
                #[derive(Debug, Clone, Copy)]
                pub struct $marker;

                impl $crate::registry::Event for $marker {
                    const NAME: &'static str = $name;
                    type Frame = $frame;
                }
            )*
        }

        /// Every protocol v2 event frame type, in declaration order.
        pub const EVENTS: &[&str] = &[$($name,)*];

        pub(crate) fn describe_events(out: &mut $crate::schema::Describer) {
            $( out.event::<events::$marker>(); )*
        }
    };
}

pub(crate) use declare_events;
pub(crate) use declare_methods;

/// Looks a method up by its wire name.
pub fn method_info(name: &str) -> Option<&'static MethodInfo> {
    crate::METHODS.iter().find(|info| info.name == name)
}
