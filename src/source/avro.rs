//! Avro source — replaces Flume's `avro` (`org.apache.flume.source.AvroSource`).
//!
//! Listens on `bind:port` for Flume's Avro RPC (`AvroSourceProtocol` over Avro IPC with Netty
//! framing, `crate::rpc`): the avro sinks of upstream Flume (or rflume) agents, `flume-ng
//! avro-client`, the Flume SDK's `RpcClient`, or any Avro IPC client such as avsc. Each `append`
//! or `appendBatch` is one put transaction, and the client is answered `OK` **only after every
//! required channel committed the events**; a batch that could not be stored is answered `FAILED`
//! (the client keeps its events and sends them again). A full channel is backpressure: the answer
//! waits up to [`PUT_TIMEOUT`] for the put to commit, then says `FAILED`, so the upstream agent's
//! events stay in its own channel and its sink retries (never a timeout on its side while the put
//! still goes on, which would store the batch twice).
//!
//! Differences from Flume, on purpose:
//! * a batch larger than the channel's `transactionCapacity` is stored in several transactions
//!   (Flume answers `FAILED` to it forever: the upstream sink never gets past it);
//! * `threads` is accepted and reported: one thread serves every connection here;
//! * `ipFilterRules` support `ip` patterns and `name:localhost`; other `name` patterns (reverse
//!   DNS of every client) are not implemented yet: the source is reported as unsupported, so the
//!   agent refuses to start rather than accept what it should not.
//!
//! `ssl = true` serves TLS with the key store of `crate::rpc::tls` (PKCS#12 or PEM; a JKS one is
//! refused with the `keytool` command that converts it). With `compression-type = deflate` as
//! well, the order of the two layers is the one Flume 1.10 and later use (the zlib stream on the
//! wire, TLS inside it) unless rflume's `ssl-deflate-order = flume-1.9` asks for Flume 1.9's (TLS
//! on the wire, zlib inside): the upstream agents' version decides, as the two do not interoperate.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use super::listener::accept_loop;
use super::rpc_put::{Called, RpcPut};
use super::runtime::runtime;
use super::{ChannelProcessor, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::rpc::deflate::{Deflater, Inflater, ZlibStream, DEFAULT_LEVEL};
use crate::rpc::frame::{encode_packet, FrameDecoder};
use crate::rpc::ipc::{write_error, write_status, Call, KnownClients, ServerConnection, Status};
use crate::rpc::tls::{Layering, TlsSettings, LAYERING_KEY};
use crate::rpc::{settings, RpcError};
use crate::shutdown::Shutdown;

pub use super::rpc_put::PUT_TIMEOUT;

/// How long a client may take over its TLS handshake (Netty's `SslHandler` default, 10 s).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Flume's `threads` default: 0, no limit on the worker threads.
pub const DEFAULT_THREADS: u64 = 0;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Deflate,
}

/// One rule of `ipFilterRules` (`allow|deny:ip|name:pattern`), Flume's `PatternRule`.
#[derive(Clone, Debug)]
pub struct IpRule {
    pub allow: bool,
    /// The rule as written, for `describe` and logs.
    pub text: String,
    /// `ip` rules: the pattern as Flume turns it into a Java regex (`.` literal, `*` any run,
    /// `?` one character), matched against the whole textual address.
    ip: Option<regex::Regex>,
    /// `name:localhost`: the loopback addresses.
    localhost: bool,
}

