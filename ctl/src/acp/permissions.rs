//! The runtime's requests for a human, asked in the editor with
//! `session/request_permission`: a tool call to allow (once, or always as
//! the daemon's session rule) or reject, and the agent's questions, one
//! request per question with its options. A request another frontend
//! answers first is withdrawn: dropping the pending request asks the
//! editor to cancel it.

use std::sync::Arc;

use agent_client_protocol::v1::schema::{
    PermissionOption, PermissionOptionKind, RequestPermissionOutcome, RequestPermissionRequest,
    ToolCallUpdate,
};
use letta_client::ClientError;
use letta_protocol::errors::ErrorCode;
use letta_protocol::{
    ApprovalDecision, AskUserQuestionRequest, CanUseTool, ControlRequestBody, methods,
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::session::Session;
use super::updates::tool_call;

/// Asks the editor about `request` and answers the runtime with what the
/// editor chose; gives up quietly when withdrawn or dismissed.
pub async fn ask(
    session: Arc<Session>,
    request_id: String,
    request: ControlRequestBody,
    withdraw: CancellationToken,
) {
    let decision = match request {
        ControlRequestBody::CanUseTool(ask) => tool(&session, &ask, &withdraw).await,
        ControlRequestBody::AskUserQuestion(questions) => {
            questioned(&session, &questions, &withdraw).await
        }
    };
    let Some(decision) = decision else {
        return;
    };
    let answered = async {
        let client = session.context.client().await?;
        let params = crate::approval::answer(session.scope.clone(), &request_id, decision);
        match client.call::<methods::Input>(&params).await {
            Ok(_) => Ok(()),
            // Someone else answered meanwhile.
            Err(ClientError::Rpc(error)) if error.code == ErrorCode::NotPending.code() => Ok(()),
            Err(err) => Err(crate::error::CtlError::from(err)),
        }
    };
    if let Err(err) = answered.await {
        eprintln!("letta-ctl acp: cannot answer {request_id}: {err}");
    }
}

/// The option the editor chose, or `None` (dismissed, cancelled,
/// withdrawn, or the editor is gone).
async fn choose(
    session: &Session,
    call: Value,
    options: Vec<PermissionOption>,
    withdraw: &CancellationToken,
) -> Option<String> {
    let tool_call = serde_json::from_value::<ToolCallUpdate>(call).ok()?;
    let request = RequestPermissionRequest::new(session.id.clone(), tool_call, options);
    let answer = tokio::select! {
        answer = session.cx.send_request(request).block_task() => answer,
        () = withdraw.cancelled() => return None,
    };
    match answer.ok()?.outcome {
        RequestPermissionOutcome::Selected(selected) => Some(selected.option_id.0.to_string()),
        _ => None,
    }
}

async fn tool(
    session: &Session,
    ask: &CanUseTool,
    withdraw: &CancellationToken,
) -> Option<ApprovalDecision> {
    let call = tool_call(
        &ask.tool_call_id,
        &ask.tool_name,
        &Value::Object(ask.input.clone()),
    );
    let always = ask
        .permission_suggestions
        .iter()
        .find(|suggestion| suggestion.id == "session")
        .or_else(|| ask.permission_suggestions.first())
        .cloned();
    let mut options = vec![PermissionOption::new(
        "allow_once",
        "Allow once",
        PermissionOptionKind::AllowOnce,
    )];
    if let Some(suggestion) = &always {
        options.push(PermissionOption::new(
            "allow_always",
            suggestion.text.clone(),
            PermissionOptionKind::AllowAlways,
        ));
    }
    options.push(PermissionOption::new(
        "reject_once",
        "Reject",
        PermissionOptionKind::RejectOnce,
    ));
    let allow = |ids: Option<Vec<String>>| ApprovalDecision::Allow {
        message: None,
        updated_input: None,
        selected_permission_suggestion_ids: ids,
    };
    Some(
        match choose(session, call, options, withdraw).await?.as_str() {
            "allow_once" => allow(None),
            "allow_always" => allow(always.map(|suggestion| vec![suggestion.id])),
            _ => ApprovalDecision::Deny {
                message: format!("The user rejected this {} call.", ask.tool_name),
            },
        },
    )
}

/// One request per question, its options as choices (the first chosen
/// one, where several may be), plus declining to answer.
async fn questioned(
    session: &Session,
    request: &AskUserQuestionRequest,
    withdraw: &CancellationToken,
) -> Option<ApprovalDecision> {
    let mut answers = Map::new();
    for question in &request.questions {
        let call = json!({
            "toolCallId": request.tool_call_id,
            "title": format!("{}: {}", question.header, question.question),
            "kind": "other",
        });
        let mut options: Vec<PermissionOption> = question
            .options
            .iter()
            .enumerate()
            .map(|(index, option)| {
                PermissionOption::new(
                    format!("option-{index}"),
                    option.label.clone(),
                    PermissionOptionKind::AllowOnce,
                )
            })
            .collect();
        options.push(PermissionOption::new(
            "decline",
            "Do not answer",
            PermissionOptionKind::RejectOnce,
        ));
        let chosen = choose(session, call, options, withdraw).await?;
        let Some(option) = chosen
            .strip_prefix("option-")
            .and_then(|index| index.parse::<usize>().ok())
            .and_then(|index| question.options.get(index))
        else {
            return Some(ApprovalDecision::Deny {
                message: "The user chose not to answer.".to_owned(),
            });
        };
        answers.insert(
            question.question.clone(),
            Value::String(option.label.clone()),
        );
    }
    let mut updated_input = Map::new();
    updated_input.insert("answers".to_owned(), Value::Object(answers));
    Some(ApprovalDecision::Allow {
        message: None,
        updated_input: Some(updated_input),
        selected_permission_suggestion_ids: None,
    })
}
