//! A TCP proxy that can take the server behind it away: while it is down,
//! connections in flight are cut and new ones are closed as soon as they
//! are accepted, as when a server goes away and its port answers nothing.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct OutageProxy {
    pub url: String,
    down: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OutageProxy {
    /// Proxies `upstream` (`host:port`).
    pub async fn start(upstream: String) -> OutageProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (down, watching) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut watching = watching.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watching.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        OutageProxy { url, down, task }
    }

    /// Takes the server away (`true`) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
