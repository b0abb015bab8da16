//! Entry points for the fuzz targets under `fuzz/` (built with the
//! `fuzzing` feature): the parsers that read what a client, a model, a
//! server or a settings file can send. Each takes any text; none may
//! panic, and each bounds what it reads.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::permissions::rules::Rule;
use crate::rpc::{ConnectionInfo, Transport};
use crate::server::dispatch::Dispatcher;

/// A JSON-RPC line and a Letta Code frame, through the daemon's codec
/// (no methods registered: every call that parses is "not found").
pub fn codec(text: &str) {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().ok());
    let Some(runtime) = built else {
        return;
    };
    let (events, _) = tokio::sync::mpsc::channel(1);
    let connection = Arc::new(ConnectionInfo::new(0, Transport::LocalSocket, events));
    let dispatcher = Dispatcher::new(jsonrpsee::Methods::new(), connection, 1 << 20);
    runtime.block_on(async {
        dispatcher.handle_jsonrpc(text).await;
        dispatcher.handle_frame(text).await;
    });
}

/// A permission rule as a settings file or a client writes it, then
/// matched the ways the daemon matches rules.
pub fn permission_rule(text: &str) {
    if let Ok(rule) = text.parse::<Rule>() {
        let cwd = Path::new("/project");
        rule.matches_whole("Bash");
        rule.matches_line("Bash", "git status && ls -la");
        rule.matches_path("Read", Path::new("/project/src/main.rs"), cwd);
        rule.read_glob(cwd);
    }
}

/// A Bash command line: split into the commands it runs, each classified
/// read-only or not.
pub fn shell_line(line: &str) {
    if let Ok(commands) = crate::permissions::shell::sub_commands(line) {
        crate::permissions::all_read_only(&commands, Path::new("/project"));
    }
}

/// An `ApplyPatch` input.
pub fn apply_patch(text: &str) {
    let _ = crate::tools::Patch::parse(text);
}

/// A model provider's server-sent events (`event:`/`data:` blocks
/// separated by blank lines), through the Chat Completions and the
/// Messages decoders.
pub fn model_stream(text: &str) {
    crate::backend::local::providers::decode_all(text);
}
