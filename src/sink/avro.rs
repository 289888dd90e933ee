//! Avro sink — replaces Flume's `avro` (`org.apache.flume.sink.AvroSink`, with the Flume SDK's
//! `NettyAvroRpcClient`).
//!
//! Takes up to `batch-size` events and sends them in one `appendBatch` call of Flume's
//! `AvroSourceProtocol` (`crate::rpc`) to `hostname:port` — a Flume or rflume avro source, the
//! next tier. The take commits **only after the remote answered `OK`**; a refused connection, a
//! timeout (`connect-timeout`, `request-timeout`), a `FAILED`/`UNKNOWN` answer or an error rolls
//! the batch back to the head of the channel, drops the connection, and the sink runner tries
//! again with its growing back-off: an unreachable collector fills the channel and pushes back on
//! the sources, nothing is lost. At least once: a batch whose `OK` was lost (the collector died
//! after its commit) is sent again.
//!
//! As Flume: one connection, one call at a time; `reset-connection-interval` reconnects
//! periodically (for load balancers in front of several collectors); invalid numbers fall back to
//! Flume's defaults (with a warning here, where Flume only logs). `maxIoWorkers` is accepted and
//! ignored, as in Flume.
//!
//! `ssl = true`: TLS with the trust store of `crate::rpc::tls` (`truststore` PKCS#12 or PEM, the
//! system's CA certificates without one, or `trust-all-certs`). As Flume, the collector's host
//! name is **not** checked against its certificate (the sink warns at start that this is weaker
//! than usual). A handshake that fails (an untrusted certificate, a wrong trust store) is a failed
//! call like any other: logged at ERROR, the batch rolled back, retried with back-off. With
//! `compression-type = deflate` as well, `ssl-deflate-order` (rflume's key; default `flume-1.10`)
//! orders the two layers as the collector's Flume version does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use tracing::info;

use super::rpc_sink::{RpcClient, RpcSink};
use super::{Sink, SinkCore, SinkError, SinkSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::rpc::client::{self, Socket};
use crate::rpc::deflate::ZlibStream;
use crate::rpc::deflate::{Deflater, Inflater, DEFAULT_LEVEL};
use crate::rpc::frame::{encode_packet, FrameDecoder};
use crate::rpc::ipc::{ClientConnection, Reply, Status as RpcStatus};
use crate::rpc::lenient;
use crate::rpc::settings::{self, ClientSettings};
use crate::rpc::tls::{Layering, TrustSettings, LAYERING_KEY};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvroSinkSettings {
    /// The keys every RPC sink reads.
    pub client: ClientSettings,
    /// `Some(level)` with `compression-type = deflate`.
    pub deflate: Option<u32>,
    pub tls: Option<TrustSettings>,
    pub layering: Layering,
}

impl AvroSinkSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let client = ClientSettings::parse(r, "avro", 41414);
        let deflate = if settings::deflate(r) {
            Some(lenient::number(r, "compression-level", DEFAULT_LEVEL as u64, 0, 9) as u32)
        } else {
            r.known("compression-level");
            None
        };
        if let Some((_, line)) = r.ignored("maxIoWorkers") {
            r.warn(
                "maxIoWorkers",
                Some(line),
                "Specifying the number of workers is no longer supported (Flume says so too); ignored",
                Some("delete this line".into()),
            );
        }
        let tls = TrustSettings::parse(r);
        let layering = Layering::parse(r, matches!(tls, Some(Some(_))), deflate.is_some());
        if r.failed() {
            return None;
        }
        Some(AvroSinkSettings {
            client: client?,
            deflate,
            tls: tls?,
            layering,
        })
    }
}

impl Describe for AvroSinkSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = self.client.describe();
        out.extend([(
            "compression-type".into(),
            if self.deflate.is_some() {
                "deflate"
            } else {
                "none"
            }
            .into(),
        )]);
        if let Some(level) = self.deflate {
            out.push(("compression-level".into(), level.to_string()));
        }
        TrustSettings::describe(&self.tls, &mut out);
        out.push((LAYERING_KEY.into(), self.layering.describe().into()));
        out
    }
}

