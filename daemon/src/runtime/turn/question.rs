//! `AskUserQuestion`: the agent asks the user questions with options. The
//! call goes through the approval journal as a request of its own kind —
//! durable, answered by any frontend, first answer wins, withdrawn on
//! abort — and the answers come back as the tool's result.

use letta_protocol::UserQuestion;
use serde_json::{Map, Value};

use crate::permissions::Verdict;
use crate::tools::ToolOutput;

/// The tool that asks the user; always answered by a human.
pub(super) const TOOL: &str = crate::tools::QUESTION_TOOL;

/// Questions at most, and options per question, as Letta Code bounds them.
const MAX_QUESTIONS: usize = 4;
const MIN_OPTIONS: usize = 2;
const MAX_OPTIONS: usize = 4;
/// Longest question, header, label or description, in characters.
const MAX_QUESTION_CHARS: usize = 1_000;

/// The call's questions, checked; or why they cannot be asked.
pub(super) fn questions_of(input: &Map<String, Value>) -> Result<Vec<UserQuestion>, String> {
    let questions: Vec<UserQuestion> = input
        .get("questions")
        .cloned()
        .ok_or_else(|| "AskUserQuestion needs questions".to_owned())
        .and_then(|value| {
            serde_json::from_value(value).map_err(|err| format!("AskUserQuestion: {err}"))
        })?;
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        return Err(format!("ask 1 to {MAX_QUESTIONS} questions at a time"));
    }
    for question in &questions {
        if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&question.options.len()) {
            return Err(format!(
                "each question has {MIN_OPTIONS} to {MAX_OPTIONS} options"
            ));
        }
        let texts = [&question.question, &question.header].into_iter().chain(
            question
                .options
                .iter()
                .flat_map(|o| [&o.label, &o.description]),
        );
        for text in texts {
            if text.trim().is_empty() || text.chars().count() > MAX_QUESTION_CHARS {
                return Err(format!(
                    "questions, headers, labels and descriptions are 1 to {MAX_QUESTION_CHARS} characters"
                ));
            }
        }
    }
    Ok(questions)
}

pub(super) fn verdict(input: &Map<String, Value>) -> Verdict {
    match questions_of(input) {
        Ok(_) => Verdict::Ask {
            reason: "the agent asks the user".to_owned(),
            blocked_path: None,
            suggestions: Vec::new(),
        },
        Err(reason) => Verdict::Deny { reason },
    }
}

/// The tool's result: the answers a human gave (in `updated_input`).
pub(super) fn answered(input: &Map<String, Value>) -> ToolOutput {
    let Some(answers) = input.get("answers").and_then(Value::as_object) else {
        return ToolOutput::error(
            "The user allowed the question without answering it; ask again or go on without \
             an answer.",
        );
    };
    let lines: Vec<String> = answers
        .iter()
        .map(|(question, answer)| match answer {
            Value::String(text) => format!("\"{question}\" = \"{text}\""),
            other => format!("\"{question}\" = {other}"),
        })
        .collect();
    ToolOutput::ok(format!("The user answered: {}", lines.join("; ")))
}
