//! Protocol v2 of letta-daemon.
//!
//! This crate is pure data: the one registry of methods and events
//! ([`METHODS`], [`EVENTS`], the [`methods`] and [`events`] marker types), the
//! types they carry, the Letta Code frame codec ([`frames`]), the JSON-RPC
//! error vocabulary ([`errors`]), the discovery file ([`discovery`]) and the
//! JSON Schema generated from all of it ([`schema`]). The daemon, the client
//! library and the tests all build on it, so the surface is declared once.

pub mod discovery;
pub mod errors;
mod failure_fields;
pub mod frames;
pub mod registry;
pub mod schema;
mod types;
pub mod unserved;

pub use registry::{Event, FrameReply, Method, MethodInfo, MethodKind, method_info};
pub use types::*;

/// Name of this protocol, as `initialize` reports it.
pub const PROTOCOL_NAME: &str = "letta-daemon";
/// The protocol version this crate describes.
pub const PROTOCOL_VERSION: u32 = 2;
/// Versions a daemon built from this crate can speak.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[u32] = &[PROTOCOL_VERSION];
/// Letta Code's app-server wire version (`APP_SERVER_PROTOCOL_VERSION`), which
/// `app_server_info` reports so Letta Code clients accept the daemon.
pub const LETTA_CODE_PROTOCOL_VERSION: u32 = 1;
/// The Letta Code release whose app-server protocol the frames follow.
pub const LETTA_CODE_COMPAT_VERSION: &str = "0.34.12";
/// JSON-RPC method of the notifications that carry event frames.
pub const EVENT_NOTIFICATION: &str = "event";

