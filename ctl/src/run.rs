//! `letta-ctl run`: one prompt, one turn, like `letta -p`.

use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

use letta_client::{RpcClient, RuntimeEvents};
use letta_protocol::{
    ClientToolset, CreateAgentOptions, CreateConversationOptions, CreateMessage,
    DaemonStatusParams, InputParams, InputPayload, ListModelsParams, MessageCreate, PermissionMode,
    RuntimeStartParams, TurnPermissionRules, methods,
};
use serde_json::{Value, json};

use crate::cli::{BackendArg, NewAgentArgs, OutputFormat, RunArgs};
use crate::cursors::Cursor;
use crate::daemon_cmd;
use crate::error::{CtlError, EXIT_AGENT_ERROR, EXIT_DENIED};
use crate::last_used;
use crate::render::{Renderer, Style, say};
use crate::target::Context;
use crate::watch::{Approvals, Goal, Outcome, Output, Watch};

pub async fn run(context: &Context, args: RunArgs) -> Result<u8, CtlError> {
    let (prompt, prompt_from_stdin) = read_prompt(args.prompt.as_deref())?;
    let message = create_message(&args, prompt)?;
    let client = reach_daemon(context, args.no_start).await?;
    let start = runtime_start_params(context, &client, &args).await?;
    drop(client);
    let client_message_id = message
        .messages
        .first()
        .and_then(|message| message.client_message_id.clone());
    let started = Instant::now();

    let (mut events, started_runtime) = RuntimeEvents::start(context.endpoint(), start).await?;
    let scope = events.scope().clone();
    last_used::set(&context.data_dir, &scope);
    let human = args.output_format == OutputFormat::Text;
    if human {
        let agent = if started_runtime.created.agent {
            " (new)"
        } else {
            ""
        };
        note(&format!(
            "agent {}{agent}, conversation {}",
            scope.agent_id.as_deref().unwrap_or("-"),
            scope.conversation_id
        ));
    }
    let interactive = !prompt_from_stdin && std::io::stdin().is_terminal();
    if !interactive && !args.detach {
        refuse_if_blocked(&mut events).await?;
    }
    let accepted = events
        .call::<methods::Input>(&InputParams {
            runtime: scope.clone(),
            terminal_consumer_id: None,
            payload: InputPayload::CreateMessage(message),
        })
        .await?;
    let turn_id = accepted.turn_id.ok_or_else(|| {
        CtlError::Failed("the daemon did not say which turn the prompt became".to_owned())
    })?;
    if args.detach {
        let sent = json!({
            "agent_id": scope.agent_id,
            "conversation_id": scope.conversation_id,
            "turn_id": turn_id,
            "disposition": accepted.disposition,
        });
        if human {
            note(&format!(
                "sent; follow it with: letta-ctl attach --agent {} --conversation {}",
                scope.agent_id.as_deref().unwrap_or("-"),
                scope.conversation_id
            ));
        } else {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{sent}");
        }
        return Ok(0);
    }
    let output = match args.output_format {
        OutputFormat::Text => Output::Human(Renderer::new()),
        OutputFormat::StreamJson => Output::JsonLines,
        OutputFormat::Json => Output::Quiet,
    };
    let watch = Watch {
        cursor: Cursor::new(&context.data_dir, &scope),
        events,
        output,
        approvals: if interactive {
            Approvals::Ask
        } else {
            Approvals::Deny
        },
        goal: Goal::TurnFinished(turn_id),
        ours_running: accepted.disposition == Some(letta_protocol::InputDisposition::Started),
        client_message_id,
    };
    let outcome = tokio::select! {
        outcome = watch.run() => outcome?,
        _ = tokio::signal::ctrl_c() => {
            note("interrupted; the turn goes on in the daemon. Come back with: letta-ctl attach");
            return Ok(130);
        }
    };
    let code = exit_code(&outcome);
    if args.output_format != OutputFormat::Text {
        let result = result_object(
            &outcome,
            code,
            started,
            &scope.conversation_id,
            &scope.agent_id,
        );
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{result}");
    }
    Ok(code)
}

