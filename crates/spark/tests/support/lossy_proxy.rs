//! A TCP proxy in front of a real engine that loses answers: the request reaches the server, the
//! server answers, and the proxy closes the client's connection instead of passing the answer on.
//! Which requests lose their answer: those whose first bytes start with a given prefix (e.g.
//! `POST /batches`), up to a count; everything else is passed through both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running proxy; its address is `url`.
pub struct LossyProxy {
    pub url: String,
    lost: Arc<AtomicUsize>,
}

impl LossyProxy {
    /// How many answers were lost so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

/// Starts a proxy to `upstream` (`host:port`) that loses the answers to the first `times`
/// requests starting with `prefix`.
pub async fn start(upstream: &str, prefix: &'static str, times: usize) -> LossyProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lost = Arc::new(AtomicUsize::new(0));
    let budget = Arc::new(AtomicUsize::new(times));
    let (upstream, counter) = (upstream.to_string(), lost.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else { continue };
            tokio::spawn(relay(client, server, budget.clone(), counter.clone(), prefix));
        }
    });
    LossyProxy { url, lost }
}

async fn relay(client: TcpStream, server: TcpStream, budget: Arc<AtomicUsize>, lost: Arc<AtomicUsize>, prefix: &str) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let doomed = Arc::new(AtomicBool::new(false));
    let marked = doomed.clone();
    let upward = async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if buf[..n].starts_with(prefix.as_bytes())
                && budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1)).is_ok()
            {
                marked.store(true, Ordering::SeqCst);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downward = async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if doomed.load(Ordering::SeqCst) {
                // The server has answered: the answer goes nowhere, the connection is cut.
                lost.fetch_add(1, Ordering::SeqCst);
                let _ = client_write.shutdown().await;
                return;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Whichever side ends first ends the connection.
    tokio::select! {
        _ = upward => {}
        _ = downward => {}
    }
}
