//! A subagent's approvals on its parent's frontends: whoever watches the
//! parent sees the subagent's requests (under the subagent's agent and
//! conversation) among the parent's pending ones, and may answer them there.

use std::sync::Arc;

use letta_protocol::{
    ApprovalResponse, ControlRequestBody, ControlRequestEvent, PendingControlRequest, RuntimeScope,
    events,
};

use super::{Boxed, LISTED};
use crate::runtime::approvals::approval_request_id;
use crate::runtime::{Runtime, RuntimeError};

impl Runtime {
    /// The runtime that launched this one, if it is a subagent.
    pub(super) async fn parent_runtime(&self) -> Option<Arc<Runtime>> {
        let parent = self
            .store
            .subagent_parent_of(&self.scope.conversation_id)
            .await
            .ok()??;
        self.runtimes.upgrade()?.by_id(parent).await
    }

    /// The runtimes of this runtime's subagents still at work.
    async fn working_subagents(&self) -> Vec<Arc<Runtime>> {
        if !crate::util::lock(&self.state).has_subagents {
            return Vec::new();
        }
        let (Some(runtimes), Ok(rows)) = (
            self.runtimes.upgrade(),
            self.store.subagents_of(self.id, LISTED).await,
        ) else {
            return Vec::new();
        };
        let mut working = Vec::new();
        for row in rows.into_iter().filter(|row| row.status == "running") {
            let Some(conversation_id) = row.conversation_id else {
                continue;
            };
            let scope = RuntimeScope {
                agent_id: row.agent_id,
                conversation_id,
                acting_user_id: None,
            };
            if let Ok(child) = runtimes.get(&scope).await {
                working.push(child);
            }
        }
        working
    }

    /// Shows approval requests this subagent just made on its parent's
    /// frontends, with the parent's pending list.
    pub(crate) async fn show_requests_to_parent(&self, requests: &[ControlRequestBody]) {
        let Some(parent) = self.parent_runtime().await else {
            return;
        };
        let mut drafts: Vec<_> = requests
            .iter()
            .map(|request| {
                parent
                    .log
                    .draft::<events::ControlRequest>(|envelope| ControlRequestEvent {
                        envelope,
                        request_id: approval_request_id(request.tool_call_id()),
                        request: request.clone(),
                        agent_id: self.scope.agent_id.clone(),
                        conversation_id: Some(self.scope.conversation_id.clone()),
                    })
            })
            .collect();
        drafts.push(parent.device_status_draft().await);
        if let Err(err) = parent.log.emit_all(drafts, None).await {
            tracing::warn!(error = %err, "cannot show a subagent's approval to its parent");
        }
    }

    /// Tells the parent's frontends that this subagent's pending approvals
    /// changed (one was answered).
    pub(crate) async fn refresh_parent(&self) {
        if let Some(parent) = self.parent_runtime().await {
            let draft = parent.device_status_draft().await;
            if let Err(err) = parent.log.emit(draft).await {
                tracing::warn!(error = %err, "cannot refresh a subagent's parent");
            }
        }
    }

    /// The approvals this runtime's working subagents wait for.
    pub(crate) async fn subagents_pending(&self) -> Vec<PendingControlRequest> {
        let mut pending = Vec::new();
        for child in self.working_subagents().await {
            match child.pending_control_requests().await {
                Ok(requests) => pending.extend(requests),
                Err(err) => tracing::warn!(error = %err, "cannot list a subagent's approvals"),
            }
        }
        pending
    }

    /// Passes an answer to the subagent whose call it is about, if the call
    /// is one of this runtime's working subagents'. `None`: it is not.
    /// Boxed: answering is the same method, one level down.
    pub(crate) fn answer_for_subagent<'a>(
        &'a self,
        tool_call_id: &'a str,
        response: &'a ApprovalResponse,
    ) -> Boxed<'a, Option<Result<(), RuntimeError>>> {
        Box::pin(async move {
            let owner = self.store.tool_call_runtime(tool_call_id).await.ok()??;
            if owner == self.id {
                return None;
            }
            let child = self
                .working_subagents()
                .await
                .into_iter()
                .find(|child| child.id == owner)?;
            Some(child.answer_approval(response.clone()).await)
        })
    }
}