/// The prompt from the argument, stdin, or both; and whether stdin gave it.
fn read_prompt(argument: Option<&str>) -> Result<(String, bool), CtlError> {
    let stdin = std::io::stdin();
    let from_stdin = argument.is_none_or(|prompt| prompt == "-");
    if from_stdin && stdin.is_terminal() {
        return Err(CtlError::Usage(
            "no prompt: give one as an argument or pipe it on stdin".to_owned(),
        ));
    }
    let mut piped = String::new();
    if !stdin.is_terminal() {
        stdin
            .lock()
            .read_to_string(&mut piped)
            .map_err(CtlError::io("reading the prompt from stdin"))?;
    }
    let prompt = match argument.filter(|prompt| *prompt != "-") {
        Some(prompt) if piped.trim().is_empty() => prompt.to_owned(),
        Some(prompt) => format!("{prompt}\n\n{piped}"),
        None => piped,
    };
    if prompt.trim().is_empty() {
        return Err(CtlError::Usage("the prompt is empty".to_owned()));
    }
    Ok((prompt, from_stdin))
}

/// A client of the running daemon; starts it in the background first
/// (saying so on stderr) unless `no_start`.
pub(crate) async fn reach_daemon(context: &Context, no_start: bool) -> Result<RpcClient, CtlError> {
    match context.client().await {
        Ok(client) => Ok(client),
        Err(CtlError::Unreachable(why)) if no_start => Err(CtlError::Unreachable(why)),
        Err(CtlError::Unreachable(_)) => {
            note("letta-daemon is not running: starting it in the background (--no-start to not)");
            let (status, log) = daemon_cmd::launch(context, None, 30).await?;
            note(&format!(
                "letta-daemon {} started (pid {}), log in {}",
                status.server.version,
                status.pid,
                log.display()
            ));
            context.client().await
        }
        Err(err) => Err(err),
    }
}

