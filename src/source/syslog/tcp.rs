//! The TCP syslog sources at run time: one thread with a single-threaded runtime that accepts on
//! every port and serves each connection in a task. A connection's events are put into the
//! channel before the next read from it; while a put waits for room, the runtime waits with it,
//! so every sender is slowed down (backpressure, nothing dropped).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::parser::{parse_line, LineSplitter};
use super::utils::Extractor;
use super::Common;
use crate::event::Event;
use crate::interceptor::search_replace::Charset;
use crate::shutdown::Shutdown;
use crate::source::listener::accept_loop;
use crate::source::net::{bind_addrs, java_ip, HostNames};
use crate::source::runtime::runtime;
use crate::source::tls::TlsSettings;
use crate::source::{ChannelProcessor, PutOutcome, Source, SourceError};

/// Bytes read from a connection at once (the per-connection buffer).
const READ_BUFFER: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub enum Framing {
    /// `syslogtcp`: Flume's `SyslogUtils`.
    Utils { event_size: usize },
    /// `multiport_syslogtcp`: `LineSplitter` + `SyslogParser`, per-port charsets.
    Multiport {
        event_size: usize,
        port_header: Option<String>,
        default_charset: Charset,
        port_charsets: BTreeMap<u16, Charset>,
    },
}

#[derive(Clone, Debug)]
pub struct Listener {
    pub common: Common,
    pub ports: Vec<u16>,
    pub tls: Option<TlsSettings>,
    pub framing: Framing,
    /// Events per put (multiport's `batchSize`).
    pub batch_size: usize,
}

pub struct TcpSyslogSource {
    name: String,
    l: Listener,
}

impl TcpSyslogSource {
    pub fn new(name: &str, l: Listener) -> Self {
        TcpSyslogSource {
            name: name.to_string(),
            l,
        }
    }
}

/// A connection's parser state.
enum Framer {
    Utils(Extractor),
    Multiport {
        splitter: LineSplitter,
        charset: Charset,
        port_header: Option<(String, String)>,
    },
}

impl Framer {
    fn new(l: &Listener, local_port: u16) -> Framer {
        match &l.framing {
            Framing::Utils { event_size } => {
                Framer::Utils(Extractor::new(*event_size, l.common.keep_fields))
            }
            Framing::Multiport {
                event_size,
                port_header,
                default_charset,
                port_charsets,
            } => Framer::Multiport {
                splitter: LineSplitter::new(*event_size),
                charset: *port_charsets.get(&local_port).unwrap_or(default_charset),
                port_header: port_header
                    .as_ref()
                    .map(|h| (h.clone(), local_port.to_string())),
            },
        }
    }

    fn push(&mut self, data: &[u8], keep: super::KeepFields, out: &mut Vec<Event>) {
        match self {
            Framer::Utils(x) => x.push(data, out),
            Framer::Multiport {
                splitter,
                charset,
                port_header,
            } => {
                let now = chrono::Utc::now().timestamp_millis();
                splitter.push(data, |line, incomplete| {
                    if let Some(mut e) = parse_line(line, incomplete, *charset, keep, now) {
                        if let Some((k, v)) = port_header {
                            e.headers.insert(k.clone(), v.clone());
                        }
                        out.push(e);
                    }
                });
            }
        }
    }
}

