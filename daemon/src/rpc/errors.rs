//! How failures below the RPC layer look on the wire.

use letta_api::LettaError;
use letta_protocol::errors::{ErrorCode, RpcError};

use crate::runtime::RuntimeError;

impl From<RuntimeError> for RpcError {
    fn from(err: RuntimeError) -> RpcError {
        let code = match err {
            RuntimeError::Letta(letta) => return upstream(letta),
            RuntimeError::Invalid(_) => ErrorCode::InvalidParams,
            RuntimeError::UnknownRuntime { .. } => ErrorCode::UnknownRuntime,
            RuntimeError::NotPending(_) => ErrorCode::NotPending,
            RuntimeError::Overloaded(_) => ErrorCode::Overloaded,
            RuntimeError::Store(ref store) => {
                tracing::error!(error = %store, "storage failure");
                ErrorCode::Storage
            }
            RuntimeError::Internal(_) => ErrorCode::InternalError,
        };
        RpcError::new(code, err.to_string())
    }
}

/// A Letta server failure as a protocol error, keeping status and detail.
pub fn upstream(err: LettaError) -> RpcError {
    tracing::info!(error = %err, "a request to the Letta server failed");
    let data = match &err {
        LettaError::Status {
            status,
            code,
            detail,
            ..
        } => {
            serde_json::json!({ "status": status, "code": code, "detail": detail })
        }
        _ => serde_json::json!({}),
    };
    RpcError::new(ErrorCode::LettaServer, err.to_string()).with_data(data)
}
