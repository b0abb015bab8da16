//! The workspace commands of a desktop frontend: the working directories,
//! and browsing, searching and editing files within them.

use std::collections::BTreeMap;
use std::sync::Arc;

use letta_protocol::errors::{ErrorCode, RpcError};
use letta_protocol::{
    Ack, CheckoutBranchParams, CheckoutBranchResult, EditFileParams, EditFileResult,
    GetCwdMapParams, GetCwdMapResult, GetTreeParams, GetTreeResult, GrepInFilesParams,
    GrepInFilesResult, ListInDirectoryParams, ListInDirectoryResult, ReadFileParams,
    ReadFileResult, SearchBranchesParams, SearchBranchesResult, SearchFilesParams,
    SearchFilesResult, SetBootWorkingDirectoryParams, SetBootWorkingDirectoryResult,
    WatchFileParams, WriteFileParams, WriteFileResult,
};

use super::{ConnectionInfo, DaemonState};
use crate::runtime::DEFAULT_CONVERSATION;
use crate::workspace::{self, Roots, WorkspaceError};

impl From<WorkspaceError> for RpcError {
    fn from(err: WorkspaceError) -> RpcError {
        let code = match err {
            WorkspaceError::NotAbsolute(_) | WorkspaceError::Invalid(_) => ErrorCode::InvalidParams,
            WorkspaceError::Outside { .. } | WorkspaceError::Denied { .. } => ErrorCode::Forbidden,
            WorkspaceError::NotFound(_) => ErrorCode::NotFound,
            WorkspaceError::Conflict(_) => ErrorCode::Conflict,
            WorkspaceError::Failed(_) => ErrorCode::InternalError,
        };
        RpcError::new(code, err.to_string())
    }
}

/// The boot working directory and every runtime's.
async fn roots(state: &DaemonState) -> Result<Roots, RpcError> {
    let runtimes = &state.runtimes;
    let dirs = runtimes.working_directories().await?;
    Ok(Roots::new(
        std::iter::once(runtimes.boot_cwd()).chain(dirs.into_iter().map(|(_, _, cwd)| cwd)),
    ))
}

/// Runs file system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, RpcError> {
    crate::fs::blocking(work).await.map_err(RpcError::from)
}

pub async fn get_cwd_map(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    _: GetCwdMapParams,
) -> Result<GetCwdMapResult, RpcError> {
    let boot = state.runtimes.boot_cwd();
    let mut cwd_map = BTreeMap::new();
    for (agent, conversation, cwd) in state.runtimes.working_directories().await? {
        if cwd == boot {
            continue;
        }
        let key = if conversation == DEFAULT_CONVERSATION {
            let agent = if agent.is_empty() {
                "__unknown__"
            } else {
                &agent
            };
            format!("agent:{agent}::conversation:default")
        } else {
            format!("conversation:{conversation}")
        };
        cwd_map.insert(key, cwd);
    }
    Ok(GetCwdMapResult {
        success: true,
        cwd_map,
        boot_working_directory: Some(boot),
    })
}

pub async fn set_boot_working_directory(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: SetBootWorkingDirectoryParams,
) -> Result<SetBootWorkingDirectoryResult, RpcError> {
    let asked = params.cwd;
    let dir = blocking(move || {
        if !std::path::Path::new(&asked).is_absolute() {
            return Err(WorkspaceError::NotAbsolute(asked));
        }
        let dir =
            std::fs::canonicalize(&asked).map_err(|_| WorkspaceError::NotFound(asked.clone()))?;
        if !dir.is_dir() {
            return Err(WorkspaceError::Invalid(format!(
                "{asked} is not a directory"
            )));
        }
        Ok(dir.display().to_string())
    })
    .await?;
    let cwd_revision = state.runtimes.set_boot_cwd(dir.clone()).await?;
    Ok(SetBootWorkingDirectoryResult {
        success: true,
        boot_working_directory: dir,
        cwd_revision,
    })
}

pub async fn list_in_directory(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: ListInDirectoryParams,
) -> Result<ListInDirectoryResult, RpcError> {
    let roots = roots(&state).await?;
    blocking(move || {
        let dir = roots.existing(&params.path)?;
        workspace::list_in_directory(
            &dir,
            &params.path,
            params.include_files.unwrap_or(false),
            params.offset.unwrap_or(0),
            params.limit,
        )
    })
    .await
}