impl SinkSpec for AvroSinkSettings {
    fn batch_size(&self) -> usize {
        self.client.batch_size
    }
    fn batch_size_key(&self, _lines: &std::collections::BTreeMap<String, usize>) -> &'static str {
        "batch-size"
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(RpcSink(AvroSink {
            core,
            settings: self.clone(),
            conn: None,
            serial: 0,
            request: Vec::new(),
            packet: Vec::new(),
            wire: Vec::new(),
            read_buf: vec![0; 64 * 1024],
            plain: Vec::new(),
        })))
    }
}

/// The layers under the Avro IPC frames.
enum Transport {
    Plain(TcpStream),
    /// TLS on the socket (deflate, if any, inside it: done by the caller).
    Tls(Box<native_tls::TlsStream<TcpStream>>),
    /// Flume 1.10's order: the zlib stream on the socket, TLS inside it.
    TlsInZlib(Box<native_tls::TlsStream<ZlibStream<TcpStream>>>),
}

impl Socket for Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => t.get_ref(),
            Transport::TlsInZlib(t) => t.get_ref().get_ref(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
            Transport::TlsInZlib(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
            Transport::TlsInZlib(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush(),
            Transport::TlsInZlib(t) => t.flush(),
        }
    }
}

/// One connection to the collector.
struct Connection {
    stream: Transport,
    peer: SocketAddr,
    session: ClientConnection,
    frames: FrameDecoder,
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
    opened: Instant,
}

pub struct AvroSink {
    core: SinkCore,
    settings: AvroSinkSettings,
    conn: Option<Connection>,
    serial: i32,
    // Buffers reused between batches: no allocation per batch once they have grown.
    request: Vec<u8>,
    packet: Vec<u8>,
    wire: Vec<u8>,
    read_buf: Vec<u8>,
    plain: Vec<u8>,
}

/// Why a call failed, for the message; every failure is retried.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with {peer} failed: {what} (is the collector's certificate signed by a CA in the truststore, and ssl = true on its avro source?)")]
    Tls { peer: SocketAddr, what: String },
    #[error("{peer}: {what}")]
    Io { peer: SocketAddr, what: String },
    #[error("{peer} answered {} (not stored; the batch is sent again)", status.symbol())]
    Refused { peer: SocketAddr, status: RpcStatus },
    #[error("{peer} failed the call: {message}")]
    Remote { peer: SocketAddr, message: String },
}

impl AvroSink {
    fn open(&self) -> Result<Connection, CallError> {
        let (host, port) = (
            self.settings.client.hostname.as_str(),
            self.settings.client.port,
        );
        let connected = client::connect(host, port, self.settings.client.connect_timeout)
            .map_err(|e| CallError::Connect(format!("{host}:{port}"), e))
            .and_then(|(stream, addr)| self.secure(stream, addr).map(|t| (t, addr)));
        let ((stream, inline_deflate), addr) = match connected {
            Ok(c) => c,
            Err(e) => {
                self.core.counter.connection_failed.inc();
                return Err(e);
            }
        };
        info!(sink = %self.core.name, "Rpc sink {}: connected to {addr}", self.core.name);
        self.core.counter.connection_created.inc();
        let deflate = self.settings.deflate.filter(|_| inline_deflate);
        Ok(Connection {
            stream,
            peer: addr,
            session: ClientConnection::new(),
            frames: FrameDecoder::new(),
            deflater: deflate.map(Deflater::new),
            inflater: deflate.map(|_| Inflater::new()),
            opened: Instant::now(),
        })
    }