impl PartialEq for IpRule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl IpRule {
    fn matches(&self, addr: IpAddr) -> bool {
        if self.localhost && addr.is_loopback() {
            return true;
        }
        let text = match addr {
            // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; Java's
            // getHostAddress gives a.b.c.d.
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            },
            IpAddr::V4(v4) => v4.to_string(),
        };
        self.ip.as_ref().is_some_and(|re| re.is_match(&text))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AvroSourceSettings {
    pub bind: String,
    pub port: u16,
    pub threads: u64,
    pub compression: Compression,
    pub ip_filter: bool,
    pub ip_filter_rules: Vec<IpRule>,
    pub tls: Option<TlsSettings>,
    pub layering: Layering,
}

impl AvroSourceSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let bind = r.required("bind", "e.g. bind = 0.0.0.0");
        let port = settings::port(r, "e.g. port = 41414", true);
        // Flume: a non-integer is logged and the default used.
        let threads = match r.raw("threads") {
            None => DEFAULT_THREADS,
            Some((v, line)) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 0 => n as u64,
                _ => {
                    r.warn(
                        "threads",
                        Some(line),
                        format!("'{v}' is not a thread count; Flume uses its default, 0 (no limit), and so does rflume"),
                        Some("write a whole number".into()),
                    );
                    DEFAULT_THREADS
                }
            },
        };
        let compression = if settings::deflate(r) {
            Compression::Deflate
        } else {
            Compression::None
        };
        let ip_filter = r.bool("ipFilter", false);
        let mut ip_filter_rules = Vec::new();
        let rules = r.raw("ipFilterRules");
        if ip_filter {
            match rules {
                Some((text, line)) if !text.trim().is_empty() => {
                    for rule in text.split(',') {
                        match parse_rule(rule.trim()) {
                            Ok(rule) => ip_filter_rules.push(rule),
                            Err(RuleProblem::Invalid) => r.error(
                                "ipFilterRules",
                                Some(line),
                                format!("Invalid ipFilter patternRule '{}' should look like <'allow'  or 'deny'>:<'ip' or 'name'>:<pattern>", rule.trim()),
                                None,
                            ),
                            Err(RuleProblem::Name) => r.unsupported(
                                "ipFilterRules",
                                Some(line),
                                format!("'{}': name patterns other than localhost (a reverse DNS lookup of every client) are not supported by rflume", rule.trim()),
                                Some("use ip patterns (allow:ip:10.1.*) instead".into()),
                            ),
                        }
                    }
                }
                _ => r.error(
                    "ipFilterRules",
                    None,
                    "ipFilter is configured with true but ipFilterRules is not defined",
                    Some("e.g. ipFilterRules = allow:ip:127.*,deny:ip:*".into()),
                ),
            }
        }
        let tls = TlsSettings::parse(r);
        let layering = Layering::parse(
            r,
            matches!(tls, Some(Some(_))),
            compression == Compression::Deflate,
        );
        if r.failed() {
            return None;
        }
        Some(AvroSourceSettings {
            bind: bind?,
            port: port?,
            threads,
            compression,
            ip_filter,
            ip_filter_rules,
            tls: tls?,
            layering,
        })
    }

    /// Whether Flume's `RuleBasedIpFilter` lets `addr` in: the first matching rule decides, no
    /// match lets it in.
    fn admits(&self, addr: IpAddr) -> bool {
        if !self.ip_filter {
            return true;
        }
        self.ip_filter_rules
            .iter()
            .find(|r| r.matches(addr))
            .is_none_or(|r| r.allow)
    }
}

enum RuleProblem {
    Invalid,
    Name,
}

fn parse_rule(text: &str) -> Result<IpRule, RuleProblem> {
    let mut parts = text.splitn(3, ':');
    let (Some(access), Some(kind), Some(pattern)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(RuleProblem::Invalid);
    };
    let allow = match access {
        "allow" => true,
        "deny" => false,
        _ => return Err(RuleProblem::Invalid),
    };
    match kind {
        "name" if pattern == "localhost" => Ok(IpRule {
            allow,
            text: text.to_string(),
            ip: None,
            localhost: true,
        }),
        "name" => Err(RuleProblem::Name),
        "ip" => {
            // Flume's PatternRule.addRule: `.` → `\.`, `*` → `.*`, `?` → `.`; matches() is a
            // whole-string match.
            let re = pattern
                .replace('.', "\\.")
                .replace('*', ".*")
                .replace('?', ".");
            let re = regex::Regex::new(&format!("^(?:{re})$")).map_err(|_| RuleProblem::Invalid)?;
            Ok(IpRule {
                allow,
                text: text.to_string(),
                ip: Some(re),
                localhost: false,
            })
        }
        _ => Err(RuleProblem::Invalid),
    }
}

impl SourceSpec for AvroSourceSettings {
    fn batch_size(&self) -> usize {
        // The client decides its batch size; a batch larger than a channel's transactionCapacity
        // is put in several transactions, so any capacity works.
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(AvroSource {
            name: name.to_string(),
            settings: self.clone(),
        })
    }
}

impl Describe for AvroSourceSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("bind".into(), self.bind.clone()),
            ("port".into(), self.port.to_string()),
            ("threads".into(), self.threads.to_string()),
            (
                "compression-type".into(),
                match self.compression {
                    Compression::None => "none".into(),
                    Compression::Deflate => "deflate".into(),
                },
            ),
            ("ipFilter".into(), self.ip_filter.to_string()),
            (
                "ipFilterRules".into(),
                self.ip_filter_rules
                    .iter()
                    .map(|r| r.text.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        TlsSettings::describe(&self.tls, &mut out);
        out.push((LAYERING_KEY.into(), self.layering.describe().into()));
        out
    }
}

pub struct AvroSource {
    name: String,
    settings: AvroSourceSettings,
}

/// What every connection of one source shares.
struct Shared {
    name: String,
    settings: AvroSourceSettings,
    put: RpcPut,
    known: KnownClients,
    shutdown: Shutdown,
    tls: Option<tokio_native_tls::TlsAcceptor>,
}

