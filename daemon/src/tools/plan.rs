//! The conversation's plan: the task list of `TaskCreate`/`TaskGet`/
//! `TaskList`/`TaskUpdate` (the default toolset) and the step list of
//! `UpdatePlan` (codex). Pure: the runtime loads the plan, applies a call
//! here, and stores the plan and the call's result in one transaction, so
//! a call changes the plan exactly once even across a crash.

use std::collections::BTreeMap;

use letta_protocol::{PlanStatus as TaskStatus, PlanStep as Step, PlanTask as Task};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::arguments;

/// At most this many tasks (and plan steps) are kept.
pub const MAX_TASKS: usize = 200;
/// Longest subject, step or owner, in characters.
const MAX_SHORT: usize = 500;
/// Longest description or explanation, in characters.
const MAX_LONG: usize = 10_000;
/// Most metadata entries per task.
const MAX_METADATA: usize = 32;

/// The plan tools.
pub const PLAN_TOOLS: &[&str] = &[
    "TaskCreate",
    "TaskGet",
    "TaskList",
    "TaskUpdate",
    "UpdatePlan",
];

/// The plan as stored: what frontends see, and the next task number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    #[serde(flatten)]
    pub shown: letta_protocol::Plan,
    /// The next task is `task_<next_task>`; ids are never reused.
    #[serde(default = "first_task")]
    pub next_task: u64,
}