/// Which agent and conversation the run goes to: the ones named; else the
/// ones this user last used here; else a new agent on a model the server
/// offers.
async fn runtime_start_params(
    context: &Context,
    client: &RpcClient,
    args: &RunArgs,
) -> Result<RuntimeStartParams, CtlError> {
    let last = (args.agent.is_none() && !args.new_agent && args.conversation.is_none())
        .then(|| last_used::get(&context.data_dir))
        .flatten();
    let create_agent = if args.new_agent
        || (args.agent.is_none() && args.conversation.is_none() && last.is_none())
    {
        let mut options = args.agent_options.clone();
        let model = choose_model(client, &options).await?;
        if !args.new_agent {
            let on = model.as_deref().unwrap_or("the daemon's default model");
            note(&format!(
                "no agent used here before: creating one on {on} (choose with --model or LETTA_MODEL)"
            ));
        }
        options.model = model;
        Some(CreateAgentOptions {
            body: new_agent_body(&options),
            pin_global: None,
            backend: options.backend.map(BackendArg::protocol),
        })
    } else {
        None
    };
    let (agent_id, conversation_id) = match &last {
        Some(last) => (
            Some(last.agent_id.clone()),
            (!args.new).then(|| last.conversation_id.clone()),
        ),
        None => (args.agent.clone(), args.conversation.clone()),
    };
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(CtlError::io("reading the current directory"))?,
    };
    let cwd = std::fs::canonicalize(&cwd)
        .map_err(|err| CtlError::Usage(format!("--cwd {}: {err}", cwd.display())))?;
    let mode = args
        .permission_mode
        .as_deref()
        .map(parse_mode)
        .transpose()?;
    Ok(RuntimeStartParams {
        agent_id,
        create_agent,
        conversation_id,
        create_conversation: args.new.then(CreateConversationOptions::default),
        cwd: Some(cwd.display().to_string()),
        mode,
        client_info: Some(letta_protocol::ClientInfo {
            name: "letta-ctl".to_owned(),
            title: None,
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
        ..RuntimeStartParams::default()
    })
}

/// The model for a new agent: the one asked for, if the server offers it;
/// else the server's default.
pub async fn choose_model(
    client: &RpcClient,
    options: &NewAgentArgs,
) -> Result<Option<String>, CtlError> {
    let asked = options.model.as_deref();
    // A local agent without a model gets the daemon's default, which knows
    // each provider's sensible choice (a provider's list is not ordered).
    if asked.is_none() {
        let backend = match options.backend {
            Some(backend) => backend.protocol(),
            None => {
                client
                    .call::<methods::AppServerInfo>(&Default::default())
                    .await?
                    .backend
            }
        };
        if backend == letta_protocol::Backend::Local {
            return Ok(None);
        }
    }
    let listed = client
        .call::<methods::ListModels>(&ListModelsParams::default())
        .await;
    let entries = match (asked, listed) {
        (Some(model), Err(_)) => return Ok(Some(model.to_owned())),
        (None, Err(err)) => return Err(err.into()),
        (_, Ok(listed)) => listed.entries,
    };
    let offered = || {
        entries
            .iter()
            .map(|entry| entry.handle.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match asked {
        Some(model) if entries.iter().any(|entry| entry.handle == model) => {
            Ok(Some(model.to_owned()))
        }
        Some(model) => Err(CtlError::Usage(format!(
            "model {model:?} is not offered; the daemon's backends offer: {}",
            offered()
        ))),
        None => entries
            .iter()
            .find(|entry| entry.is_default == Some(true))
            .or(entries.first())
            .map(|entry| Some(entry.handle.clone()))
            .ok_or_else(|| CtlError::Failed("the Letta server offers no model".to_owned())),
    }
}

/// The Letta create-agent body for `--new-agent` and `agents create`.
pub fn new_agent_body(options: &NewAgentArgs) -> letta_protocol::JsonObject {
    let name = options.name.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or_default();
        format!("letta-ctl-{secs}")
    });
    let mut body = letta_protocol::JsonObject::new();
    body.insert("name".to_owned(), Value::from(name));
    for (field, value) in [("model", &options.model), ("embedding", &options.embedding)] {
        if let Some(value) = value {
            body.insert(field.to_owned(), Value::from(value.clone()));
        }
    }
    body
}

fn parse_mode(text: &str) -> Result<PermissionMode, CtlError> {
    serde_json::from_value(Value::from(text)).map_err(|_| {
        CtlError::Usage(format!(
            "unknown permission mode {text:?}: use standard, acceptEdits, unrestricted \
             (bypassPermissions) or strict"
        ))
    })
}

fn create_message(args: &RunArgs, prompt: String) -> Result<CreateMessage, CtlError> {
    let allow = split_rules(&args.allowed_tools);
    let deny = split_rules(&args.disallowed_tools);
    let (client_toolset, client_tool_allowlist) = match args.tools.as_deref().map(str::trim) {
        None => (None, None),
        Some("") => (Some(toolset("none", None)), None),
        Some(name @ ("auto" | "default" | "codex" | "letta" | "none")) => {
            (Some(toolset(name, None)), None)
        }
        // Exactly these: the built-in ones from no toolset, and only them
        // (a frontend's tools of the same names included).
        Some(list) => {
            let tools = split_rules(&[list.to_owned()]);
            (Some(toolset("none", Some(tools.clone()))), Some(tools))
        }
    };
    Ok(CreateMessage {
        messages: vec![MessageCreate {
            role: "user".to_owned(),
            content: Value::from(prompt),
            client_message_id: Some(format!("cm-ctl-{:016x}", fastrand::u64(..))),
            extra: Default::default(),
        }],
        client_tool_allowlist,
        client_toolset,
        permission_rules: (!allow.is_empty() || !deny.is_empty())
            .then_some(TurnPermissionRules { allow, deny }),
        ..CreateMessage::default()
    })
}

fn toolset(base: &str, include: Option<Vec<String>>) -> ClientToolset {
    ClientToolset {
        base: Some(base.to_owned()),
        include,
    }
}

/// Splits `Bash(git diff:*),Edit Read` into rules: on commas and spaces
/// outside parentheses.
pub fn split_rules(values: &[String]) -> Vec<String> {
    let mut rules = Vec::new();
    for value in values {
        let mut depth = 0usize;
        let mut current = String::new();
        for ch in value.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth == 0 && (ch == ',' || ch.is_whitespace()) {
                if !current.is_empty() {
                    rules.push(std::mem::take(&mut current));
                }
            } else {
                current.push(ch);
            }
        }
        if !current.is_empty() {
            rules.push(current);
        }
    }
    rules
}

