//! `SendAgentMessage`: a message to another conversation, without waiting
//! for its answer — most often to one of this agent's subagents, to steer
//! it while it works or give it more to do after it reported, or from a
//! subagent to its parent.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Boxed, Refused, follow, refused};
use crate::runtime::Runtime;
use crate::tools::ToolOutput;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    message: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    computer: Option<String>,
}

impl Runtime {
    pub(crate) async fn run_send_agent_message(
        &self,
        tool_call_id: &str,
        input: &Map<String, Value>,
    ) -> ToolOutput {
        let args: SendArgs = match crate::tools::arguments("SendAgentMessage", input) {
            Ok(args) => args,
            Err(err) => return ToolOutput::error(err),
        };
        match self.send_agent_message(tool_call_id, args).await {
            Ok(sent) => ToolOutput::ok(sent),
            Err(Refused(reason)) => ToolOutput::error(format!("SendAgentMessage: {reason}")),
        }
    }

    /// Boxed: a send opens a runtime, whose turns may send again.
    fn send_agent_message<'a>(
        &'a self,
        tool_call_id: &'a str,
        args: SendArgs,
    ) -> Boxed<'a, Result<String, Refused>> {
        Box::pin(self.send_now(tool_call_id, args))
    }

    async fn send_now(&self, tool_call_id: &str, args: SendArgs) -> Result<String, Refused> {
        if let Some(computer) = &args.computer {
            return Err(Refused(format!(
                "messages go to conversations of this daemon; `computer` ({computer}) is not \
                 supported here"
            )));
        }
        if args.message.trim().is_empty() {
            return Err(Refused("the message is empty".to_owned()));
        }
        let runtimes = self
            .runtimes
            .upgrade()
            .ok_or_else(|| Refused("the daemon is stopping".to_owned()))?;
        let backends = runtimes.backends();
        let (agent_id, conversation_id) = match (args.agent_id, args.conversation_id) {
            (agent_id, Some(conversation_id)) => (agent_id, conversation_id),
            (Some(agent_id), None) => {
                let backend = backends.for_agent(&agent_id).await.map_err(refused)?;
                let created = backend
                    .create_conversation(&agent_id, &json!({}))
                    .await
                    .map_err(refused)?;
                let conversation_id = crate::util::id_of(&created)
                    .ok_or_else(|| Refused("the new conversation has no id".to_owned()))?;
                (Some(agent_id), conversation_id)
            }
            (None, None) => match self.parent_scope().await {
                Some(parent) => (parent.agent_id, parent.conversation_id),
                None => {
                    return Err(Refused(
                        "name the conversation (conversation_id) or the agent (agent_id) to \
                         send to"
                            .to_owned(),
                    ));
                }
            },
        };
        let agent_id = match agent_id {
            Some(agent_id) => agent_id,
            None => backends
                .for_conversation(&conversation_id, None)
                .await
                .map_err(refused)?
                .retrieve_conversation(&conversation_id)
                .await
                .map_err(refused)?
                .get("agent_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Refused(format!("conversation {conversation_id} names no agent")))?,
        };
        let target = runtimes
            .open_with(Some(&agent_id), &conversation_id, None, None)
            .await
            .map_err(refused)?;
        let from_conversation = &self.scope.conversation_id;
        let text = format!(
            "<system-reminder>\nA message from agent {} (conversation {from_conversation}). Your \
             answer is not passed back by itself: to reply, use SendAgentMessage with \
             conversation_id {from_conversation}.\n</system-reminder>\n\n{}",
            self.scope.agent_id.as_deref().unwrap_or("(none)"),
            args.message
        );
        let input_id = format!("sent-{}", tool_call_id.trim_start_matches("call_"));
        // A subagent of ours that already reported is followed again: its
        // answer comes back as a report like the first.
        let resumed = self
            .store
            .resume_subagent(self.id, &conversation_id, &input_id)
            .await
            .map_err(refused)?;
        let accepted = target
            .accept_daemon_message(text, input_id)
            .await
            .map_err(refused)?;
        if let Some(id) = resumed {
            tokio::spawn(follow(runtimes.clone(), id));
            self.announce_subagents().await;
        }
        let how = match accepted.disposition {
            Some(letta_protocol::InputDisposition::Queued) => {
                "it is queued behind the turn running there"
            }
            _ => "it started a turn there",
        };
        Ok(format!(
            "Sent to conversation {conversation_id} (agent {agent_id}); {how}. Go on with your \
             work: an answer comes only if the recipient sends one{}.",
            if self
                .store
                .is_subagent_of(self.id, &conversation_id)
                .await
                .unwrap_or(false)
            {
                ", or with the subagent's report"
            } else {
                ""
            }
        ))
    }

    async fn parent_scope(&self) -> Option<letta_protocol::RuntimeScope> {
        self.parent_runtime()
            .await
            .map(|parent| parent.scope.clone())
    }
}
