//! Asking the human at the terminal about a tool call.

use std::io::Write;

use letta_protocol::{
    ApprovalDecision, ApprovalResponse, CanUseTool, InputParams, InputPayload, RuntimeScope,
};

use crate::error::CtlError;

pub enum Answer {
    Decision(ApprovalDecision),
    /// Stdin ended: nobody is there to answer.
    NoAnswer,
}

/// The `input` that answers approval `request_id` of `runtime`.
pub fn answer(runtime: RuntimeScope, request_id: &str, decision: ApprovalDecision) -> InputParams {
    InputParams {
        runtime,
        payload: InputPayload::ApprovalResponse(ApprovalResponse {
            request_id: request_id.to_owned(),
            decision: Some(decision),
            error: None,
        }),
    }
}

/// Asks on stderr and reads the answer from stdin.
pub async fn ask(request: &CanUseTool) -> Result<Answer, CtlError> {
    let session = request
        .permission_suggestions
        .iter()
        .find(|suggestion| suggestion.id == "session")
        .or_else(|| request.permission_suggestions.first())
        .cloned();
    let always = match &session {
        Some(suggestion) => format!("  [a] {}\n", suggestion.text),
        None => String::new(),
    };
    loop {
        let Some(choice) = prompt(&format!("  [y] allow once\n{always}  [n] deny\n> ")).await?
        else {
            return Ok(Answer::NoAnswer);
        };
        let decision = match choice.trim() {
            "y" | "yes" => ApprovalDecision::Allow {
                message: None,
                updated_input: None,
                selected_permission_suggestion_ids: None,
            },
            "a" | "always" if session.is_some() => ApprovalDecision::Allow {
                message: None,
                updated_input: None,
                selected_permission_suggestion_ids: session.as_ref().map(|s| vec![s.id.clone()]),
            },
            "n" | "no" => {
                let reason = prompt("  reason for the agent (optional): ")
                    .await?
                    .unwrap_or_default();
                let reason = reason.trim();
                ApprovalDecision::Deny {
                    message: if reason.is_empty() {
                        format!("The user denied this {} call.", request.tool_name)
                    } else {
                        reason.to_owned()
                    },
                }
            }
            _ => continue,
        };
        return Ok(Answer::Decision(decision));
    }
}

/// Prints `text` and reads one line; `None` at the end of stdin.
async fn prompt(text: &str) -> Result<Option<String>, CtlError> {
    {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{text}");
        let _ = stderr.flush();
    }
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line)),
            Err(err) => Err(err),
        }
    })
    .await
    .map_err(|err| CtlError::Failed(format!("reading the answer: {err}")))?
    .map_err(CtlError::io("reading the answer from stdin"))
}