registry::declare_methods! {
    /// Optional JSON-RPC handshake: agree on a protocol version and learn
    /// what the daemon implements.
    Initialize => "initialize" {
        params: InitializeParams, result: InitializeResult,
        frame_reply: FrameReply::Always("initialize_response"),
    }
    /// Capability discovery, as Letta Code's app-server answers it.
    AppServerInfo => "app_server_info" {
        params: AppServerInfoParams, result: types::AppServerInfo,
        frame_reply: FrameReply::Always("app_server_info_response"),
    }
    /// Resume or create an agent conversation and subscribe to its events.
    RuntimeStart => "runtime_start" {
        params: RuntimeStartParams, result: RuntimeStartResult,
        frame_reply: FrameReply::Always("runtime_start_response"),
    }
    /// Replay a runtime's events and state.
    Sync => "sync" {
        params: SyncParams, result: SyncResult,
        frame_reply: FrameReply::WhenRequestId("sync_response"),
    }
    /// Send a message to the agent, or answer an approval request.
    Input => "input" {
        params: InputParams, result: InputAccepted,
        frame_reply: FrameReply::WhenRequestId("input_accepted"),
    }
    /// Cancel the running turn and pause the queue.
    AbortMessage => "abort_message" {
        params: AbortMessageParams, result: AbortMessageResult,
        frame_reply: FrameReply::WhenRequestId("abort_message_response"),
    }
    /// Release queue items parked by an abort.
    ResumeQueue => "resume_queue" {
        params: ResumeQueueParams, result: ResumeQueueResult,
        frame_reply: FrameReply::WhenRequestId("resume_queue_response"),
    }
    /// Takes a waiting input out of the queue before it starts; its turn
    /// finishes `cancelled`.
    RemoveQueueItem => "remove_queue_item" {
        params: RemoveQueueItemParams, result: RemoveQueueItemResult,
        frame_reply: FrameReply::Always("remove_queue_item_response"),
    }
    /// Change a runtime's permission mode or working directory.
    ChangeDeviceState => "change_device_state" {
        params: ChangeDeviceStateParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    AgentList => "agent_list" {
        params: AgentListParams, result: AgentListResult,
        frame_reply: FrameReply::Always("agent_list_response"),
    }
    AgentRetrieve => "agent_retrieve" {
        params: AgentRetrieveParams, result: AgentResult,
        frame_reply: FrameReply::Always("agent_retrieve_response"),
    }
    AgentCreate => "agent_create" {
        params: AgentCreateParams, result: AgentResult,
        frame_reply: FrameReply::Always("agent_create_response"),
    }
    AgentUpdate => "agent_update" {
        params: AgentUpdateParams, result: AgentResult,
        frame_reply: FrameReply::Always("agent_update_response"),
    }
    AgentDelete => "agent_delete" {
        params: AgentDeleteParams, result: AgentDeleteResult,
        frame_reply: FrameReply::Always("agent_delete_response"),
    }
    ConversationList => "conversation_list" {
        params: ConversationListParams, result: ConversationListResult,
        frame_reply: FrameReply::Always("conversation_list_response"),
    }
    ConversationRetrieve => "conversation_retrieve" {
        params: ConversationRetrieveParams, result: ConversationResult,
        frame_reply: FrameReply::Always("conversation_retrieve_response"),
    }
    ConversationCreate => "conversation_create" {
        params: ConversationCreateParams, result: ConversationResult,
        frame_reply: FrameReply::Always("conversation_create_response"),
    }
    ConversationUpdate => "conversation_update" {
        params: ConversationUpdateParams, result: ConversationResult,
        frame_reply: FrameReply::Always("conversation_update_response"),
    }
    ConversationMessagesList => "conversation_messages_list" {
        params: ConversationMessagesListParams, result: ConversationMessagesListResult,
        frame_reply: FrameReply::Always("conversation_messages_list_response"),
    }
    /// An agent as a Letta Agent File (`.af`), from whichever backend it
    /// lives on.
    AgentExport => "agent_export" {
        params: AgentExportParams, result: AgentExportResult,
        frame_reply: FrameReply::Always("agent_export_response"),
    }
    /// Creates the agents of a Letta Agent File on a backend.
    AgentImport => "agent_import" {
        params: AgentImportParams, result: AgentImportResult,
        frame_reply: FrameReply::Always("agent_import_response"),
    }
    /// Summarises a conversation's older messages out of its context; they
    /// stay stored and searchable.
    ConversationCompact => "conversation_compact" {
        params: ConversationCompactParams, result: ConversationCompactResult,
        frame_reply: FrameReply::Always("conversation_compact_response"),
    }
    /// Copies a conversation (up to a message, if named) into a new one of
    /// the same agent.
    ConversationFork => "conversation_fork" {
        params: ConversationForkParams, result: ConversationForkResult,
        frame_reply: FrameReply::Always("conversation_fork_response"),
    }
    /// Compiles a conversation's system prompt again from the agent's
    /// memory, and returns it.
    ConversationRecompile => "conversation_recompile" {
        params: ConversationRecompileParams, result: ConversationRecompileResult,
        frame_reply: FrameReply::Always("conversation_recompile_response"),
    }
    /// Switches the model of a runtime's agent (on either backend).
    UpdateModel => "update_model" {
        params: UpdateModelParams, result: UpdateModelResult,
        frame_reply: FrameReply::Always("update_model_response"),
    }
    /// Sets a runtime's toolset preference: the built-in tools its turns
    /// offer unless a turn names a toolset. Persisted.
    UpdateToolset => "update_toolset" {
        params: UpdateToolsetParams, result: UpdateToolsetResult,
        frame_reply: FrameReply::Always("update_toolset_response"),
    }
    /// Cancels a wake the agent scheduled (`Wake`) before it fires.
    WakeCancel => "wake_cancel" {
        params: WakeCancelParams, result: Ack,
        frame_reply: FrameReply::Always("wake_cancel_response"),
    }
    /// The models the Letta server offers (`GET /v1/models/`), its default
    /// marked.
    ListModels => "list_models" {
        params: ListModelsParams, result: ListModelsResult,
        frame_reply: FrameReply::Always("list_models_response"),
    }
    /// The model providers the daemon can connect for its own agents, and
    /// which are connected.
    ListConnectProviders => "list_connect_providers" {
        params: ListConnectProvidersParams, result: ListConnectProvidersResult,
        frame_reply: FrameReply::Always("list_connect_providers_response"),
    }
    /// Connects a model provider with the user's credentials, once they
    /// work; kept in a `0600` file, never echoed back.
    ConnectProvider => "connect_provider" {
        params: ConnectProviderParams, result: ConnectProviderResult,
        frame_reply: FrameReply::Always("connect_provider_response"),
    }
    /// Forgets a connected provider and its credentials.
    DisconnectProvider => "disconnect_provider" {
        params: DisconnectProviderParams, result: ConnectProviderResult,
        frame_reply: FrameReply::Always("disconnect_provider_response"),
    }
    /// The daemon's version, uptime, endpoints, and every runtime with its
    /// loop status and pending approvals.
    DaemonStatus => "daemon_status" {
        params: DaemonStatusParams, result: DaemonStatusResult,
        frame_reply: FrameReply::Always("daemon_status_response"),
    }
    /// Hand a task to a subagent of a runtime's agent; its report comes
    /// back to the agent as a message, or only in `update_subagent_state`
    /// with `notify: "caller"`.
    LaunchSubagent => "launch_subagent" {
        params: LaunchSubagentParams, result: LaunchSubagentResult,
        frame_reply: FrameReply::Always("launch_subagent_response"),
    }
    /// The runtimes' working directories and the boot working directory:
    /// the workspace roots the file commands are confined to.
    GetCwdMap => "get_cwd_map" {
        params: GetCwdMapParams, result: GetCwdMapResult,
        frame_reply: FrameReply::Always("get_cwd_map_response"),
    }
    /// Sets where runtimes started without a working directory work, and
    /// opens it as a workspace root. Persisted.
    SetBootWorkingDirectory => "set_boot_working_directory" {
        params: SetBootWorkingDirectoryParams, result: SetBootWorkingDirectoryResult,
        frame_reply: FrameReply::Always("set_boot_working_directory_response"),
    }
    /// One directory's folders (and files), paged.
    ListInDirectory => "list_in_directory" {
        params: ListInDirectoryParams, result: ListInDirectoryResult,
        frame_reply: FrameReply::Always("list_in_directory_response"),
    }
    /// A directory's subtree to a depth, breadth first.
    GetTree => "get_tree" {
        params: GetTreeParams, result: GetTreeResult,
        frame_reply: FrameReply::Always("get_tree_response"),
    }
    /// Paths containing a substring, for a quick-open box.
    SearchFiles => "search_files" {
        params: SearchFilesParams, result: SearchFilesResult,
        frame_reply: FrameReply::Always("search_files_response"),
    }
    /// Find in files: matching lines with context, honouring `.gitignore`.
    GrepInFiles => "grep_in_files" {
        params: GrepInFilesParams, result: GrepInFilesResult,
        frame_reply: FrameReply::Always("grep_in_files_response"),
    }
    /// A file's content, as UTF-8 text or base64.
    ReadFile => "read_file" {
        params: ReadFileParams, result: ReadFileResult,
        frame_reply: FrameReply::Always("read_file_response"),
    }
    /// Replaces a file's content atomically.
    WriteFile => "write_file" {
        params: WriteFileParams, result: WriteFileResult,
        frame_reply: FrameReply::Always("write_file_response"),
    }
    /// Replaces exact text in a file, atomically.
    EditFile => "edit_file" {
        params: EditFileParams, result: EditFileResult,
        frame_reply: FrameReply::Always("edit_file_response"),
    }
    /// A repository's branches, local and remote-tracking.
    SearchBranches => "search_branches" {
        params: SearchBranchesParams, result: SearchBranchesResult,
        frame_reply: FrameReply::Always("search_branches_response"),
    }
    /// Checks a branch out (or creates it); refused while tracked files
    /// have uncommitted changes.
    CheckoutBranch => "checkout_branch" {
        params: CheckoutBranchParams, result: CheckoutBranchResult,
        frame_reply: FrameReply::Always("checkout_branch_response"),
    }
    /// Reports changes of a workspace file to this connection
    /// (`file_changed`) until `unwatch_file` or the connection closes.
    WatchFile => "watch_file" {
        params: WatchFileParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    /// Ends one `watch_file` of this connection.
    UnwatchFile => "unwatch_file" {
        params: WatchFileParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    /// Starts a shell in a pseudo-terminal (or attaches to the running
    /// terminal of that id); `terminal_spawned`, then its output.
    TerminalSpawn => "terminal_spawn" {
        params: TerminalSpawnParams, result: TerminalSpawnResult,
        frame_reply: FrameReply::Never,
    }
    /// Types into a terminal.
    TerminalInput => "terminal_input" {
        params: TerminalInputParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    /// Changes a terminal's size.
    TerminalResize => "terminal_resize" {
        params: TerminalResizeParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    /// Ends a terminal and everything in its process group.
    TerminalKill => "terminal_kill" {
        params: TerminalKillParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    /// A frontend's receipt for a `turn_finished`. Every event is durable
    /// and replayed by `event_seq`, so the receipt changes nothing here; it
    /// is checked and accepted.
    TurnFinishedAck => "turn_finished_ack" {
        params: TurnFinishedAckParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
    /// The schedules, of one agent or conversation if named.
    CronList => "cron_list" {
        params: CronListParams, result: CronListResult,
        frame_reply: FrameReply::Always("cron_list_response"),
    }
    /// Schedules a prompt for an agent's conversation: on a cron pattern,
    /// or once.
    CronAdd => "cron_add" {
        params: CronAddParams, result: CronTaskResult,
        frame_reply: FrameReply::Always("cron_add_response"),
    }
    /// One schedule; `found: false` when there is none.
    CronGet => "cron_get" {
        params: CronTaskParams, result: CronGetResult,
        frame_reply: FrameReply::Always("cron_get_response"),
    }
    /// A schedule's run history, newest first, paged.
    CronRuns => "cron_runs" {
        params: CronRunsParams, result: CronRunsResult,
        frame_reply: FrameReply::Always("cron_runs_response"),
    }
    /// Runs a schedule now, whatever its pattern says.
    CronTrigger => "cron_trigger" {
        params: CronTaskParams, result: CronTaskResult,
        frame_reply: FrameReply::Always("cron_trigger_response"),
    }
    /// Stops a schedule from running until `cron_resume`.
    CronPause => "cron_pause" {
        params: CronTaskParams, result: CronTaskResult,
        frame_reply: FrameReply::Always("cron_pause_response"),
    }
    /// Runs a paused schedule again from its next due time; times missed
    /// while paused are not run.
    CronResume => "cron_resume" {
        params: CronResumeParams, result: CronTaskResult,
        frame_reply: FrameReply::Always("cron_resume_response"),
    }
    /// Changes a schedule's fields.
    CronUpdate => "cron_update" {
        params: CronUpdateParams, result: CronTaskResult,
        frame_reply: FrameReply::Always("cron_update_response"),
    }
    /// Deletes a schedule and its history; `found: false` when there is
    /// none.
    CronDelete => "cron_delete" {
        params: CronTaskParams, result: CronDeleteResult,
        frame_reply: FrameReply::Always("cron_delete_response"),
    }
    /// Deletes every schedule of an agent.
    CronDeleteAll => "cron_delete_all" {
        params: CronDeleteAllParams, result: CronDeleteAllResult,
        frame_reply: FrameReply::Always("cron_delete_all_response"),
    }
    /// Register (or remove) frontend-executed tools on runtimes.
    RuntimeExternalToolsUpdate => "runtime_external_tools_update" {
        params: RuntimeExternalToolsUpdateParams, result: Ack,
        frame_reply: FrameReply::Always("runtime_external_tools_update_response"),
    }
    /// A frontend's answer to an `external_tool_call_request`.
    ExternalToolCallResponse => "external_tool_call_response" {
        params: ExternalToolCallResponseParams, result: Ack,
        frame_reply: FrameReply::Never,
    }
}

registry::declare_events! {
    StreamDelta => "stream_delta" { frame: StreamDeltaEvent }
    TurnFinished => "turn_finished" { frame: TurnFinishedEvent }
    ControlRequest => "control_request" { frame: ControlRequestEvent }
    ExternalToolCallRequest => "external_tool_call_request" { frame: ExternalToolCallRequestEvent }
    UpdateLoopStatus => "update_loop_status" { frame: LoopStatusEvent }
    UpdateQueue => "update_queue" { frame: QueueEvent }
    UpdateDeviceStatus => "update_device_status" { frame: DeviceStatusEvent }
    UpdatePlan => "update_plan" { frame: PlanEvent }
    UpdateSubagentState => "update_subagent_state" { frame: SubagentStateEvent }
    FileChanged => "file_changed" { frame: FileChangedEvent }
    TerminalSpawned => "terminal_spawned" { frame: TerminalSpawnedEvent }
    TerminalOutput => "terminal_output" { frame: TerminalOutputEvent }
    TerminalExited => "terminal_exited" { frame: TerminalExitedEvent }
    CronsUpdated => "crons_updated" { frame: CronsUpdatedEvent }
}

/// Serializes an event body into its frame, `type` first among equals.
pub fn event_frame<E: Event>(body: &E::Frame) -> Result<serde_json::Value, serde_json::Error> {
    let mut frame = serde_json::to_value(body)?;
    if let serde_json::Value::Object(fields) = &mut frame {
        fields.insert("type".to_owned(), serde_json::Value::from(E::NAME));
    }
    Ok(frame)
}