impl Source for TcpSyslogSource {
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        let fail = |message: String| SourceError::Failed {
            source_name: self.name.clone(),
            message,
        };
        let rt = runtime(&self.name)?;
        let acceptor = match &self.l.tls {
            Some(t) => Some(t.acceptor().map_err(fail)?),
            None => None,
        };
        let mut listeners = Vec::new();
        for &port in &self.l.ports {
            let mut last = String::new();
            let mut bound = None;
            for addr in bind_addrs(self.l.common.host.as_deref(), port) {
                match rt.block_on(TcpListener::bind(&addr)) {
                    Ok(l) => {
                        info!(source = %self.name, "Syslog TCP source listening on {addr}{}", if acceptor.is_some() { " (TLS)" } else { "" });
                        bound = Some(l);
                        break;
                    }
                    Err(e) => last = format!("cannot listen on {addr}: {e}"),
                }
            }
            match bound {
                Some(l) => listeners.push((port, l)),
                // As Flume's multiport source: a port that cannot be bound is logged, the others
                // serve; a single-port source has nothing left and fails.
                None if self.l.ports.len() > 1 => {
                    tracing::error!(source = %self.name, "Could not bind to address: {last}")
                }
                None => return Err(fail(last)),
            }
        }
        if listeners.is_empty() {
            return Err(fail("no port could be bound".into()));
        }
        let open = processor.counter().clone();
        let processor = Arc::new(Mutex::new(processor));
        let names = HostNames::default();
        let l = Arc::new(self.l);
        rt.block_on(async {
            // One accept loop per port, all on this thread; the source ends when every one did.
            let mut ports = JoinSet::new();
            for (port, listener) in listeners {
                let (p, s, l, names, name, acceptor, open) = (
                    processor.clone(),
                    shutdown.clone(),
                    l.clone(),
                    names.clone(),
                    self.name.clone(),
                    acceptor.clone(),
                    open.clone(),
                );
                ports.spawn(async move {
                    let connection = |stream, peer| {
                        let (p, s, l, names, name, acceptor) = (
                            p.clone(),
                            s.clone(),
                            l.clone(),
                            names.clone(),
                            name.clone(),
                            acceptor.clone(),
                        );
                        async move {
                            let result = match acceptor {
                                Some(a) => match a.accept(stream).await {
                                    Ok(tls) => serve(tls, port, peer, &l, &p, &s, &names).await,
                                    Err(e) => {
                                        Err(std::io::Error::other(format!("TLS handshake: {e}")))
                                    }
                                },
                                None => serve(stream, port, peer, &l, &p, &s, &names).await,
                            };
                            if let Err(e) = result {
                                warn!(source = %name, "connection from {peer}: {e}");
                            }
                        }
                    };
                    accept_loop(&name, listener, &s, Some(open), |_| true, connection)
                        .await
                        .finish(&s)
                        .await
                });
            }
            while ports.join_next().await.is_some() {}
        });
        Ok(())
    }
}

async fn serve<S: AsyncRead + Unpin>(
    mut stream: S,
    port: u16,
    peer: SocketAddr,
    l: &Listener,
    processor: &Arc<Mutex<ChannelProcessor>>,
    shutdown: &Shutdown,
    names: &HostNames,
) -> std::io::Result<()> {
    let client_ip = l
        .common
        .client_ip_header
        .as_ref()
        .map(|h| (h.clone(), java_ip(peer.ip())));
    let client_host = match &l.common.client_hostname_header {
        Some(h) => {
            let names = names.clone();
            let ip = peer.ip();
            let name = tokio::task::spawn_blocking(move || names.lookup(ip))
                .await
                .unwrap_or_else(|_| java_ip(ip));
            Some((h.clone(), name))
        }
        None => None,
    };
    let mut framer = Framer::new(l, port);
    let mut buf = vec![0u8; READ_BUFFER];
    let max_batch = processor
        .lock()
        .map(|p| p.max_batch())
        .unwrap_or(1)
        .clamp(1, l.batch_size.max(1));
    loop {
        let n = tokio::select! {
            _ = shutdown.stopped() => return Ok(()),
            n = stream.read(&mut buf) => n?,
        };
        if n == 0 {
            return Ok(());
        }
        let mut events = Vec::new();
        framer.push(&buf[..n], l.common.keep_fields, &mut events);
        for e in &mut events {
            if let Some((k, v)) = &client_ip {
                e.headers.insert(k.clone(), v.clone());
            }
            if let Some((k, v)) = &client_host {
                e.headers.insert(k.clone(), v.clone());
            }
        }
        while !events.is_empty() {
            let rest = if events.len() > max_batch {
                events.split_off(max_batch)
            } else {
                Vec::new()
            };
            let batch = std::mem::replace(&mut events, rest);
            let outcome = {
                let mut p = processor
                    .lock()
                    .map_err(|_| std::io::Error::other("processor lock poisoned"))?;
                p.put_blocking(batch, shutdown)
            };
            if let PutOutcome::Abandoned { lost } = outcome {
                warn!("{lost} syslog events from {peer} were not stored before the drain deadline");
                return Ok(());
            }
        }
    }
}
