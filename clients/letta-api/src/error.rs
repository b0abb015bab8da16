use std::time::Duration;

/// What talking to the Letta server can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LettaError {
    #[error("cannot reach the Letta server at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("the Letta server answered {status}{}: {detail}", code.as_deref().map(|code| format!(" ({code})")).unwrap_or_default())]
    Status {
        status: u16,
        /// `detail.code` when the server gave one, e.g. `PENDING_APPROVAL`.
        code: Option<String>,
        detail: String,
        retry_after: Option<Duration>,
    },
    #[error("the Letta server at {url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("unreadable answer from the Letta server: {0}")]
    Decode(String),
    /// The connection carrying a run stream failed; resuming may help.
    #[error("the run stream failed: {0}")]
    Stream(String),
    /// The server reported that the run failed (`event: error`), e.g. the
    /// model provider refused or broke down: resuming would not help.
    #[error("the run failed on the Letta server: {0}")]
    RunFailed(String),
}

impl LettaError {
    /// Whether trying again later may succeed: connection failures, 429 and
    /// 5xx. A 4xx other than 429 is the request's own fault.
    pub fn is_transient(&self) -> bool {
        match self {
            LettaError::Connect { .. } | LettaError::Timeout { .. } | LettaError::Stream(_) => true,
            LettaError::Status { status, .. } => *status == 429 || *status >= 500,
            LettaError::Decode(_) | LettaError::RunFailed(_) => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            LettaError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 409 with `detail.code = PENDING_APPROVAL`: the conversation waits for
    /// an approval answer before it takes new messages.
    pub fn is_pending_approval(&self) -> bool {
        matches!(self, LettaError::Status { status: 409, code: Some(code), .. } if code == "PENDING_APPROVAL")
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LettaError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Parses an error response body: `detail` is a string or an object with
    /// `code` and `message`.
    pub(crate) fn from_response(
        status: u16,
        body: &str,
        retry_after: Option<Duration>,
    ) -> LettaError {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let detail_value = parsed
            .as_ref()
            .and_then(|body| body.get("detail").or_else(|| body.get("error")));
        let (code, detail) = match detail_value {
            Some(serde_json::Value::String(text)) => (None, text.clone()),
            Some(serde_json::Value::Object(fields)) => (
                fields
                    .get("code")
                    .and_then(|code| code.as_str())
                    .map(str::to_owned),
                fields
                    .get("message")
                    .and_then(|message| message.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| serde_json::Value::Object(fields.clone()).to_string()),
            ),
            Some(other) => (None, other.to_string()),
            None => (None, truncate(body, 500)),
        };
        LettaError::Status {
            status,
            code,
            detail,
            retry_after,
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_both_shapes() {
        let err = LettaError::from_response(
            409,
            r#"{"detail":{"code":"PENDING_APPROVAL","message":"waiting"}}"#,
            None,
        );
        assert!(err.is_pending_approval());
        assert!(!err.is_transient());
        assert!(err.to_string().contains("PENDING_APPROVAL"));
        let err = LettaError::from_response(422, r#"{"detail":"bad agent id"}"#, None);
        assert_eq!(
            err.to_string(),
            "the Letta server answered 422: bad agent id"
        );
        let err = LettaError::from_response(503, "upstream down", Some(Duration::from_secs(2)));
        assert!(err.is_transient());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        let err = LettaError::from_response(409, r#"{"detail":"busy"}"#, None);
        assert!(!err.is_pending_approval());
    }
}
