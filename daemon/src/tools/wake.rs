//! `Wake`'s arguments: schedule a later turn of this conversation, list the
//! scheduled ones, or cancel one. Checked here; the runtime stores and
//! fires them.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::arguments;

/// Scheduled wakes a conversation may have at once.
pub const MAX_ACTIVE_WAKES: usize = 20;
const MAX_NAME_CHARS: usize = 80;
const MAX_PROMPT_CHARS: usize = 4000;
const MIN_AFTER_SECONDS: u64 = 60;
const MAX_AFTER_SECONDS: u64 = 31_536_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeRequest {
    Create {
        name: String,
        prompt: String,
        /// Unix milliseconds.
        due_at: i64,
    },
    List,
    Cancel {
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WakeArgs {
    action: String,
    name: Option<String>,
    prompt: Option<String>,
    after_seconds: Option<f64>,
    scheduled_at: Option<String>,
    cron: Option<String>,
    id: Option<String>,
}

/// The call's request, with `now` in Unix milliseconds.
pub fn parse(input: &Map<String, Value>, now: i64) -> Result<WakeRequest, String> {
    let args: WakeArgs = arguments("Wake", input)?;
    match args.action.as_str() {
        "list" => Ok(WakeRequest::List),
        "cancel" => match args
            .id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
        {
            Some(id) => Ok(WakeRequest::Cancel { id }),
            None => Err("Wake cancel needs the wake's id (Wake list shows them)".to_owned()),
        },
        "create" => {
            let name = args.name.unwrap_or_default().trim().to_owned();
            let prompt = args.prompt.unwrap_or_default().trim().to_owned();
            if name.is_empty() || prompt.is_empty() {
                return Err("Wake create needs a name and a prompt".to_owned());
            }
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(format!(
                    "a wake's name is at most {MAX_NAME_CHARS} characters"
                ));
            }
            if prompt.chars().count() > MAX_PROMPT_CHARS {
                return Err(format!(
                    "a wake's prompt is at most {MAX_PROMPT_CHARS} characters"
                ));
            }
            let given = [
                args.after_seconds.is_some(),
                args.scheduled_at.is_some(),
                args.cron.is_some(),
            ];
            if given.iter().filter(|given| **given).count() != 1 {
                return Err(
                    "Wake create needs exactly one of after_seconds, scheduled_at or cron"
                        .to_owned(),
                );
            }
            let due_at = if let Some(seconds) = args.after_seconds {
                let whole = seconds.fract() == 0.0
                    && (MIN_AFTER_SECONDS as f64..=MAX_AFTER_SECONDS as f64).contains(&seconds);
                if !whole {
                    return Err(format!(
                        "after_seconds is a whole number from {MIN_AFTER_SECONDS} to {MAX_AFTER_SECONDS}"
                    ));
                }
                now + (seconds as i64) * 1000
            } else if let Some(at) = args.scheduled_at {
                let due = parse_time("scheduled_at", &at)?;
                if due <= now {
                    return Err("scheduled_at must be in the future".to_owned());
                }
                due
            } else {
                return Err(
                    "recurring wakes (cron) are not supported by this daemon yet; schedule one \
                     with after_seconds or scheduled_at, and schedule the next when it fires"
                        .to_owned(),
                );
            };
            Ok(WakeRequest::Create {
                name,
                prompt,
                due_at,
            })
        }
        other => Err(format!(
            "Wake's action is create, list or cancel, not {other:?}"
        )),
    }
}

/// `text`, the field `field`, as Unix ms: an RFC 3339 time with `Z` or an
/// offset.
pub fn parse_time(field: &str, text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .map(|at| at.as_millisecond())
        .map_err(|_| {
            format!("{field} is an RFC 3339 time with Z or an offset, e.g. 2026-12-01T09:00:00Z")
        })
}

/// The time of `millis` as RFC 3339 (UTC).
pub fn rfc3339(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|at| at.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(input: Value) -> Result<WakeRequest, String> {
        parse(input.as_object().unwrap(), 1_000_000)
    }

    #[test]
    fn wakes_are_scheduled_by_delay_or_time() {
        assert_eq!(
            call(json!({"action": "create", "name": "n", "prompt": "p", "after_seconds": 60})),
            Ok(WakeRequest::Create {
                name: "n".into(),
                prompt: "p".into(),
                due_at: 1_060_000
            })
        );
        let at = call(
            json!({"action": "create", "name": "n", "prompt": "p", "scheduled_at": "2030-01-01T00:00:00Z"}),
        );
        assert!(
            matches!(
                at,
                Ok(WakeRequest::Create {
                    due_at: 1_893_456_000_000,
                    ..
                })
            ),
            "{at:?}"
        );
        assert_eq!(call(json!({"action": "list"})), Ok(WakeRequest::List));
        assert_eq!(
            call(json!({"action": "cancel", "id": "w1"})),
            Ok(WakeRequest::Cancel { id: "w1".into() })
        );
    }

    #[test]
    fn bad_wakes_say_why() {
        for input in [
            json!({"action": "create", "name": "n", "prompt": "p"}),
            json!({"action": "create", "name": "n", "prompt": "p", "after_seconds": 5}),
            json!({"action": "create", "name": "n", "prompt": "p", "after_seconds": 60.5}),
            json!({"action": "create", "name": "n", "prompt": "p", "scheduled_at": "tomorrow"}),
            json!({"action": "create", "name": "n", "prompt": "p", "scheduled_at": "1970-01-01T00:00:00Z"}),
            json!({"action": "create", "name": "n", "prompt": "p", "cron": "0 * * * *"}),
            json!({"action": "create", "name": "", "prompt": "p", "after_seconds": 60}),
            json!({"action": "create", "name": "n".repeat(81), "prompt": "p", "after_seconds": 60}),
            json!({"action": "cancel"}),
            json!({"action": "snooze"}),
        ] {
            assert!(call(input.clone()).is_err(), "{input}");
        }
    }
}