/// A non-interactive run cannot get past an approval an earlier turn left
/// waiting: say so instead of hanging.
async fn refuse_if_blocked(events: &mut RuntimeEvents) -> Result<(), CtlError> {
    let status = events
        .call::<methods::DaemonStatus>(&DaemonStatusParams {})
        .await?;
    let scope = events.scope();
    let blocked: Vec<String> = status
        .runtimes
        .iter()
        .filter(|summary| summary.runtime.same_runtime(scope))
        .flat_map(|summary| {
            summary
                .pending_approvals
                .iter()
                .map(|p| p.request_id.clone())
        })
        .collect();
    if blocked.is_empty() {
        return Ok(());
    }
    Err(CtlError::Denied(format!(
        "conversation {} is waiting on approval {} from an earlier turn; answer it with \
         letta-ctl attach, or letta-ctl approve|deny REQUEST_ID",
        scope.conversation_id,
        blocked.join(", ")
    )))
}

fn exit_code(outcome: &Outcome) -> u8 {
    let ended_well = outcome.stop_reason.as_deref() == Some("end_turn") && outcome.error.is_none();
    match (ended_well, outcome.denials.is_empty()) {
        (false, _) => EXIT_AGENT_ERROR,
        (true, false) => EXIT_DENIED,
        (true, true) => 0,
    }
}

fn result_object(
    outcome: &Outcome,
    code: u8,
    started: Instant,
    conversation_id: &str,
    agent_id: &Option<String>,
) -> Value {
    let subtype = match code {
        0 => "success",
        EXIT_DENIED => "error_approval_denied",
        _ => "error_during_execution",
    };
    json!({
        "type": "result",
        "subtype": subtype,
        "is_error": code != 0,
        "duration_ms": started.elapsed().as_millis() as u64,
        "duration_api_ms": outcome.api_time.as_millis() as u64,
        "num_turns": outcome.run_ids.len(),
        "result": outcome.result,
        "session_id": conversation_id,
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "stop_reason": outcome.stop_reason,
        "error": outcome.error,
        "usage": outcome.usage,
        "permission_denials": outcome.denials,
    })
}

fn note(text: &str) {
    say(&Style::for_stderr().dim(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_split_outside_parentheses() {
        let rules = split_rules(&[
            "Bash(npm test:*),Edit Read".to_owned(),
            "Bash(git diff)".to_owned(),
        ]);
        assert_eq!(
            rules,
            ["Bash(npm test:*)", "Edit", "Read", "Bash(git diff)"]
        );
        assert!(split_rules(&[" , ".to_owned()]).is_empty());
    }

    #[test]
    fn permission_modes_take_their_aliases() {
        assert_eq!(
            parse_mode("bypassPermissions").unwrap(),
            PermissionMode::Unrestricted
        );
        assert_eq!(
            parse_mode("acceptEdits").unwrap(),
            PermissionMode::AcceptEdits
        );
        assert!(matches!(parse_mode("yolo"), Err(CtlError::Usage(_))));
    }
}
