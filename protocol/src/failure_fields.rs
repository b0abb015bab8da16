//! What a failed command's reply frame carries besides `success: false` and
//! the error, so that it is still the reply type Letta Code declares (its
//! reply types require fields such as `path` or `tasks` on failure too):
//! the empty value of each, or the command's own param echoed.

use serde_json::{Map, Value, json};

use crate::errors::{ErrorCode, RpcError};

/// How a required field of a failed reply is filled.
#[derive(Debug, Clone, Copy)]
enum Fill {
    Null,
    EmptyArray,
    EmptyObject,
    False,
    Zero,
    Text(&'static str),
    /// The command's param of this name (an empty string when absent).
    Param(&'static str),
    /// Whether the thing named was there: true unless the error is
    /// `NotFound`.
    Found,
    /// `runtime_start`'s `created`: neither.
    NothingCreated,
}

/// By reply type, the fields its failure frames carry.
const FAILURE_FIELDS: &[(&str, &[(&str, Fill)])] = &[
    (
        "input_accepted",
        &[
            ("accepted", Fill::False),
            ("runtime", Fill::Param("runtime")),
        ],
    ),
    ("sync_response", &[("runtime", Fill::Param("runtime"))]),
    (
        "abort_message_response",
        &[
            ("aborted", Fill::False),
            ("runtime", Fill::Param("runtime")),
        ],
    ),
    (
        "resume_queue_response",
        &[("resumed", Fill::Zero), ("runtime", Fill::Param("runtime"))],
    ),
    (
        "remove_queue_item_response",
        &[("item_id", Fill::Param("item_id"))],
    ),
    (
        "runtime_start_response",
        &[
            ("agent", Fill::Null),
            ("conversation", Fill::Null),
            ("runtime", Fill::Null),
            ("created", Fill::NothingCreated),
        ],
    ),
    (
        "get_cwd_map_response",
        &[
            ("cwd_map", Fill::EmptyObject),
            ("boot_working_directory", Fill::Null),
        ],
    ),
    (
        "set_boot_working_directory_response",
        &[
            ("boot_working_directory", Fill::Param("cwd")),
            ("cwd_revision", Fill::Zero),
        ],
    ),
    (
        "list_in_directory_response",
        &[
            ("path", Fill::Param("path")),
            ("folders", Fill::EmptyArray),
            ("hasMore", Fill::False),
        ],
    ),
    (
        "get_tree_response",
        &[
            ("path", Fill::Param("path")),
            ("entries", Fill::EmptyArray),
            ("has_more_depth", Fill::False),
        ],
    ),
    ("search_files_response", &[("files", Fill::EmptyArray)]),
    (
        "grep_in_files_response",
        &[
            ("matches", Fill::EmptyArray),
            ("total_files", Fill::Zero),
            ("total_matches", Fill::Zero),
            ("truncated", Fill::False),
        ],
    ),
    (
        "read_file_response",
        &[("path", Fill::Param("path")), ("content", Fill::Null)],
    ),
    ("write_file_response", &[("path", Fill::Param("path"))]),
    (
        "edit_file_response",
        &[
            ("file_path", Fill::Param("file_path")),
            ("message", Fill::Null),
            ("replacements", Fill::Zero),
        ],
    ),
    (
        "search_branches_response",
        &[("branches", Fill::EmptyArray)],
    ),
    (
        "checkout_branch_response",
        &[("branch", Fill::Param("branch"))],
    ),
    ("list_models_response", &[("entries", Fill::EmptyArray)]),
    (
        "list_connect_providers_response",
        &[
            ("target", Fill::Text("local")),
            ("providers", Fill::EmptyArray),
        ],
    ),
    (
        "connect_provider_response",
        &[
            ("target", Fill::Text("local")),
            ("providers", Fill::EmptyArray),
            ("models_may_have_changed", Fill::False),
        ],
    ),
    (
        "disconnect_provider_response",
        &[
            ("target", Fill::Text("local")),
            ("providers", Fill::EmptyArray),
            ("models_may_have_changed", Fill::False),
        ],
    ),
    ("agent_list_response", &[("agents", Fill::EmptyArray)]),
    ("agent_retrieve_response", &[("agent", Fill::Null)]),
    ("agent_create_response", &[("agent", Fill::Null)]),
    ("agent_update_response", &[("agent", Fill::Null)]),
    (
        "agent_delete_response",
        &[("agent_id", Fill::Param("agent_id"))],
    ),
    (
        "conversation_list_response",
        &[("conversations", Fill::EmptyArray)],
    ),
    (
        "conversation_retrieve_response",
        &[("conversation", Fill::Null)],
    ),
    (
        "conversation_create_response",
        &[("conversation", Fill::Null)],
    ),
    (
        "conversation_update_response",
        &[("conversation", Fill::Null)],
    ),
    (
        "conversation_fork_response",
        &[("conversation", Fill::Null)],
    ),
    ("conversation_recompile_response", &[("result", Fill::Null)]),
    (
        "conversation_compact_response",
        &[("compaction", Fill::Null)],
    ),
    (
        "conversation_messages_list_response",
        &[
            ("messages", Fill::EmptyArray),
            ("next_before", Fill::Null),
            ("has_more", Fill::False),
        ],
    ),
    ("cron_list_response", &[("tasks", Fill::EmptyArray)]),
    (
        "cron_get_response",
        &[("found", Fill::Found), ("task", Fill::Null)],
    ),
    ("cron_trigger_response", &[("found", Fill::Found)]),
    ("cron_pause_response", &[("found", Fill::Found)]),
    ("cron_resume_response", &[("found", Fill::Found)]),
    ("cron_delete_response", &[("found", Fill::Found)]),
    (
        "cron_delete_all_response",
        &[
            ("agent_id", Fill::Param("agent_id")),
            ("deleted", Fill::Zero),
        ],
    ),
];

/// Adds the fields a failed `reply_type` carries to `frame` (those it has
/// already stay).
pub(crate) fn add(
    frame: &mut Map<String, Value>,
    reply_type: &str,
    params: &str,
    error: &RpcError,
) {
    let Some((_, fields)) = FAILURE_FIELDS.iter().find(|(kind, _)| *kind == reply_type) else {
        return;
    };
    let params: Value = serde_json::from_str(params).unwrap_or(Value::Null);
    for (field, fill) in *fields {
        let value = match fill {
            Fill::Null => Value::Null,
            Fill::EmptyArray => json!([]),
            Fill::EmptyObject => json!({}),
            Fill::False => Value::Bool(false),
            Fill::Zero => json!(0),
            Fill::Text(text) => json!(text),
            Fill::Param(name) => params.get(name).cloned().unwrap_or_else(|| json!("")),
            Fill::Found => Value::Bool(error.code != ErrorCode::NotFound.code()),
            Fill::NothingCreated => json!({ "agent": false, "conversation": false }),
        };
        frame.entry(*field).or_insert(value);
    }
}