pub async fn get_tree(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: GetTreeParams,
) -> Result<GetTreeResult, RpcError> {
    let roots = roots(&state).await?;
    blocking(move || {
        workspace::get_tree(&roots.existing(&params.path)?, &params.path, params.depth)
    })
    .await
}

/// The directory a search or a git command works in, confined: `cwd`, or
/// the boot working directory.
async fn dir_or_boot(
    state: &DaemonState,
    cwd: Option<String>,
) -> Result<workspace::Confined, RpcError> {
    let roots = roots(state).await?;
    let dir = cwd
        .filter(|cwd| !cwd.is_empty())
        .unwrap_or_else(|| state.runtimes.boot_cwd());
    blocking(move || roots.existing(&dir)).await
}

pub async fn search_files(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: SearchFilesParams,
) -> Result<SearchFilesResult, RpcError> {
    let root = dir_or_boot(&state, params.cwd).await?;
    blocking(move || workspace::search_files(&root, &params.query, params.max_results.unwrap_or(5)))
        .await
}

pub async fn grep_in_files(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: GrepInFilesParams,
) -> Result<GrepInFilesResult, RpcError> {
    let root = dir_or_boot(&state, params.cwd.clone()).await?;
    blocking(move || workspace::grep_in_files(&root, &params)).await
}

pub async fn read_file(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: ReadFileParams,
) -> Result<ReadFileResult, RpcError> {
    let roots = roots(&state).await?;
    blocking(move || {
        let file = roots.existing(&params.path)?;
        workspace::read_file(&file, &params.path, params.encoding.unwrap_or_default())
    })
    .await
}

pub async fn write_file(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: WriteFileParams,
) -> Result<WriteFileResult, RpcError> {
    let roots = roots(&state).await?;
    blocking(move || {
        workspace::write_file(
            &roots.writable(&params.path)?,
            &params.path,
            &params.content,
        )
    })
    .await
}

pub async fn edit_file(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: EditFileParams,
) -> Result<EditFileResult, RpcError> {
    let roots = roots(&state).await?;
    blocking(move || {
        let file = roots.existing(&params.file_path)?;
        let edit = workspace::Edit {
            old_string: &params.old_string,
            new_string: &params.new_string,
            replace_all: params.replace_all.unwrap_or(false),
            expected_replacements: params.expected_replacements,
        };
        workspace::edit_file(&file, &params.file_path, &edit)
    })
    .await
}

pub async fn search_branches(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: SearchBranchesParams,
) -> Result<SearchBranchesResult, RpcError> {
    let dir = dir_or_boot(&state, params.cwd).await?;
    Ok(workspace::search_branches(&dir, &params.query, params.max_results.unwrap_or(20)).await?)
}

pub async fn checkout_branch(
    state: Arc<DaemonState>,
    _: Arc<ConnectionInfo>,
    params: CheckoutBranchParams,
) -> Result<CheckoutBranchResult, RpcError> {
    let dir = dir_or_boot(&state, params.cwd).await?;
    Ok(workspace::checkout_branch(&dir, &params.branch, params.create.unwrap_or(false)).await?)
}

pub async fn watch_file(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: WatchFileParams,
) -> Result<Ack, RpcError> {
    let roots = roots(&state).await?;
    let asked = params.path.clone();
    let file = blocking(move || {
        let file = roots.existing(&asked)?;
        file.check_read()?;
        Ok(file)
    })
    .await?;
    let id = connection.id;
    state
        .watches
        .watch(id, connection, &params.path, file.path)?;
    Ok(Ack::ok())
}

pub async fn unwatch_file(
    state: Arc<DaemonState>,
    connection: Arc<ConnectionInfo>,
    params: WatchFileParams,
) -> Result<Ack, RpcError> {
    if !state.watches.unwatch(connection.id, &params.path) {
        return Err(RpcError::new(
            ErrorCode::NotPending,
            format!("this connection does not watch {}", params.path),
        ));
    }
    Ok(Ack::ok())
}
