//! How failures below the RPC layer look on the wire.

use letta_api::LettaError;
use letta_protocol::errors::{ErrorCode, RpcError};

use crate::backend::{BackendError, LocalError};
use crate::runtime::RuntimeError;

impl From<RuntimeError> for RpcError {
    fn from(err: RuntimeError) -> RpcError {
        let code = match err {
            RuntimeError::Backend(backend) => return upstream(backend),
            RuntimeError::Invalid(_) => ErrorCode::InvalidParams,
            RuntimeError::UnknownRuntime { .. } => ErrorCode::UnknownRuntime,
            RuntimeError::NotPending(_) => ErrorCode::NotPending,
            RuntimeError::Overloaded(_) => ErrorCode::Overloaded,
            RuntimeError::Store(ref store) => {
                tracing::error!(error = %store, "storage failure");
                ErrorCode::Storage
            }
            RuntimeError::Internal(_) => ErrorCode::InternalError,
            RuntimeError::EventsExpired { first_kept } => {
                return RpcError::new(ErrorCode::EventsExpired, err.to_string())
                    .with_data(serde_json::json!({ "first_kept_event_seq": first_kept }));
            }
        };
        RpcError::new(code, err.to_string())
    }
}

/// A backend failure as a protocol error: the Letta server's keeps its
/// status and detail; the local backend's gets a code of its own.
pub fn upstream(err: BackendError) -> RpcError {
    match err {
        BackendError::Letta(err) => letta_server(err),
        BackendError::Local(err) => local(err),
    }
}

fn letta_server(err: LettaError) -> RpcError {
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

fn local(err: LocalError) -> RpcError {
    let code = match &err {
        LocalError::NotFound { .. } => ErrorCode::NotFound,
        LocalError::Invalid(_) => ErrorCode::InvalidParams,
        LocalError::Busy(_) | LocalError::PendingApproval(_) => ErrorCode::Conflict,
        LocalError::NoProvider(_) | LocalError::RunFailed(_) => ErrorCode::ModelProvider,
        LocalError::Store(store) => {
            tracing::error!(error = %store, "storage failure");
            ErrorCode::Storage
        }
    };
    RpcError::new(code, err.to_string()).with_data(serde_json::json!({ "backend": "local" }))
}
