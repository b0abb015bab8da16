//! The terminals of a desktop frontend.

use std::sync::Arc;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    Ack, TerminalInputParams, TerminalKillParams, TerminalResizeParams, TerminalSpawnParams,
    TerminalSpawnResult,
};

use super::{ConnectionInfo, DaemonState};
use crate::terminals::{Spawn, TerminalError};

impl From<TerminalError> for RpcError {
    fn from(err: TerminalError) -> RpcError {
        let code = match err {
            TerminalError::Invalid(_) => ErrorCode::InvalidParams,
            TerminalError::NotRunning(_) | TerminalError::Ended { .. } => ErrorCode::NotFound,
            TerminalError::Overloaded(_) => ErrorCode::Overloaded,
            TerminalError::Failed(_) => ErrorCode::InternalError,
            TerminalError::Store(_) => ErrorCode::Storage,
        };
        RpcError::new(code, err.to_string())
    }
}

pub async fn terminal_spawn(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: TerminalSpawnParams,
) -> Result<TerminalSpawnResult, RpcError> {
    let cwd = params
        .cwd
        .filter(|cwd| !cwd.is_empty())
        .unwrap_or_else(|| state.runtimes.boot_cwd());
    let spawn = Spawn {
        id: params.terminal_id,
        cols: params.cols,
        rows: params.rows,
        cwd: cwd.into(),
        after_offset: params.after_offset,
    };
    let id = connection.id;
    Ok(state.terminals.spawn(spawn, id, connection).await?)
}

pub async fn terminal_input(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: TerminalInputParams,
) -> Result<Ack, RpcError> {
    state
        .terminals
        .input(&params.terminal_id, &params.data)
        .await?;
    Ok(Ack::ok())
}

pub async fn terminal_resize(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: TerminalResizeParams,
) -> Result<Ack, RpcError> {
    state
        .terminals
        .resize(&params.terminal_id, params.cols, params.rows)
        .await?;
    Ok(Ack::ok())
}

pub async fn terminal_kill(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: TerminalKillParams,
) -> Result<Ack, RpcError> {
    state.terminals.kill(&params.terminal_id)?;
    Ok(Ack::ok())
}
