//! Entry points for the fuzz targets under `fuzz/` (built with the
//! `fuzzing` feature): what an editor can send the bridge, and what the
//! bridge translates for it. None may panic or hang.

use std::sync::OnceLock;

use clap::Parser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::acp;
use crate::cli::{Cli, Command};
use crate::target::Context;

/// Bytes the editor writes to `letta-ctl acp`'s stdin, read to the end by
/// the bridge as it runs (the SDK's framing, then the bridge's handlers;
/// with no daemon behind it, each session request fails with an error the
/// editor is sent). Also read as a prompt's content blocks and as a daemon
/// event, through the bridge's translations.
pub fn acp_stdin(bytes: &[u8]) {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
    });
    let Some(runtime) = built else {
        return;
    };
    runtime.block_on(serve_bytes(bytes));
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        translate(&value);
    }
}

async fn serve_bytes(bytes: &[u8]) {
    let Ok(Cli {
        command: Command::Acp(args),
        ..
    }) = Cli::try_parse_from(["letta-ctl", "acp", "--no-start"])
    else {
        return;
    };
    let context = Context {
        data_dir: std::env::temp_dir().join("letta-ctl-fuzz-no-daemon"),
        json: false,
    };
    let (editor, bridge) = tokio::io::duplex(64 * 1024);
    let (bridge_in, bridge_out) = tokio::io::split(bridge);
    let transport = agent_client_protocol::DynConnectTo::new(
        agent_client_protocol::ByteStreams::new(bridge_out.compat_write(), bridge_in.compat()),
    );
    let (mut editor_in, mut editor_out) = tokio::io::split(editor);
    let editor_side = async {
        let _ = editor_out.write_all(bytes).await;
        let _ = editor_out.shutdown().await;
        let mut answers = Vec::new();
        let _ = editor_in.read_to_end(&mut answers).await;
    };
    let _ = tokio::join!(acp::serve(&context, args, transport), editor_side);
}

fn translate(value: &Value) {
    if let Some(blocks) = value.as_array() {
        acp::fuzzing::prompt(blocks);
    }
    acp::fuzzing::event(value);
}
