//! Humans deciding on tool calls: the policy a runtime applies, pending
//! approvals as frontends see them, and answers to them.
//!
//! A pending approval lives in the tool-call journal (state `requested`
//! with its request), so it survives disconnects and restarts and is
//! re-presented by `sync`. The first answer is committed and wins; later
//! ones get `not_pending`.

use std::path::{Path, PathBuf};

use letta_protocol::{
    ApprovalDecision, ApprovalResponse, ControlRequestBody, PendingControlRequest,
    TurnPermissionRules,
};
use serde_json::Value;

use super::{Runtime, RuntimeError};
use crate::permissions::paths::canonical_path;
use crate::permissions::rules::Rule;
use crate::permissions::settings::{FileStamp, RuleSet, SettingsFiles, Source};
use crate::permissions::{Call, Policy, Suggestion, SuggestionScope, Verdict};
use crate::store::{Decision, StoreError, ToolCallRow, ToolCallState};
use crate::tools::builtin;
use crate::util::lock;

/// The request id of the approval for a tool call.
pub fn approval_request_id(tool_call_id: &str) -> String {
    format!("perm-{tool_call_id}")
}

/// Rejects rules sent with an input that do not parse, naming the first.
pub fn check_rules(rules: &TurnPermissionRules) -> Result<(), RuntimeError> {
    for text in rules.allow.iter().chain(&rules.deny) {
        text.parse::<Rule>()
            .map_err(|err| RuntimeError::Invalid(format!("invalid permission rule: {err}")))?;
    }
    Ok(())
}

/// The rules of a working directory's settings files, as last read.
pub(super) struct SettingsRead {
    cwd: PathBuf,
    stamps: [Option<FileStamp>; 3],
    rules: RuleSet,
}

impl Runtime {
    /// The rules and mode that apply now: session rules, then the settings
    /// files of the working directory (read afresh).
    pub(crate) async fn policy(&self) -> Result<Policy, StoreError> {
        let mode = lock(&self.state).mode;
        let (cwd, mut rules) = self.settings().await;
        let version = self.store.runtimes_version();
        let session = self
            .copies
            .session_rules
            .get(version, self.store.session_rules(self.id))
            .await?;
        let mut allow: Vec<(Rule, Source)> = session
            .iter()
            .filter_map(|text| text.parse().ok())
            .map(|rule| (rule, Source::Session))
            .collect();
        allow.append(&mut rules.allow);
        rules.allow = allow;
        Ok(Policy { mode, cwd, rules })
    }

    /// The canonical working directory and the rules of its settings
    /// files. Every device status and tool call asks, so the files are
    /// only `stat`ed here (microseconds) and read on the blocking pool (a
    /// round trip of a hundred and more) when one of them changed.
    async fn settings(&self) -> (PathBuf, RuleSet) {
        let cwd = lock(&self.state).cwd.clone();
        let cwd = canonical_path(Path::new(&cwd));
        let files = SettingsFiles::for_cwd(&cwd);
        let stamps = files.stamps();
        if let Some(read) = &*lock(&self.settings_read)
            && read.cwd == cwd
            && read.stamps == stamps
        {
            return (cwd, read.rules.clone());
        }
        // Stamped before reading: a file changed in between is read again
        // next time. One changed just now is read every time until it
        // settles.
        let (stamps, rules) = crate::fs::blocking(move || (files.stamps(), files.load())).await;
        let settled = stamps.iter().flatten().all(FileStamp::settled);
        *lock(&self.settings_read) = settled.then(|| SettingsRead {
            cwd: cwd.clone(),
            stamps,
            rules: rules.clone(),
        });
        (cwd, rules)
    }

    /// The settings files of the working directory that cannot be used.
    pub(crate) async fn settings_errors(&self) -> Vec<letta_protocol::SettingsError> {
        let (_, rules) = self.settings().await;
        rules
            .broken
            .into_iter()
            .map(|broken| letta_protocol::SettingsError {
                file: broken.file.display().to_string(),
                message: broken.error,
            })
            .collect()
    }

    /// Approvals waiting for a human, as listed in device status.
    pub(crate) async fn pending_control_requests(
        &self,
    ) -> Result<Vec<PendingControlRequest>, StoreError> {
        let version = self.store.tool_calls_version();
        let read = async {
            let rows = self.store.pending_approvals(self.id).await?;
            Ok(rows
                .iter()
                .filter_map(|row| {
                    let request: ControlRequestBody =
                        serde_json::from_str(row.approval.as_deref()?).ok()?;
                    Some(PendingControlRequest {
                        request_id: approval_request_id(&row.tool_call_id),
                        request,
                    })
                })
                .collect())
        };
        self.copies.approvals.get(version, read).await
    }

