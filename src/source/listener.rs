//! The accept loop of every source that listens on TCP (avro, thrift, netcat, syslog TCP and
//! multiport, http): one copy of how connections are accepted, counted, served and ended.
//!
//! Each connection is served on its own task of the source's one-thread runtime
//! ([`super::runtime`]), so one slow client never holds up the others' reads. Finished tasks are
//! reaped as the loop goes, so a long-running source with many short connections does not keep
//! their results. When the agent stops, the listener closes first (no new client gets in), then
//! [`Accepted::finish`] lets each connection end the request it is storing — a put ends by the
//! drain deadline — so nothing is committed after the source returned.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::warn;

use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;

/// The connections still being served when the accept loop ended.
pub struct Accepted {
    connections: JoinSet<()>,
}

impl Accepted {
    /// Waits for every connection to end on its own (each watches the agent's stop and finishes
    /// its current request first), but not past the stop's drain deadline: a client that stopped
    /// reading our answers cannot hold the agent's stop. What is still open then is ended, which
    /// loses nothing: a put that began goes on in its own thread, and ends by that deadline too.
    /// A source whose connections do not watch the stop (http, whose hyper connections wait for
    /// the client) drops this instead, which ends them at once.
    pub async fn finish(mut self, shutdown: &Shutdown) {
        let all_ended = async { while self.connections.join_next().await.is_some() {} };
        match shutdown.deadline() {
            Some(deadline) => {
                let _ = tokio::time::timeout_at(deadline.into(), all_ended).await;
            }
            None => all_ended.await,
        }
    }
}

/// Accepts connections on `listener` until `shutdown` stops, and serves each with `serve` on a
/// task of its own. `admit` may refuse a peer before anything is read from it (the avro source's
/// `ipFilterRules`); it logs why. `open` is the source's counter when its Flume class reports
/// `OpenConnectionCount`: the gauge is raised while a connection is served — through the
/// counter's own atomic, never the processor's lock, which a put may hold for seconds on a full
/// channel.
pub async fn accept_loop<F, Fut>(
    source: &str,
    listener: TcpListener,
    shutdown: &Shutdown,
    open: Option<Arc<SourceCounter>>,
    admit: impl Fn(SocketAddr) -> bool,
    serve: F,
) -> Accepted
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.stopped() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if !admit(peer) {
                        continue;
                    }
                    let served = serve(stream, peer);
                    let open = open.clone();
                    connections.spawn(async move {
                        if let Some(c) = &open {
                            c.open_connections.add(1);
                        }
                        served.await;
                        if let Some(c) = &open {
                            c.open_connections.add(-1);
                        }
                    });
                }
                // A failed accept (out of file descriptors, a reset before accept) concerns that
                // one client; the listener goes on.
                Err(e) => warn!(source = %source, "accept failed: {e}"),
            },
        }
    }
    drop(listener);
    Accepted { connections }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Connections are served concurrently, counted while open, refused by `admit` before they
    /// are served, and the listener closes when the agent stops.
    #[test]
    fn serves_counts_refuses_and_closes_on_stop() {
        let rt = rt();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let counter = Arc::new(SourceCounter::default());
            let shutdown = Shutdown::new();
            let refuse_next = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let loop_task = tokio::spawn({
                let (counter, shutdown, refuse) =
                    (counter.clone(), shutdown.clone(), refuse_next.clone());
                async move {
                    accept_loop(
                        "r1",
                        listener,
                        &shutdown,
                        Some(counter),
                        |_| !refuse.load(std::sync::atomic::Ordering::SeqCst),
                        |mut s: TcpStream, _| async move {
                            // Echo one byte back, then wait for the client to close.
                            let mut b = [0u8; 1];
                            if s.read_exact(&mut b).await.is_ok() {
                                let _ = s.write_all(&b).await;
                                let _ = s.read(&mut b).await;
                            }
                        },
                    )
                    .await
                    .finish(&shutdown)
                    .await
                }
            });
            let mut a = TcpStream::connect(addr).await.unwrap();
            let mut b = TcpStream::connect(addr).await.unwrap();
            for (s, byte) in [(&mut a, b'a'), (&mut b, b'b')] {
                s.write_all(&[byte]).await.unwrap();
                let mut got = [0u8; 1];
                s.read_exact(&mut got).await.unwrap();
                assert_eq!(got[0], byte);
            }
            assert_eq!(counter.open_connections.get(), 2);
            drop(a);
            let deadline = Instant::now() + Duration::from_secs(10);
            while counter.open_connections.get() != 1 {
                assert!(
                    Instant::now() < deadline,
                    "a closed connection is uncounted"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // A refused peer is closed without being served: it reads end-of-stream.
            refuse_next.store(true, std::sync::atomic::Ordering::SeqCst);
            let mut refused = TcpStream::connect(addr).await.unwrap();
            let mut buf = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(10), refused.read(&mut buf))
                .await
                .expect("a refused connection is closed")
                .unwrap_or(0);
            assert_eq!(n, 0);
            assert_eq!(counter.open_connections.get(), 1);
            // On stop the listener closes; the loop waits for `b` to end, which it does once
            // the client closes.
            shutdown.trigger(Instant::now() + Duration::from_secs(5));
            drop(b);
            tokio::time::timeout(Duration::from_secs(10), loop_task)
                .await
                .expect("the loop ends once its connections did")
                .unwrap();
            assert_eq!(counter.open_connections.get(), 0);
            assert!(
                TcpStream::connect(addr).await.is_err(),
                "the listener is closed after the stop"
            );
        });
    }
}
