//! A TCP proxy in front of a real server that cuts the first message stream
//! after a number of events, as a flaky network would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct CuttingProxy {
    pub url: String,
    pub cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// Proxies `upstream` (`host:port`); the first `POST .../messages`
    /// response is cut after `events` SSE events.
    pub async fn start(upstream: String, events: usize) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let done = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        relay(client, server, events, done).await;
                    }
                });
            }
        });
        CuttingProxy { url, cut, task }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, events: usize, done: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let streaming = Arc::new(AtomicBool::new(false));
    let requests = {
        let streaming = streaming.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 16 * 1024];
            while let Ok(read) = client_read.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..read]);
                if text.starts_with("POST /v1/conversations/") && text.contains("/messages HTTP") {
                    streaming.store(true, Ordering::SeqCst);
                }
                if server_write.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut buffer = vec![0u8; 16 * 1024];
    let mut seen = 0;
    while let Ok(read) = server_read.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let mut forward = read;
        if streaming.load(Ordering::SeqCst) && !done.load(Ordering::SeqCst) {
            // Forward up to the end of the `events`-th event, then hang up.
            let text = &buffer[..read];
            let mut offset = 0;
            while let Some(position) = find(&text[offset..], b"\n\n") {
                offset += position + 2;
                seen += 1;
                if seen == events {
                    forward = offset;
                    done.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
        if client_write.write_all(&buffer[..forward]).await.is_err() {
            break;
        }
        if forward < read || (done.load(Ordering::SeqCst) && seen == events) {
            break;
        }
    }
    requests.abort();
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
