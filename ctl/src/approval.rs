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
        terminal_consumer_id: None,
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

/// Asks each question on stderr; an answer is option numbers (several,
/// comma-separated, where more than one may be chosen) or the user's own
/// words.
pub async fn ask_questions(
    request: &letta_protocol::AskUserQuestionRequest,
) -> Result<Answer, CtlError> {
    let mut answers = serde_json::Map::new();
    for question in &request.questions {
        let Some(line) = prompt(&format!("  {} > ", question.header)).await? else {
            return Ok(Answer::NoAnswer);
        };
        answers.insert(
            question.question.clone(),
            serde_json::Value::String(chosen(question, line.trim())),
        );
    }
    let mut updated_input = serde_json::Map::new();
    updated_input.insert("answers".to_owned(), serde_json::Value::Object(answers));
    Ok(Answer::Decision(ApprovalDecision::Allow {
        message: None,
        updated_input: Some(updated_input),
        selected_permission_suggestion_ids: None,
    }))
}

/// The labels `line` picks by number, or `line` itself.
fn chosen(question: &letta_protocol::UserQuestion, line: &str) -> String {
    let picks: Option<Vec<&str>> = line
        .split(',')
        .map(|part| {
            let number: usize = part.trim().parse().ok()?;
            question
                .options
                .get(number.checked_sub(1)?)
                .map(|option| option.label.as_str())
        })
        .collect();
    match picks {
        Some(labels) if labels.len() == 1 || (question.multi_select && !labels.is_empty()) => {
            labels.join(", ")
        }
        _ => line.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::chosen;
    use letta_protocol::{UserQuestion, UserQuestionOption};

    fn question(multi_select: bool) -> UserQuestion {
        let option = |label: &str| UserQuestionOption {
            label: label.into(),
            description: String::new(),
        };
        UserQuestion {
            question: "Which?".into(),
            header: "Pick".into(),
            options: vec![option("Red"), option("Blue"), option("Green")],
            multi_select,
        }
    }

    #[test]
    fn numbers_pick_labels_and_anything_else_is_the_users_words() {
        assert_eq!(chosen(&question(false), "2"), "Blue");
        assert_eq!(chosen(&question(false), "1,3"), "1,3", "one choice only");
        assert_eq!(chosen(&question(true), "1, 3"), "Red, Green");
        assert_eq!(chosen(&question(true), "4"), "4", "no such option");
        assert_eq!(chosen(&question(false), "purple"), "purple");
    }
}
