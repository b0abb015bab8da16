//! The conversation's plan: applied by the plan tools, stored with their
//! results, and shown to frontends as `update_plan`.

use letta_protocol::events;

use super::Runtime;
use super::event_log::Draft;
use crate::store::{ResultStatus, StoreError};
use crate::tools::ToolOutput;
use crate::tools::plan::{self, Plan};

impl Runtime {
    /// The stored plan (empty if none, or if what is stored cannot be read).
    pub(crate) async fn plan(&self) -> Result<Plan, StoreError> {
        let stored = self.store.plan(self.id).await?;
        Ok(stored
            .and_then(|text| {
                serde_json::from_str(&text)
                    .inspect_err(
                        |err| tracing::warn!(error = %err, "the stored plan is unreadable"),
                    )
                    .ok()
            })
            .unwrap_or_default())
    }

    /// Runs plan tool `name` for call `tool_call_id` (already allowed):
    /// the plan change and the result are stored together; frontends get
    /// the new plan if it changed.
    pub(crate) async fn run_plan_call(
        &self,
        tool_call_id: &str,
        name: &str,
        input: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ToolOutput, StoreError> {
        let mut plan = self.plan().await?;
        let before = plan.clone();
        let output = match plan::apply(&mut plan, name, input, &crate::util::now_rfc3339()) {
            Ok(text) => ToolOutput::ok(text),
            Err(error) => ToolOutput::error(format!("{name}: {error}")),
        };
        let changed = plan != before;
        // Plain strings and lists: serializing cannot fail.
        let text = changed.then(|| serde_json::to_string(&plan).unwrap_or_default());
        let status = if output.is_error {
            ResultStatus::Error
        } else {
            ResultStatus::Success
        };
        self.store
            .store_plan_call(self.id, tool_call_id, text.as_deref(), &output.text, status)
            .await?;
        if changed {
            self.log.emit(self.plan_draft(plan.shown)).await?;
        }
        Ok(output)
    }

    /// The plan for the snapshots `runtime_start` and `sync` replay; none
    /// while the plan is empty.
    pub(crate) async fn plan_snapshot(&self) -> Option<Draft> {
        match self.plan().await {
            Ok(plan) if !plan.shown.is_empty() => Some(self.plan_draft(plan.shown)),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the plan");
                None
            }
        }
    }

    fn plan_draft(&self, plan: letta_protocol::Plan) -> Draft {
        self.log
            .draft::<events::UpdatePlan>(|envelope| letta_protocol::PlanEvent { envelope, plan })
    }
}