    /// A frontend's answer to a `control_request`.
    pub async fn answer_approval(&self, response: ApprovalResponse) -> Result<(), RuntimeError> {
        let not_pending = || {
            RuntimeError::NotPending(format!(
                "approval request {} is not pending: it was answered already, or never asked",
                response.request_id
            ))
        };
        let tool_call_id = response
            .request_id
            .strip_prefix("perm-")
            .ok_or_else(not_pending)?;
        if let Some(answered) = self.answer_for_subagent(tool_call_id, &response).await {
            return answered;
        }
        let row = self
            .store
            .tool_call(tool_call_id)
            .await?
            .filter(|row| row.state == ToolCallState::Requested && row.approval.is_some())
            .ok_or_else(not_pending)?;
        let (allow, reason, updated_input, selected) = match (&response.decision, &response.error) {
            (
                Some(ApprovalDecision::Allow {
                    message,
                    updated_input,
                    selected_permission_suggestion_ids,
                }),
                None,
            ) => (
                true,
                message
                    .clone()
                    .unwrap_or_else(|| "approved by the user".to_owned()),
                updated_input
                    .as_ref()
                    .map(|input| Value::Object(input.clone()).to_string()),
                selected_permission_suggestion_ids
                    .clone()
                    .unwrap_or_default(),
            ),
            (Some(ApprovalDecision::Deny { message }), None) => {
                (false, message.clone(), None, Vec::new())
            }
            (None, Some(error)) => (
                false,
                format!("the frontend failed: {error}"),
                None,
                Vec::new(),
            ),
            _ => {
                return Err(RuntimeError::Invalid(
                    "approval_response needs exactly one of decision and error".into(),
                ));
            }
        };
        let decision = Decision {
            allow,
            reason: &reason,
            updated_input: updated_input.as_deref(),
        };
        let decided = self
            .store
            .decide_tool_call(self.id, tool_call_id, &decision)
            .await?;
        if !decided {
            return Err(not_pending());
        }
        if !selected.is_empty() {
            self.save_suggestions(&row, &selected).await?;
        }
        self.approvals.answered(tool_call_id, Value::Null);
        if !selected.is_empty() {
            self.recheck_pending().await?;
        }
        Ok(())
    }

    /// Saves the rules of the suggestions a human chose.
    async fn save_suggestions(
        &self,
        row: &ToolCallRow,
        selected: &[String],
    ) -> Result<(), RuntimeError> {
        let offered: Vec<Suggestion> = row
            .suggestions
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        for id in selected {
            let suggestion = offered
                .iter()
                .find(|suggestion| &suggestion.id == id)
                .ok_or_else(|| {
                    RuntimeError::Invalid(format!(
                        "{id} is not one of the suggestions offered with this request"
                    ))
                })?;
            let rules: Vec<Rule> = suggestion
                .rules
                .iter()
                .filter_map(|text| text.parse().ok())
                .collect();
            match suggestion.scope {
                SuggestionScope::Session => {
                    let texts: Vec<String> = rules.iter().map(Rule::to_string).collect();
                    self.store.add_session_rules(self.id, &texts).await?;
                }
                SuggestionScope::Project => {
                    let cwd = lock(&self.state).cwd.clone();
                    let saved = crate::fs::blocking(move || {
                        SettingsFiles::for_cwd(&canonical_path(Path::new(&cwd)))
                            .add_allow(Source::ProjectLocal, &rules)
                    })
                    .await
                    .map_err(RuntimeError::Internal)?;
                    tracing::info!(file = %saved.display(), "saved permission rules");
                }
            }
        }
        Ok(())
    }

    /// Decides pending approvals that the rules now allow (after a human
    /// saved one), and wakes the turns waiting on them.
    pub(crate) async fn recheck_pending(&self) -> Result<(), StoreError> {
        let pending = self.store.pending_approvals(self.id).await?;
        if pending.is_empty() {
            return Ok(());
        }
        let policy = self.policy().await?;
        let verdicts = crate::fs::blocking(move || {
            pending
                .into_iter()
                .filter_map(|row| {
                    let Ok(Value::Object(input)) = serde_json::from_str(&row.input) else {
                        return None;
                    };
                    let tool = builtin(&row.tool_name)?;
                    let verdict = policy.decide(Call {
                        tool: tool.name,
                        input: &input,
                        effect: tool.effect,
                    });
                    Some((row, verdict))
                })
                .collect::<Vec<_>>()
        })
        .await;
        for (row, verdict) in verdicts {
            if let Verdict::Allow { reason } = verdict {
                let decision = Decision {
                    allow: true,
                    reason: &reason,
                    updated_input: None,
                };
                if self
                    .store
                    .decide_tool_call(self.id, &row.tool_call_id, &decision)
                    .await?
                {
                    self.approvals.answered(&row.tool_call_id, Value::Null);
                }
            }
        }
        Ok(())
    }
}
