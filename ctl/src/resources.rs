//! `agents` and `conversations`: the Letta server's objects, through the
//! daemon. `--json` prints what the server returned.

use std::io::Write;

use letta_protocol::{
    AgentCreateParams, AgentDeleteParams, AgentExportParams, AgentImportParams, AgentListParams,
    AgentRetrieveParams, ConversationListParams, ConversationMessagesListParams,
    ConversationRetrieveParams, JsonObject, methods,
};
use serde_json::{Value, json};

use crate::cli::BackendArg;
use crate::cli::{AgentsCommand, ConversationsCommand};
use crate::error::CtlError;
use crate::render::{content_text, summary};
use crate::run::{choose_model, new_agent_body};
use crate::target::Context;

pub async fn agents(context: &Context, command: AgentsCommand) -> Result<u8, CtlError> {
    let client = context.client().await?;
    match command {
        AgentsCommand::List { name, limit } => {
            let mut query = json!({ "limit": limit });
            if let Some(name) = name {
                query["query_text"] = Value::from(name);
            }
            let listed = client
                .call::<methods::AgentList>(&AgentListParams {
                    query: object(query),
                })
                .await?;
            failed(listed.success, listed.error)?;
            print_list(context, &listed.agents, |agent| {
                format!(
                    "{}  {}  {}",
                    text(agent, "id"),
                    text(agent, "name"),
                    agent["llm_config"]["handle"]
                        .as_str()
                        .unwrap_or_else(|| text(agent, "model"))
                )
            })
        }
        AgentsCommand::Show { agent_id } => {
            let shown = client
                .call::<methods::AgentRetrieve>(&AgentRetrieveParams { agent_id })
                .await?;
            failed(shown.success, shown.error)?;
            print_object(context, &shown.agent.unwrap_or_default(), describe_agent)
        }
        AgentsCommand::Create(mut options) => {
            options.model = choose_model(&client, &options).await?;
            let created = client
                .call::<methods::AgentCreate>(&AgentCreateParams {
                    body: new_agent_body(&options),
                    backend: options.backend.map(BackendArg::protocol),
                })
                .await?;
            failed(created.success, created.error)?;
            print_object(context, &created.agent.unwrap_or_default(), |agent| {
                text(agent, "id").to_owned()
            })
        }
        AgentsCommand::Export {
            agent_id,
            conversation,
            output,
        } => {
            let exported = client
                .call::<methods::AgentExport>(&AgentExportParams {
                    agent_id,
                    conversation_id: conversation,
                })
                .await?;
            failed(exported.success, exported.error)?;
            let text = exported.agent_file.unwrap_or_default().to_string();
            match output {
                Some(path) => std::fs::write(&path, text + "\n")
                    .map_err(CtlError::io("writing the agent file"))?,
                None => writeln!(std::io::stdout().lock(), "{text}")
                    .map_err(CtlError::io("writing the agent file"))?,
            }
            Ok(0)
        }
        AgentsCommand::Import {
            file,
            backend,
            model,
            embedding,
        } => {
            let agent_file = read_agent_file(&file)?;
            let imported = client
                .call::<methods::AgentImport>(&AgentImportParams {
                    agent_file,
                    backend: backend.map(BackendArg::protocol),
                    model,
                    embedding,
                })
                .await?;
            failed(imported.success, imported.error)?;
            print_object(
                context,
                &json!({ "agent_ids": imported.agent_ids }),
                |value| {
                    value["agent_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            )
        }
        AgentsCommand::Delete { agent_id } => {
            let deleted = client
                .call::<methods::AgentDelete>(&AgentDeleteParams { agent_id })
                .await?;
            failed(deleted.success, deleted.error)?;
            print_object(context, &json!({ "deleted": deleted.agent_id }), |value| {
                format!("deleted {}", text(value, "deleted"))
            })
        }
    }
}

pub async fn conversations(
    context: &Context,
    command: ConversationsCommand,
) -> Result<u8, CtlError> {
    let client = context.client().await?;
    match command {
        ConversationsCommand::List { agent, limit } => {
            let mut query = json!({ "limit": limit });
            if let Some(agent) = agent {
                query["agent_id"] = Value::from(agent);
            }
            let listed = client
                .call::<methods::ConversationList>(&ConversationListParams {
                    query: object(query),
                })
                .await?;
            failed(listed.success, listed.error)?;
            print_list(context, &listed.conversations, |conversation| {
                format!(
                    "{}  agent {}  {}",
                    text(conversation, "id"),
                    text(conversation, "agent_id"),
                    text(conversation, "created_at")
                )
            })
        }
        ConversationsCommand::Show { conversation_id } => {
            let shown = client
                .call::<methods::ConversationRetrieve>(&ConversationRetrieveParams {
                    conversation_id,
                })
                .await?;
            failed(shown.success, shown.error)?;
            print_object(
                context,
                &shown.conversation.unwrap_or_default(),
                |conversation| serde_json::to_string_pretty(conversation).unwrap_or_default(),
            )
        }
        ConversationsCommand::Messages {
            conversation_id,
            agent,
            limit,
        } => {
            let mut query = json!({ "limit": limit, "order": "asc" });
            if let Some(agent) = agent {
                query["agent_id"] = Value::from(agent);
            }
            let listed = client
                .call::<methods::ConversationMessagesList>(&ConversationMessagesListParams {
                    conversation_id,
                    query: object(query),
                })
                .await?;
            failed(listed.success, listed.error)?;
            print_list(context, &listed.messages, describe_message)
        }
    }
}

/// One line per message: who, and what.
fn describe_message(message: &Value) -> String {
    let kind = text(message, "message_type");
    let what = match kind {
        "reasoning_message" => text(message, "reasoning").to_owned(),
        "tool_call_message" | "approval_request_message" => {
            let call = &message["tool_call"];
            let input: JsonObject = call["arguments"]
                .as_str()
                .and_then(|arguments| serde_json::from_str(arguments).ok())
                .unwrap_or_default();
            let tool = call["name"].as_str().unwrap_or("?");
            format!("{tool}({})", summary(tool, &input))
        }
        "tool_return_message" => text(message, "tool_return").to_owned(),
        _ => content_text(&message["content"]),
    };
    let kind = kind.strip_suffix("_message").unwrap_or(kind);
    format!("{kind}: {}", what.trim_end())
}

fn describe_agent(agent: &Value) -> String {
    [
        ("id", text(agent, "id")),
        ("name", text(agent, "name")),
        (
            "model",
            agent["llm_config"]["handle"].as_str().unwrap_or_default(),
        ),
        ("created", text(agent, "created_at")),
    ]
    .iter()
    .map(|(label, value)| format!("{label:8} {value}"))
    .collect::<Vec<_>>()
    .join("\n")
}

/// The most of an agent file read.
const MAX_AGENT_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn read_agent_file(path: &std::path::Path) -> Result<Value, CtlError> {
    let size = std::fs::metadata(path)
        .map_err(|err| CtlError::Usage(format!("{}: {err}", path.display())))?
        .len();
    if size > MAX_AGENT_FILE_BYTES {
        return Err(CtlError::Usage(format!(
            "{} is {size} bytes; an agent file may be at most {MAX_AGENT_FILE_BYTES}",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| CtlError::Usage(format!("{}: {err}", path.display())))?;
    let value: Value = serde_json::from_str(&text).map_err(|err| {
        CtlError::Usage(format!(
            "{} is not an agent file (JSON): {err}",
            path.display()
        ))
    })?;
    // A file saved from the server's export endpoint may hold the JSON as a
    // string.
    match value {
        Value::String(inner) => serde_json::from_str(&inner).map_err(|err| {
            CtlError::Usage(format!("{} is not an agent file: {err}", path.display()))
        }),
        value => Ok(value),
    }
}

fn failed(success: bool, error: Option<String>) -> Result<(), CtlError> {
    if success {
        return Ok(());
    }
    Err(CtlError::Failed(error.unwrap_or_else(|| {
        "the daemon reported a failure".to_owned()
    })))
}

fn print_list(
    context: &Context,
    items: &[Value],
    line: impl Fn(&Value) -> String,
) -> Result<u8, CtlError> {
    let mut stdout = std::io::stdout().lock();
    let written = if context.json {
        writeln!(stdout, "{}", Value::Array(items.to_vec()))
    } else {
        items
            .iter()
            .try_for_each(|item| writeln!(stdout, "{}", line(item)))
    };
    written.map_err(CtlError::io("writing the listing"))?;
    Ok(0)
}

fn print_object(
    context: &Context,
    item: &Value,
    describe: impl Fn(&Value) -> String,
) -> Result<u8, CtlError> {
    let mut stdout = std::io::stdout().lock();
    let text = if context.json {
        item.to_string()
    } else {
        describe(item)
    };
    writeln!(stdout, "{text}").map_err(CtlError::io("writing the answer"))?;
    Ok(0)
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn object(value: Value) -> Option<JsonObject> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}
