//! Netcat source — replaces Flume's `netcat` (`org.apache.flume.source.NetcatSource`).
//!
//! Listens on `bind:port`; every `\n`-terminated line a client sends becomes an event, and with
//! `ack-every-event` (default) the client gets `OK\n` per event **after** the event is committed to
//! the channel. A full channel is backpressure: the source stops reading from the clients until
//! there is room (Flume instead answers `FAILED: …` and the line is gone unless the client
//! resends). A line longer than `max-line-length` bytes (newline included) is answered with
//! Flume's `FAILED: Event exceeds the maximum length (N chars, including newline)` and the
//! connection is closed.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use super::listener::accept_loop;
use super::runtime::runtime;
use super::{ChannelProcessor, PutOutcome, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::shutdown::Shutdown;

/// Flume's `max-line-length` default.
pub const DEFAULT_MAX_LINE_LENGTH: u64 = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetcatSettings {
    pub bind: String,
    pub port: u16,
    pub max_line_length: usize,
    pub ack_every_event: bool,
    pub encoding: String,
}

impl NetcatSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let bind = r.required("bind", "e.g. bind = 0.0.0.0 or localhost");
        let port = r.required("port", "e.g. port = 44444");
        let port = port.and_then(|p| match p.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => {
                r.error(
                    "port",
                    None,
                    format!("'{p}' is not a TCP port"),
                    Some("use 1-65535".to_string()),
                );
                None
            }
        });
        let max_line_length = r.positive("max-line-length", DEFAULT_MAX_LINE_LENGTH) as usize;
        let ack_every_event = r.bool("ack-every-event", true);
        let encoding = r.string("encoding", "utf-8");
        if r.failed() {
            return None;
        }
        Some(NetcatSettings {
            bind: bind?,
            port: port?,
            max_line_length,
            ack_every_event,
            encoding,
        })
    }
}

impl SourceSpec for NetcatSettings {
    fn batch_size(&self) -> usize {
        // Flume's netcat source puts one event per transaction; rflume batches what one read
        // delivered, capped at the channel's transactionCapacity at put time.
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(NetcatSource::new(name, self.clone()))
    }
}

impl Describe for NetcatSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("bind".into(), self.bind.clone()),
            ("port".into(), self.port.to_string()),
            ("max-line-length".into(), self.max_line_length.to_string()),
            ("ack-every-event".into(), self.ack_every_event.to_string()),
            ("encoding".into(), self.encoding.clone()),
        ]
    }
}

pub struct NetcatSource {
    name: String,
    settings: NetcatSettings,
}

impl NetcatSource {
    pub fn new(name: &str, settings: NetcatSettings) -> Self {
        NetcatSource {
            name: name.to_string(),
            settings,
        }
    }
}

impl Source for NetcatSource {
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        let rt = runtime(&self.name)?;
        let addr = format!("{}:{}", self.settings.bind, self.settings.port);
        let listener = rt
            .block_on(TcpListener::bind(&addr))
            .map_err(|e| SourceError::Failed {
                source_name: self.name.clone(),
                message: format!("cannot listen on {addr}: {e}"),
            })?;
        info!(source = %self.name, "Netcat source listening on {addr}");
        // Connections share the processor; a put blocks the runtime's only thread, which pauses
        // every connection's reads: backpressure for all clients at once.
        let open = processor.counter().clone();
        let processor = Arc::new(Mutex::new(processor));
        let name = self.name.clone();
        let settings = self.settings.clone();
        rt.block_on(async {
            let connection = |stream, peer| {
                let (p, s, settings, name) = (
                    processor.clone(),
                    shutdown.clone(),
                    settings.clone(),
                    name.clone(),
                );
                async move {
                    if let Err(e) = serve(stream, &settings, &p, &s).await {
                        warn!(source = %name, "connection from {peer}: {e}");
                    }
                }
            };
            // Each connection ends at its next read once the agent stops (a put in progress
            // ends by the drain deadline): waiting for them commits nothing late.
            accept_loop(&name, listener, &shutdown, Some(open), |_| true, connection)
                .await
                .finish(&shutdown)
                .await
        });
        Ok(())
    }
}

async fn serve(
    mut stream: TcpStream,
    settings: &NetcatSettings,
    processor: &Arc<Mutex<ChannelProcessor>>,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    // Sized for a typical read, not for max-line-length: the limit is a cap (a huge one would
    // otherwise be allocated up front for every client); the buffer grows when a line is long.
    let mut buf = bytes::BytesMut::with_capacity(settings.max_line_length.clamp(4096, 64 * 1024));
    let max_batch = processor.lock().map(|p| p.max_batch()).unwrap_or(1).max(1);
    loop {
        let n = tokio::select! {
            _ = shutdown.stopped() => return Ok(()),
            n = stream.read_buf(&mut buf) => n?,
        };
        let mut batch: Vec<Event> = Vec::new();
        let mut too_long = false;
        while let Some(pos) = memchr::memchr(b'\n', &buf) {
            if pos + 1 > settings.max_line_length {
                too_long = true;
                break;
            }
            let line: Bytes = buf.split_to(pos).freeze();
            let _ = buf.split_to(1);
            batch.push(Event::new(line));
        }
        if !too_long && buf.len() >= settings.max_line_length {
            too_long = true;
        }
        let events = batch.len();
        for chunk in chunks(batch, max_batch) {
            let outcome = {
                let mut p = processor
                    .lock()
                    .map_err(|_| std::io::Error::other("processor lock poisoned"))?;
                p.put_blocking(chunk, shutdown)
            };
            if let PutOutcome::Abandoned { lost } = outcome {
                warn!("{lost} events from a netcat client were not stored before the drain deadline; the client was not acknowledged for them");
                return Ok(());
            }
        }
        if settings.ack_every_event && events > 0 {
            stream.write_all(&b"OK\n".repeat(events)).await?;
        }
        if too_long {
            let msg = format!(
                "FAILED: Event exceeds the maximum length ({} chars, including newline)\n",
                settings.max_line_length
            );
            stream.write_all(msg.as_bytes()).await?;
            return Ok(());
        }
        if n == 0 {
            return Ok(());
        }
    }
}

fn chunks(mut v: Vec<Event>, size: usize) -> Vec<Vec<Event>> {
    let mut out = Vec::new();
    while v.len() > size {
        let rest = v.split_off(size);
        out.push(std::mem::replace(&mut v, rest));
    }
    if !v.is_empty() {
        out.push(v);
    }
    out
}