impl Source for AvroSource {
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        let failed = |message: String| SourceError::Failed {
            source_name: self.name.clone(),
            message,
        };
        let rt = runtime(&self.name)?;
        // The key store is read before the port opens: a bad one fails the source at once.
        let tls = match &self.settings.tls {
            Some(t) => Some(t.acceptor().map_err(&failed)?),
            None => None,
        };
        let addr = format!("{}:{}", self.settings.bind, self.settings.port);
        let listener = rt
            .block_on(TcpListener::bind(&addr))
            .map_err(|e| failed(format!("cannot listen on {addr}: {e}")))?;
        info!(source = %self.name, "Avro source {} started on {addr}.", self.name);
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            settings: self.settings.clone(),
            put: RpcPut::new(&self.name, processor, &shutdown),
            known: KnownClients::default(),
            shutdown: shutdown.clone(),
            tls,
        });
        rt.block_on(async {
            let admit = |peer: SocketAddr| {
                let admitted = shared.settings.admits(peer.ip());
                if !admitted {
                    info!(source = %shared.name, "connection from {peer} refused by ipFilterRules");
                }
                admitted
            };
            let serve = |stream, peer| {
                let shared = shared.clone();
                async move {
                    if let Err(e) = connection(stream, peer, &shared).await {
                        warn!(source = %shared.name, "connection from {peer}: {e}");
                    }
                }
            };
            accept_loop(
                &self.name,
                listener,
                &shutdown,
                Some(shared.put.counter()),
                admit,
                serve,
            )
            .await
            .finish(&shutdown)
            .await
        });
        info!(source = %self.name, "Avro source {} stopped.", self.name);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}; closing the connection")]
    Rpc(#[from] RpcError),
    #[error("TLS handshake failed: {0} (does the client have ssl = true, and the same ssl-deflate-order / Flume version's layering?)")]
    Handshake(String),
}

/// Sets up one client connection's layers (TLS, deflate, in the configured order) and serves it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<(), ServeError> {
    let _ = stream.set_nodelay(true);
    let deflate = shared.settings.compression == Compression::Deflate;
    let Some(acceptor) = shared.tls.as_ref() else {
        return serve(stream, deflate, peer, shared).await;
    };
    match (deflate, shared.settings.layering) {
        (true, Layering::DeflateOutside) => {
            let zlib = ZlibStream::new(stream, DEFAULT_LEVEL);
            match handshake(acceptor, zlib, shared).await? {
                Some(tls) => serve(tls, false, peer, shared).await,
                None => Ok(()),
            }
        }
        _ => match handshake(acceptor, stream, shared).await? {
            Some(tls) => serve(tls, deflate, peer, shared).await,
            None => Ok(()),
        },
    }
}