    /// Puts TLS on a new connection when `ssl = true` (the handshake within `connect-timeout`);
    /// says whether deflate is still to be done over the result (it is not when the zlib stream
    /// is already under TLS).
    fn secure(&self, stream: TcpStream, peer: SocketAddr) -> Result<(Transport, bool), CallError> {
        let Some(tls) = &self.settings.tls else {
            return Ok((Transport::Plain(stream), true));
        };
        let fail = |what: String| CallError::Tls { peer, what };
        let connector = tls.connector().map_err(&fail)?;
        let timeout = Some(self.settings.client.connect_timeout);
        stream
            .set_read_timeout(timeout)
            .and_then(|_| stream.set_write_timeout(timeout))
            .map_err(|e| fail(e.to_string()))?;
        let host = self.settings.client.hostname.as_str();
        match (self.settings.deflate, self.settings.layering) {
            (Some(level), Layering::DeflateOutside) => {
                let tls = connector
                    .connect(host, ZlibStream::new(stream, level))
                    .map_err(|e| fail(client::handshake_words(e)))?;
                Ok((Transport::TlsInZlib(Box::new(tls)), false))
            }
            _ => {
                let tls = connector
                    .connect(host, stream)
                    .map_err(|e| fail(client::handshake_words(e)))?;
                Ok((Transport::Tls(Box::new(tls)), true))
            }
        }
    }

    /// Sends one `appendBatch` and waits for its answer, within `request-timeout`.
    fn append_batch(&mut self, events: &[Event]) -> Result<(), CallError> {
        let deadline = Instant::now() + self.settings.client.request_timeout;
        // At most twice: a server that answers NONE did not run the call.
        for _ in 0..2 {
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            let peer = conn.peer;
            let io = |e: String| CallError::Io { peer, what: e };
            self.request.clear();
            conn.session
                .write_append_batch(events, &mut self.request)
                .map_err(|e| io(e.to_string()))?;
            self.serial = self.serial.wrapping_add(1);
            self.packet.clear();
            encode_packet(self.serial, &self.request, &mut self.packet);
            let out = match conn.deflater.as_mut() {
                Some(d) => {
                    self.wire.clear();
                    d.compress(&self.packet, &mut self.wire)
                        .map_err(|e| io(e.to_string()))?;
                    &self.wire
                }
                None => &self.packet,
            };
            client::send(&mut conn.stream, out, deadline).map_err(io)?;
            let packet = loop {
                if let Some(p) = conn.frames.next_packet().map_err(|e| io(e.to_string()))? {
                    if p.serial == self.serial {
                        break p;
                    }
                    // An answer to an earlier call that timed out on this connection cannot
                    // arrive: a timeout closes the connection. Anything else is a broken peer.
                    return Err(io(format!(
                        "answer for call {} while waiting for {}",
                        p.serial, self.serial
                    )));
                }
                let n =
                    client::receive(&mut conn.stream, &mut self.read_buf, deadline).map_err(io)?;
                match conn.inflater.as_mut() {
                    Some(i) => {
                        self.plain.clear();
                        i.inflate(&self.read_buf[..n], &mut self.plain)
                            .map_err(|e| io(e.to_string()))?;
                        conn.frames.push(&self.plain);
                    }
                    None => conn.frames.push(&self.read_buf[..n]),
                }
            };
            match conn
                .session
                .read_reply(&packet.payload)
                .map_err(|e| io(e.to_string()))?
            {
                Reply::Resend => continue,
                Reply::Status(RpcStatus::Ok) => return Ok(()),
                Reply::Status(status) => return Err(CallError::Refused { peer, status }),
                Reply::Error(message) => return Err(CallError::Remote { peer, message }),
            }
        }
        Err(CallError::Io {
            peer: self
                .conn
                .as_ref()
                .map(|c| c.peer)
                .unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
            what: "the server did not accept the handshake".into(),
        })
    }
}

