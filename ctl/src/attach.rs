//! Commands about a running runtime: `attach`, `events`, `approve`,
//! `deny` and `abort`.

use std::io::{IsTerminal, Write};

use letta_client::{RuntimeEvents, Update};
use letta_protocol::{AbortMessageParams, ApprovalDecision, RuntimeStartParams, methods};

use crate::approval;
use crate::cli::{AnswerArgs, AttachArgs, EventsArgs, TargetArgs};
use crate::cursors::Cursor;
use crate::error::{CtlError, EXIT_AGENT_ERROR};
use crate::render::{Renderer, say};
use crate::target::{self, Context};
use crate::watch::{Approvals, Goal, Output, Watch};

pub async fn attach(context: &Context, args: AttachArgs) -> Result<u8, CtlError> {
    let (events, cursor) = open(context, &args.target, args.after).await?;
    let mut renderer = Renderer::new();
    let scope = events.scope().clone();
    let from = match events.last_event_seq() {
        Some(seq) => format!("replaying after event {seq}"),
        None => "showing the current state".to_owned(),
    };
    let header = format!(
        "attached to agent {} conversation {} ({from}); Ctrl-C detaches, the agent goes on",
        scope.agent_id.as_deref().unwrap_or("-"),
        scope.conversation_id
    );
    renderer.info(&renderer.style.dim(&header));
    let interactive = args.interactive || std::io::stdin().is_terminal();
    let watch = Watch {
        events,
        cursor,
        output: Output::Human(renderer),
        approvals: if interactive {
            Approvals::Ask
        } else {
            Approvals::Report
        },
        goal: if args.until_idle {
            Goal::Idle
        } else {
            Goal::Forever
        },
        ours_running: true,
        client_message_id: None,
    };
    tokio::select! {
        outcome = watch.run() => {
            let outcome = outcome?;
            let failed = outcome.stop_reason.as_deref().is_some_and(|reason| reason != "end_turn");
            Ok(if failed { EXIT_AGENT_ERROR } else { 0 })
        }
        _ = tokio::signal::ctrl_c() => Ok(0),
    }
}

pub async fn events(context: &Context, args: EventsArgs) -> Result<u8, CtlError> {
    let client = context.client().await?;
    let running = target::running_runtime(&client, &args.target).await?;
    drop(client);
    let (mut events, end) = match running {
        Some(summary) => {
            let after = Some(args.after.unwrap_or(0));
            let events = RuntimeEvents::sync(context.endpoint(), summary.runtime, after).await?;
            (events, summary.last_event_seq)
        }
        None => return Err(CtlError::Failed(target::no_runtime(&args.target))),
    };
    if !args.follow && args.after.unwrap_or(0) >= end {
        return Ok(0);
    }
    let mut stdout = std::io::stdout().lock();
    loop {
        let update = tokio::select! {
            update = events.next() => update?,
            _ = tokio::signal::ctrl_c() => return Ok(0),
        };
        let Update::Event(frame) = update else {
            continue;
        };
        let seq = frame["event_seq"].as_u64().unwrap_or_default();
        if !args.follow && seq > end {
            return Ok(0);
        }
        writeln!(stdout, "{frame}").map_err(CtlError::io("writing events"))?;
        stdout.flush().map_err(CtlError::io("writing events"))?;
        if !args.follow && seq >= end {
            return Ok(0);
        }
    }
}

pub async fn answer(context: &Context, args: AnswerArgs, allow: bool) -> Result<u8, CtlError> {
    let client = context.client().await?;
    let runtime = target::runtime_asking(&client, &args.request_id).await?;
    let decision = if allow {
        ApprovalDecision::Allow {
            message: args.message,
            updated_input: None,
            selected_permission_suggestion_ids: None,
        }
    } else {
        ApprovalDecision::Deny {
            message: args
                .message
                .unwrap_or_else(|| "The user denied this tool call.".to_owned()),
        }
    };
    client
        .call::<methods::Input>(&approval::answer(runtime, &args.request_id, decision))
        .await?;
    let verb = if allow { "allowed" } else { "denied" };
    say(&format!("{verb} {}", args.request_id));
    Ok(0)
}

pub async fn abort(context: &Context, target: TargetArgs) -> Result<u8, CtlError> {
    let client = context.client().await?;
    let runtime = target::require_running(&client, &target).await?;
    let result = client
        .call::<methods::AbortMessage>(&AbortMessageParams {
            runtime,
            run_id: None,
        })
        .await?;
    say(if result.aborted {
        "aborted; queued messages wait until the next one (or resume_queue)"
    } else {
        "nothing was running"
    });
    Ok(0)
}

/// Subscribes to the runtime the flags name, from where this user last
/// looked (or `--after`). A runtime the daemon does not run yet is started
/// when the flags name it fully enough.
async fn open(
    context: &Context,
    target: &TargetArgs,
    after: Option<u64>,
) -> Result<(RuntimeEvents, Cursor), CtlError> {
    let client = context.client().await?;
    let scope = match (
        target::running_runtime(&client, target).await?,
        &target.agent,
    ) {
        (Some(summary), _) => summary.runtime,
        (None, Some(agent)) => {
            // Not running yet: the daemon resumes the conversation from the server.
            let params = RuntimeStartParams {
                agent_id: Some(agent.clone()),
                conversation_id: target.conversation.clone(),
                ..RuntimeStartParams::default()
            };
            let started = client.call::<methods::RuntimeStart>(&params).await?;
            started.runtime.ok_or_else(|| {
                CtlError::Failed(started.error.unwrap_or_else(|| target::no_runtime(target)))
            })?
        }
        (None, None) => return Err(CtlError::Failed(target::no_runtime(target))),
    };
    drop(client);
    let cursor = Cursor::new(&context.data_dir, &scope);
    let after = after.or(cursor.last_seen());
    let events = RuntimeEvents::sync(context.endpoint(), scope, after)
        .await?
        .reconnect_for(std::time::Duration::from_secs(24 * 60 * 60));
    Ok((events, cursor))
}