fn first_task() -> u64 {
    1
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            shown: letta_protocol::Plan::default(),
            next_task: first_task(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateArgs {
    subject: String,
    description: String,
    active_form: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GetArgs {
    task_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateArgs {
    task_id: String,
    status: Option<TaskStatus>,
    subject: Option<String>,
    description: Option<String>,
    active_form: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    add_blocks: Vec<String>,
    #[serde(default)]
    add_blocked_by: Vec<String>,
    /// A `null` value removes the key.
    #[serde(default)]
    metadata: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePlanArgs {
    explanation: Option<String>,
    plan: Vec<Step>,
}

/// Applies plan tool `name` to `plan`; returns the text for the agent, or
/// an error the agent can act on (the plan is then unchanged).
pub fn apply(
    plan: &mut Plan,
    name: &str,
    input: &Map<String, Value>,
    now: &str,
) -> Result<String, String> {
    let mut changed = plan.clone();
    let answer = match name {
        "TaskCreate" => create(&mut changed, arguments(name, input)?, now)?,
        "TaskGet" => {
            let args: GetArgs = arguments(name, input)?;
            let task = find(&changed, &args.task_id)?;
            json!(task)
        }
        "TaskList" => {
            if !input.is_empty() {
                return Err("TaskList takes no arguments".to_owned());
            }
            json!({ "tasks": changed.shown.tasks })
        }
        "TaskUpdate" => update(&mut changed, arguments(name, input)?, now)?,
        "UpdatePlan" => {
            let args: UpdatePlanArgs = arguments(name, input)?;
            bounded("explanation", args.explanation.as_deref(), MAX_LONG)?;
            if args.plan.len() > MAX_TASKS {
                return Err(format!("a plan has at most {MAX_TASKS} steps"));
            }
            for step in &args.plan {
                bounded("step", Some(&step.step), MAX_SHORT)?;
                if step.status == TaskStatus::Deleted {
                    return Err("a step is pending, in_progress or completed".to_owned());
                }
            }
            if args
                .plan
                .iter()
                .filter(|step| step.status == TaskStatus::InProgress)
                .count()
                > 1
            {
                return Err("at most one step is in_progress at a time".to_owned());
            }
            changed.shown.steps = args.plan;
            changed.shown.explanation = args.explanation;
            json!({ "message": "Plan updated" })
        }
        other => return Err(format!("{other} is not a plan tool")),
    };
    *plan = changed;
    Ok(answer.to_string())
}

fn create(plan: &mut Plan, args: CreateArgs, now: &str) -> Result<Value, String> {
    non_empty("subject", &args.subject)?;
    non_empty("description", &args.description)?;
    bounded("subject", Some(&args.subject), MAX_SHORT)?;
    bounded("description", Some(&args.description), MAX_LONG)?;
    bounded("activeForm", args.active_form.as_deref(), MAX_SHORT)?;
    metadata_bounded(args.metadata.len())?;
    if plan.shown.tasks.len() >= MAX_TASKS {
        return Err(format!(
            "the plan already has {MAX_TASKS} tasks; complete and delete some first"
        ));
    }
    let task = Task {
        task_id: format!("task_{}", plan.next_task),
        subject: args.subject,
        description: args.description,
        active_form: args.active_form,
        status: TaskStatus::Pending,
        owner: None,
        blocks: Vec::new(),
        blocked_by: Vec::new(),
        metadata: args.metadata,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    };
    plan.next_task += 1;
    plan.shown.tasks.push(task.clone());
    Ok(json!(task))
}

fn update(plan: &mut Plan, args: UpdateArgs, now: &str) -> Result<Value, String> {
    bounded("subject", args.subject.as_deref(), MAX_SHORT)?;
    bounded("description", args.description.as_deref(), MAX_LONG)?;
    bounded("activeForm", args.active_form.as_deref(), MAX_SHORT)?;
    bounded("owner", args.owner.as_deref(), MAX_SHORT)?;
    let index = plan
        .shown
        .tasks
        .iter()
        .position(|task| task.task_id == args.task_id)
        .ok_or_else(|| not_found(&args.task_id))?;
    let task = &mut plan.shown.tasks[index];
    if let Some(status) = args.status {
        task.status = status;
    }
    if let Some(subject) = args.subject {
        non_empty("subject", &subject)?;
        task.subject = subject;
    }
    if let Some(description) = args.description {
        task.description = description;
    }
    if args.active_form.is_some() {
        task.active_form = args.active_form;
    }
    if args.owner.is_some() {
        task.owner = args.owner;
    }
    for (list, added) in [
        (&mut task.blocks, args.add_blocks),
        (&mut task.blocked_by, args.add_blocked_by),
    ] {
        for id in added {
            if !list.contains(&id) {
                list.push(id);
            }
        }
        if list.len() > MAX_TASKS {
            return Err(format!("a task links to at most {MAX_TASKS} others"));
        }
    }
    for (key, value) in args.metadata {
        match value {
            Value::Null => {
                task.metadata.remove(&key);
            }
            Value::String(text) => {
                task.metadata.insert(key, text);
            }
            other => {
                return Err(format!(
                    "metadata['{key}'] must be a string or null, not {other}"
                ));
            }
        }
    }
    metadata_bounded(task.metadata.len())?;
    task.updated_at = now.to_owned();
    let updated = task.clone();
    if updated.status == TaskStatus::Deleted {
        plan.shown.tasks.remove(index);
    }
    Ok(json!(updated))
}

fn find<'a>(plan: &'a Plan, task_id: &str) -> Result<&'a Task, String> {
    plan.shown
        .tasks
        .iter()
        .find(|task| task.task_id == task_id)
        .ok_or_else(|| not_found(task_id))
}

fn not_found(task_id: &str) -> String {
    format!("no task {task_id:?}; TaskList shows the tasks there are")
}

fn non_empty(name: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("'{name}' must not be empty"));
    }
    Ok(())
}

fn bounded(name: &str, value: Option<&str>, max: usize) -> Result<(), String> {
    match value {
        Some(text) if text.chars().count() > max => {
            Err(format!("'{name}' is longer than {max} characters"))
        }
        _ => Ok(()),
    }
}

fn metadata_bounded(len: usize) -> Result<(), String> {
    if len > MAX_METADATA {
        return Err(format!(
            "a task has at most {MAX_METADATA} metadata entries"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(plan: &mut Plan, name: &str, input: Value) -> Result<Value, String> {
        let Value::Object(input) = input else {
            unreachable!()
        };
        apply(plan, name, &input, "t").map(|text| serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn tasks_are_created_updated_and_deleted() {
        let mut plan = Plan::default();
        let first = call(
            &mut plan,
            "TaskCreate",
            json!({"subject": "Run tests", "description": "cargo test"}),
        )
        .unwrap();
        assert_eq!(first["taskId"], "task_1");
        assert_eq!(first["status"], "pending");
        call(
            &mut plan,
            "TaskCreate",
            json!({"subject": "Fix", "description": "the bug", "metadata": {"area": "auth"}}),
        )
        .unwrap();
        let updated = call(
            &mut plan,
            "TaskUpdate",
            json!({"taskId": "task_2", "status": "in_progress", "addBlockedBy": ["task_1", "task_1"], "metadata": {"area": null, "size": "s"}}),
        )
        .unwrap();
        assert_eq!(updated["blockedBy"], json!(["task_1"]));
        assert_eq!(updated["metadata"], json!({"size": "s"}));
        call(
            &mut plan,
            "TaskUpdate",
            json!({"taskId": "task_1", "status": "deleted"}),
        )
        .unwrap();
        let listed = call(&mut plan, "TaskList", json!({})).unwrap();
        assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);
        // Ids are never reused.
        let third = call(
            &mut plan,
            "TaskCreate",
            json!({"subject": "c", "description": "d"}),
        )
        .unwrap();
        assert_eq!(third["taskId"], "task_3");
    }

    #[test]
    fn bad_calls_say_why_and_change_nothing() {
        let mut plan = Plan::default();
        call(
            &mut plan,
            "TaskCreate",
            json!({"subject": "a", "description": "b"}),
        )
        .unwrap();
        let before = plan.clone();
        for (name, input) in [
            ("TaskCreate", json!({"subject": "", "description": "b"})),
            ("TaskCreate", json!({"subject": "a"})),
            (
                "TaskCreate",
                json!({"subject": "a", "description": "b", "metadata": {"n": 1}}),
            ),
            ("TaskGet", json!({"taskId": "task_9"})),
            ("TaskUpdate", json!({"taskId": "task_1", "status": "done"})),
            (
                "TaskUpdate",
                json!({"taskId": "task_1", "metadata": {"n": 2}}),
            ),
            (
                "TaskUpdate",
                json!({"taskId": "task_1", "subject": "x".repeat(501)}),
            ),
            (
                "UpdatePlan",
                json!({"plan": [{"step": "a", "status": "in_progress"}, {"step": "b", "status": "in_progress"}]}),
            ),
            ("TaskList", json!({"extra": 1})),
        ] {
            let error = call(&mut plan, name, input.clone()).unwrap_err();
            assert!(!error.is_empty(), "{name} {input}");
            assert_eq!(plan, before, "{name} {input} changed the plan");
        }
    }

    #[test]
    fn the_plan_is_bounded() {
        let mut plan = Plan::default();
        for _ in 0..MAX_TASKS {
            call(
                &mut plan,
                "TaskCreate",
                json!({"subject": "a", "description": "b"}),
            )
            .unwrap();
        }
        let full = call(
            &mut plan,
            "TaskCreate",
            json!({"subject": "a", "description": "b"}),
        );
        assert!(full.unwrap_err().contains("already has"));
    }

    #[test]
    fn update_plan_replaces_the_steps() {
        let mut plan = Plan::default();
        call(&mut plan, "UpdatePlan", json!({"explanation": "why", "plan": [{"step": "read", "status": "completed"}, {"step": "write", "status": "in_progress"}]})).unwrap();
        call(
            &mut plan,
            "UpdatePlan",
            json!({"plan": [{"step": "test", "status": "pending"}]}),
        )
        .unwrap();
        assert_eq!(
            plan.shown.steps,
            [Step {
                step: "test".into(),
                status: TaskStatus::Pending
            }]
        );
        assert_eq!(plan.shown.explanation, None);
    }
}