/// The server side of the TLS handshake, within [`HANDSHAKE_TIMEOUT`]; `None` when the agent
/// stops meanwhile.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &tokio_native_tls::TlsAcceptor,
    stream: S,
    shared: &Arc<Shared>,
) -> Result<Option<tokio_native_tls::TlsStream<S>>, ServeError> {
    tokio::select! {
        _ = shared.shutdown.stopped() => Ok(None),
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match done {
            Ok(Ok(tls)) => Ok(Some(tls)),
            Ok(Err(e)) => Err(ServeError::Handshake(e.to_string())),
            Err(_) => Err(ServeError::Handshake(format!(
                "no handshake within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ))),
        },
    }
}

/// Serves one client connection: requests are answered in order, one at a time (Flume's
/// clients wait for each answer). `deflate`: the zlib stream is this function's to undo (TLS is
/// under it, or there is no TLS).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    deflate: bool,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<(), ServeError> {
    let mut inflater = deflate.then(Inflater::new);
    let mut deflater = deflate.then(|| Deflater::new(DEFAULT_LEVEL));
    let mut conn = ServerConnection::new(shared.known.clone());
    let mut frames = FrameDecoder::new();
    let mut compressed = bytes::BytesMut::new();
    let mut plain = Vec::new();
    let mut reply = Vec::new();
    let mut packet_bytes = Vec::new();
    let mut wire = Vec::new();
    loop {
        while let Some(packet) = frames.next_packet()? {
            reply.clear();
            answer(&mut conn, &packet.payload, &mut reply, peer, shared).await?;
            packet_bytes.clear();
            encode_packet(packet.serial, &reply, &mut packet_bytes);
            let out = match deflater.as_mut() {
                Some(d) => {
                    wire.clear();
                    d.compress(&packet_bytes, &mut wire)?;
                    &wire
                }
                None => &packet_bytes,
            };
            stream.write_all(out).await?;
            // TLS or zlib layers may hold bytes until flushed.
            stream.flush().await?;
        }
        let n = match inflater.as_mut() {
            None => tokio::select! {
                _ = shared.shutdown.stopped() => return Ok(()),
                n = stream.read_buf(frames.buffer()) => n?,
            },
            Some(inflater) => {
                compressed.clear();
                compressed.reserve(64 * 1024);
                let n = tokio::select! {
                    _ = shared.shutdown.stopped() => return Ok(()),
                    n = stream.read_buf(&mut compressed) => n?,
                };
                plain.clear();
                inflater.inflate(&compressed, &mut plain)?;
                frames.push(&plain);
                n
            }
        };
        if n == 0 {
            return Ok(());
        }
    }
}

/// Reads one request and writes its whole answer into `reply`.
async fn answer(
    conn: &mut ServerConnection,
    payload: &[u8],
    reply: &mut Vec<u8>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<(), RpcError> {
    let (events, called) = match conn.read_request(payload, reply) {
        Ok(None) | Ok(Some(Call::Ping)) => return Ok(()),
        Ok(Some(Call::Append(e))) => (vec![e], Called::Append),
        Ok(Some(Call::AppendBatch(events))) => (events, Called::AppendBatch),
        Err(RpcError::NoSuchMessage(m)) => {
            // As Java's Responder: the call fails, the connection stays.
            warn!(source = %shared.name, "{peer} called {m}, which Flume's AvroSourceProtocol does not have");
            return write_error(&format!("No such remote message: {m}"), reply);
        }
        Err(e) => return Err(e),
    };
    let stored = shared.put.store(events, called).await;
    write_status(if stored { Status::Ok } else { Status::Failed }, reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Diagnostics;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<AvroSourceSettings>, Diagnostics) {
        parse_for_test(pairs, Some("avro source"), AvroSourceSettings::parse)
    }

    #[test]
    fn flumes_defaults_and_leniency() {
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "4141")]);
        let s = s.unwrap();
        assert_eq!(
            (s.threads, s.compression.clone(), s.ip_filter),
            (0, Compression::None, false)
        );
        assert!(d.items.is_empty(), "{d:?}");
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "4141"),
            ("threads", "many"),
            ("compression-type", "gzip"),
        ]);
        let s = s.unwrap();
        assert_eq!((s.threads, s.compression), (0, Compression::None));
        assert_eq!(d.count(crate::config::diag::Severity::Warning), 2, "{d:?}");
        let (s, _) = parse(&[("bind", "0.0.0.0")]);
        assert!(s.is_none(), "port is required");
    }

    #[test]
    fn ip_filter_rules_decide_in_order_as_flumes_pattern_rule() {
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "4141"),
            ("ipFilter", "true"),
            (
                "ipFilterRules",
                "deny:ip:10.0.0.?,allow:ip:10.*, deny:name:localhost",
            ),
        ]);
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert!(!s.admits(ip("10.0.0.7")));
        assert!(s.admits(ip("10.0.0.17")), "? is one character");
        assert!(s.admits(ip("10.9.8.7")));
        assert!(!s.admits(ip("127.0.0.1")));
        assert!(!s.admits(ip("::1")));
        assert!(s.admits(ip("192.168.1.1")), "no rule matches: admitted");
        assert!(
            !s.admits(ip("::ffff:10.0.0.1")),
            "IPv4-mapped reads as IPv4"
        );

        let (s, _) = parse(&[("bind", "0.0.0.0"), ("port", "1"), ("ipFilter", "true")]);
        assert!(s.is_none(), "ipFilter without rules fails, as Flume");
        let (s, _) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "1"),
            ("ipFilter", "true"),
            ("ipFilterRules", "permit:ip:*"),
        ]);
        assert!(s.is_none());
    }

    #[test]
    fn name_patterns_are_reported_unsupported() {
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "1"),
            ("ipFilter", "true"),
            ("ipFilterRules", "allow:name:*.example.com"),
        ]);
        assert!(s.is_none());
        assert_eq!(
            d.count(crate::config::diag::Severity::Unsupported),
            1,
            "{d:?}"
        );
    }

    #[test]
    fn ssl_reads_flumes_keystore_keys_and_the_layer_order() {
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "1"),
            ("ssl", "true"),
            ("keystore", "/etc/flume/server.p12"),
            ("keystore-password", "secret"),
            ("compression-type", "deflate"),
        ]);
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        assert!(s.tls.is_some());
        assert_eq!(
            s.layering,
            Layering::DeflateOutside,
            "Flume 1.11's order by default"
        );
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "1"), ("ssl", "true")]);
        assert!(s.is_none());
        assert!(
            format!("{d:?}").contains("keystore must be specified"),
            "{d:?}"
        );
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "1"),
            ("ssl", "true"),
            ("keystore", "/etc/flume/server.jks"),
            ("keystore-password", "secret"),
        ]);
        assert!(s.is_none());
        assert!(
            format!("{d:?}").contains("keytool -importkeystore"),
            "{d:?}"
        );
    }
}
