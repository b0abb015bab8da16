//! The schedules of a desktop frontend. A connection that uses any of
//! these commands receives `crons_updated` from then on.

use std::sync::Arc;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    CronAddParams, CronDeleteAllParams, CronDeleteAllResult, CronDeleteResult, CronGetResult,
    CronListParams, CronListResult, CronResumeParams, CronRunsParams, CronRunsResult, CronTask,
    CronTaskParams, CronTaskResult, CronUpdateParams,
};

use super::{ConnectionInfo, DaemonState};
use crate::crons::{CronError, Crons};

type State = Arc<DaemonState>;
type Connection = Arc<ConnectionInfo>;

impl From<CronError> for RpcError {
    fn from(err: CronError) -> RpcError {
        let code = match err {
            CronError::Invalid(_) => ErrorCode::InvalidParams,
            CronError::NotFound(_) => ErrorCode::NotFound,
            CronError::Conflict(_) => ErrorCode::Conflict,
            CronError::Overloaded(_) => ErrorCode::Overloaded,
            CronError::NotRun(_) => ErrorCode::LettaServer,
            CronError::Store(_) => ErrorCode::Storage,
        };
        RpcError::new(code, err.to_string())
    }
}

/// The schedules, with the calling connection listening to their changes.
fn crons(state: &State, connection: Connection) -> &Crons {
    state.crons.listen(connection);
    &state.crons
}

fn found(task: CronTask) -> CronTaskResult {
    CronTaskResult {
        success: true,
        found: true,
        task,
    }
}

pub async fn cron_list(
    state: State,
    connection: Connection,
    params: CronListParams,
) -> Result<CronListResult, RpcError> {
    let tasks = crons(&state, connection)
        .list(
            params.agent_id.as_deref(),
            params.conversation_id.as_deref(),
        )
        .await?;
    Ok(CronListResult {
        success: true,
        tasks,
    })
}

pub async fn cron_add(
    state: State,
    connection: Connection,
    params: CronAddParams,
) -> Result<CronTaskResult, RpcError> {
    Ok(found(crons(&state, connection).add(params).await?))
}

pub async fn cron_get(
    state: State,
    connection: Connection,
    params: CronTaskParams,
) -> Result<CronGetResult, RpcError> {
    let task = crons(&state, connection).get(&params.task_id).await?;
    Ok(CronGetResult {
        success: true,
        found: task.is_some(),
        task,
    })
}

pub async fn cron_runs(
    state: State,
    connection: Connection,
    params: CronRunsParams,
) -> Result<CronRunsResult, RpcError> {
    let page = crons(&state, connection).runs(&params).await?;
    Ok(CronRunsResult {
        success: true,
        page,
    })
}

pub async fn cron_trigger(
    state: State,
    connection: Connection,
    params: CronTaskParams,
) -> Result<CronTaskResult, RpcError> {
    Ok(found(
        crons(&state, connection).trigger(&params.task_id).await?,
    ))
}

pub async fn cron_pause(
    state: State,
    connection: Connection,
    params: CronTaskParams,
) -> Result<CronTaskResult, RpcError> {
    Ok(found(
        crons(&state, connection).pause(&params.task_id).await?,
    ))
}

pub async fn cron_resume(
    state: State,
    connection: Connection,
    params: CronResumeParams,
) -> Result<CronTaskResult, RpcError> {
    let task = crons(&state, connection)
        .resume(&params.task_id, params.scheduled_for.as_deref())
        .await?;
    Ok(found(task))
}

pub async fn cron_update(
    state: State,
    connection: Connection,
    params: CronUpdateParams,
) -> Result<CronTaskResult, RpcError> {
    Ok(found(crons(&state, connection).update(params).await?))
}

pub async fn cron_delete(
    state: State,
    connection: Connection,
    params: CronTaskParams,
) -> Result<CronDeleteResult, RpcError> {
    let found = crons(&state, connection).delete(&params.task_id).await?;
    Ok(CronDeleteResult {
        success: true,
        found,
    })
}

pub async fn cron_delete_all(
    state: State,
    connection: Connection,
    params: CronDeleteAllParams,
) -> Result<CronDeleteAllResult, RpcError> {
    let deleted = crons(&state, connection)
        .delete_all(&params.agent_id)
        .await?;
    Ok(CronDeleteAllResult {
        success: true,
        agent_id: params.agent_id,
        deleted,
    })
}