impl RpcClient for AvroSink {
    const KIND: &'static str = "avro";
    const CONNECT_FAILURE: &'static str = "Unable to create Rpc client";
    fn core(&self) -> &SinkCore {
        &self.core
    }
    fn settings(&self) -> &ClientSettings {
        &self.settings.client
    }
    fn connected_since(&self) -> Option<Instant> {
        self.conn.as_ref().map(|c| c.opened)
    }
    fn tls_without_host_check(&self) -> bool {
        self.settings.tls.as_ref().is_some_and(|t| !t.trust_all)
    }
    fn connect(&mut self) -> Result<(), String> {
        self.conn = Some(self.open().map_err(|e| e.to_string())?);
        Ok(())
    }
    fn call(&mut self, events: &[Event]) -> Result<(), String> {
        self.append_batch(events).map_err(|e| e.to_string())
    }
    fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.stream.tcp().shutdown(std::net::Shutdown::Both);
            self.core.counter.connection_closed.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<AvroSinkSettings>, Vec<String>) {
        let (s, d) = parse_for_test(pairs, Some("the avro sink"), AvroSinkSettings::parse);
        (s, d.lines())
    }

    #[test]
    fn flumes_defaults() {
        let (s, d) = parse(&[("hostname", "c1"), ("port", "4141")]);
        let s = s.unwrap();
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(s.client.batch_size, 100);
        assert_eq!(s.client.connect_timeout, Duration::from_secs(20));
        assert_eq!(s.client.request_timeout, Duration::from_secs(20));
        assert_eq!(s.client.reset_connection_interval, Duration::ZERO);
        assert_eq!(s.deflate, None);
        let (s, _) = parse(&[("hostname", "c1")]);
        assert!(s.is_none(), "port is required");
    }

    /// Corpus file 011 writes `batchSize = 1`: Flume ignores it (batch size 100).
    #[test]
    fn batch_size_is_flumes_key_and_batchsize_is_warned_about() {
        let (s, d) = parse(&[("hostname", "c1"), ("port", "4141"), ("batchSize", "1")]);
        assert_eq!(s.unwrap().client.batch_size, 100);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("batch-size, not batchSize"), "{d:?}");
        let (s, _) = parse(&[("hostname", "c1"), ("port", "4141"), ("batch-size", "7")]);
        assert_eq!(s.unwrap().client.batch_size, 7);
    }

    #[test]
    fn invalid_numbers_fall_back_to_flumes_defaults_with_a_warning() {
        let (s, d) = parse(&[
            ("hostname", "c1"),
            ("port", "4141"),
            ("batch-size", "0"),
            ("connect-timeout", "500"),
            ("request-timeout", "soon"),
            ("compression-type", "deflate"),
            ("compression-level", "11"),
            ("maxIoWorkers", "4"),
        ]);
        let s = s.unwrap();
        assert_eq!(s.client.batch_size, 100);
        assert_eq!(s.client.connect_timeout, Duration::from_secs(20));
        assert_eq!(s.client.request_timeout, Duration::from_secs(20));
        assert_eq!(s.deflate, Some(6));
        assert_eq!(d.len(), 5, "{d:?}");
    }

    #[test]
    fn ssl_with_deflate_describes_the_layer_order() {
        let (s, d) = parse(&[
            ("hostname", "c1"),
            ("port", "4141"),
            ("ssl", "true"),
            ("truststore", "/t/ca.pem"),
            ("truststore-type", "PEM"),
            ("compression-type", "deflate"),
            ("ssl-deflate-order", "flume-1.9"),
        ]);
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(s.layering, Layering::TlsOutside);
        let described = s.describe();
        assert!(described.contains(&("ssl-deflate-order".into(), "flume-1.9".into())));
        assert!(described.contains(&("truststore-type".into(), "PEM".into())));
        let (s, d) = parse(&[
            ("hostname", "c1"),
            ("port", "4141"),
            ("ssl-deflate-order", "flume-1.9"),
        ]);
        assert!(s.is_some());
        assert!(d[0].contains("has no effect"), "{d:?}");
    }
}
