//! A timing proxy in front of the Letta server: each server under test
//! talks to the Letta server through its own proxy, which forwards every
//! request unchanged and notes when it arrived and when the last byte of
//! its answer left. The Letta server's time in a turn is then the time any
//! of that server's requests was waiting on it, whatever the request was
//! (a run's stream, an approval, the agent fetched before a send) — more
//! than the runs' own `total_duration_ns`, which leave out everything the
//! Letta server does before a run starts and after it ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};

use crate::process::serve_on_loopback;

/// Request bodies to the Letta server are messages and settings; a turn's
/// largest is far below this.
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    epoch: Instant,
    requests: Arc<Mutex<Vec<Interval>>>,
}

/// One request, since the proxy's epoch; `ended` is `None` while its
/// answer is still being sent.
#[derive(Clone, Copy)]
struct Interval {
    arrived: Duration,
    ended: Option<Duration>,
}

/// Reads a proxy's timings.
pub struct TimingProxy {
    pub url: String,
    proxy: Proxy,
}

impl TimingProxy {
    /// Serves a proxy to `upstream` (e.g. `http://127.0.0.1:8283`) on a
    /// free loopback port.
    pub async fn start(upstream: &str) -> Result<TimingProxy> {
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().build()?,
            epoch: Instant::now(),
            requests: Arc::default(),
        };
        let app = Router::new().fallback(forward).with_state(proxy.clone());
        let url = format!("http://{}", serve_on_loopback(app).await?);
        Ok(TimingProxy { url, proxy })
    }

    /// How long, between `since` and now, at least one request that arrived
    /// since `since` was waiting on the Letta server (the union of their
    /// spans; one still open counts until now).
    pub fn busy_since(&self, since: Instant) -> Duration {
        let since = since.saturating_duration_since(self.proxy.epoch);
        let now = self.proxy.epoch.elapsed();
        let Ok(requests) = self.proxy.requests.lock() else {
            return Duration::ZERO;
        };
        let mut spans: Vec<(Duration, Duration)> = requests
            .iter()
            .filter(|request| request.arrived >= since)
            .map(|request| (request.arrived, request.ended.unwrap_or(now)))
            .collect();
        union_length(&mut spans)
    }
}

/// The total length covered by `spans` (each `(start, end)`).
fn union_length(spans: &mut [(Duration, Duration)]) -> Duration {
    spans.sort_unstable();
    let mut total = Duration::ZERO;
    let mut covered_to = Duration::ZERO;
    for &(start, end) in spans.iter() {
        let start = start.max(covered_to);
        if end > start {
            total += end - start;
            covered_to = end;
        }
    }
    total
}

/// Marks its request answered when dropped: after the answer's last byte,
/// or when the server under test hung up first.
struct Answered {
    proxy: Proxy,
    index: usize,
}

impl Drop for Answered {
    fn drop(&mut self) {
        let ended = self.proxy.epoch.elapsed();
        if let Ok(mut requests) = self.proxy.requests.lock()
            && let Some(request) = requests.get_mut(self.index)
        {
            request.ended = Some(ended);
        }
    }
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let index = proxy.requests.lock().map_or(usize::MAX, |mut requests| {
        requests.push(Interval {
            arrived: proxy.epoch.elapsed(),
            ended: None,
        });
        requests.len() - 1
    });
    let answered = Answered {
        proxy: proxy.clone(),
        index,
    };
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let upstream = proxy
        .http
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let mut response = Response::builder().status(upstream.status());
    if let Some(headers) = response.headers_mut() {
        *headers = end_to_end(upstream.headers());
    }
    let body = timed(upstream.bytes_stream(), answered);
    response
        .body(Body::from_stream(body))
        .unwrap_or_else(|error| (StatusCode::BAD_GATEWAY, error.to_string()).into_response())
}

/// The answer's bytes, with `answered` dropped after the last.
fn timed(
    bytes: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    answered: Answered,
) -> impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static {
    let mut answered = Some(answered);
    bytes.chain(futures_util::stream::poll_fn(move |_| {
        answered.take();
        std::task::Poll::Ready(None)
    }))
}

/// The headers a proxy passes on: all but those that describe one hop.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    const HOP: [HeaderName; 5] = [
        header::CONNECTION,
        header::HOST,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        header::UPGRADE,
    ];
    headers
        .iter()
        .filter(|(name, _)| !HOP.contains(name) && name.as_str() != "keep-alive")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_requests_are_counted_once() {
        let ms = Duration::from_millis;
        let mut spans = vec![
            (ms(10), ms(20)),
            (ms(0), ms(5)),
            (ms(15), ms(30)),
            (ms(16), ms(18)),
        ];
        assert_eq!(union_length(&mut spans), ms(25));
    }
}
