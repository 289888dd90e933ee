//! Thrift source — replaces Flume's `thrift` (`org.apache.flume.source.ThriftSource`).
//!
//! Listens on `bind:port` for Flume's Thrift RPC (`ThriftSourceProtocol` over the framed
//! transport, `protocol = compact` (Flume's default) or `binary`, `crate::rpc::thrift`): the
//! thrift sinks of upstream Flume (or rflume) agents, the Flume SDK's `ThriftRpcClient`, or any
//! Thrift client built from Flume's `flume.thrift`. Each `append` or `appendBatch` is one put,
//! and the client is answered `OK` **only after every required channel committed the events**;
//! a batch that could not be stored within [`rpc_put::PUT_TIMEOUT`] is answered `FAILED` (the
//! client keeps its events and sends them again).
//!
//! TLS (`ssl = true`, `keystore*`, as Flume's `SslContextAwareAbstractSource`) is served by
//! [`TlsSettings`] under the framing, as Flume's `TSSLTransportFactory` server socket does.
//!
//! Differences from Flume, on purpose:
//! * a batch larger than the channel's `transactionCapacity` is stored in several transactions
//!   (Flume answers `FAILED` to it forever);
//! * `threads` is accepted and reported: one thread serves every connection here;
//! * `protocol` other than compact/binary is refused, as Flume; written `BINARY` (any case but
//!   lower), Flume's check accepts it and its server still speaks compact: rflume does the same
//!   and warns;
//! * `kerberos = true` (SASL GSSAPI) is not implemented: reported as unsupported, so the agent
//!   refuses to start rather than accept unauthenticated clients.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_native_tls::TlsAcceptor;
use tracing::{info, warn};

use super::listener::accept_loop;
use super::rpc_put::{Called, RpcPut};
use super::runtime::runtime;
use super::tls::TlsSettings;
use super::{ChannelProcessor, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::rpc::settings;
use crate::rpc::thrift::{self as wire, Call, FrameDecoder, Protocol, Status, ThriftError};
use crate::shutdown::Shutdown;

/// Flume's `threads` default: 0, no limit.
pub const DEFAULT_THREADS: u64 = 0;

#[derive(Clone, Debug, PartialEq)]
pub struct ThriftSourceSettings {
    pub bind: String,
    pub port: u16,
    pub threads: u64,
    pub protocol: Protocol,
    pub tls: Option<TlsSettings>,
}

/// `kerberos` and its keys: SASL GSSAPI is not implemented, so `kerberos = true` makes the
/// component unsupported (it would otherwise talk to a secured peer in a way it refuses).
pub fn refuse_kerberos(r: &mut PropReader, keys: &[&str], what: &str) -> bool {
    let kerberos = r.bool("kerberos", false);
    for key in keys {
        r.known(key);
    }
    if kerberos {
        r.unsupported(
            "kerberos",
            None,
            format!("Kerberos (SASL GSSAPI) for the {what} is not implemented in rflume"),
            Some("keep Flume for this hop, or secure it with ssl = true instead".into()),
        );
    }
    kerberos
}

impl ThriftSourceSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let port = settings::port(r, "e.g. port = 4353", true);
        let bind = r.required("bind", "e.g. bind = 0.0.0.0");
        // Flume: a non-integer is logged and the default kept.
        let threads = match r.raw("threads") {
            None => DEFAULT_THREADS,
            Some((v, line)) => match v.trim().parse::<i64>() {
                Ok(n) => n.max(0) as u64,
                Err(_) => {
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
        let protocol = wire::parse_protocol(r, true);
        let tls = TlsSettings::parse(r);
        refuse_kerberos(r, &["agent-principal", "agent-keytab"], "thrift source");
        if r.failed() {
            return None;
        }
        Some(ThriftSourceSettings {
            bind: bind?,
            port: port?,
            threads,
            protocol: protocol?,
            tls: tls?,
        })
    }
}

impl SourceSpec for ThriftSourceSettings {
    fn batch_size(&self) -> usize {
        // The client decides its batch size; a larger batch is put in several transactions.
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(ThriftSource {
            name: name.to_string(),
            settings: self.clone(),
        })
    }
}

impl Describe for ThriftSourceSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("bind".into(), self.bind.clone()),
            ("port".into(), self.port.to_string()),
            ("threads".into(), self.threads.to_string()),
            ("protocol".into(), self.protocol.name().into()),
        ];
        TlsSettings::describe(&self.tls, &mut out);
        out.push(("kerberos".into(), "false".into()));
        out
    }
}

pub struct ThriftSource {
    name: String,
    settings: ThriftSourceSettings,
}

/// What every connection of one source shares.
struct Shared {
    name: String,
    protocol: Protocol,
    put: RpcPut,
    shutdown: Shutdown,
}

impl Source for ThriftSource {
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
        let acceptor: Option<TlsAcceptor> = match &self.settings.tls {
            Some(t) => Some(t.acceptor().map_err(failed)?),
            None => None,
        };
        let addr = format!("{}:{}", self.settings.bind, self.settings.port);
        let listener = rt
            .block_on(TcpListener::bind(&addr))
            .map_err(|e| failed(format!("cannot listen on {addr}: {e}")))?;
        info!(source = %self.name, "Thrift source {} started on {addr} ({} protocol{}).",
            self.name, self.settings.protocol.name(), if acceptor.is_some() { ", TLS" } else { "" });
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            protocol: self.settings.protocol,
            put: RpcPut::new(&self.name, processor, &shutdown),
            shutdown: shutdown.clone(),
        });
        rt.block_on(async {
            let connection = |stream: tokio::net::TcpStream, peer| {
                let _ = stream.set_nodelay(true);
                let (shared, acceptor) = (shared.clone(), acceptor.clone());
                async move {
                    let served = match acceptor {
                        None => serve(stream, peer, &shared).await,
                        Some(a) => match a.accept(stream).await {
                            Ok(tls) => serve(tls, peer, &shared).await,
                            Err(e) => Err(ServeError::Tls(e.to_string())),
                        },
                    };
                    if let Err(e) = served {
                        warn!(source = %shared.name, "thrift connection from {peer}: {e}");
                    }
                }
            };
            accept_loop(
                &self.name,
                listener,
                &shutdown,
                Some(shared.put.counter()),
                |_| true,
                connection,
            )
            .await
            .finish(&shutdown)
            .await
        });
        info!(source = %self.name, "Thrift source {} stopped.", self.name);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}; closing the connection")]
    Thrift(#[from] ThriftError),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// Serves one connection: requests are answered in order, one at a time (Flume's clients wait
/// for each answer).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<(), ServeError> {
    let mut frames = FrameDecoder::new();
    let mut reply = Vec::new();
    loop {
        while let Some(frame) = frames.next_frame()? {
            let request = wire::read_request(&frame, shared.protocol)?;
            drop(frame);
            reply.clear();
            match request.call {
                Call::Unknown(method) => {
                    // As Java's processor: an exception answer, the connection stays.
                    warn!(source = %shared.name, "{peer} called {method}, which Flume's ThriftSourceProtocol does not have");
                    wire::write_unknown_method(shared.protocol, &method, request.seq, &mut reply)?;
                }
                Call::Append(event) => {
                    let status = stored(vec![event], Called::Append, shared).await;
                    wire::write_status(
                        shared.protocol,
                        &request.name,
                        request.seq,
                        status,
                        &mut reply,
                    )?;
                }
                Call::AppendBatch(events) => {
                    let status = stored(events, Called::AppendBatch, shared).await;
                    wire::write_status(
                        shared.protocol,
                        &request.name,
                        request.seq,
                        status,
                        &mut reply,
                    )?;
                }
            }
            stream.write_all(&reply).await?;
            stream.flush().await?;
        }
        let n = tokio::select! {
            _ = shared.shutdown.stopped() => return Ok(()),
            n = stream.read_buf(frames.buffer()) => n?,
        };
        if n == 0 {
            return Ok(());
        }
    }
}

/// Puts `events` into the channels and says what the client is told.
async fn stored(events: Vec<crate::event::Event>, called: Called, shared: &Shared) -> Status {
    if shared.put.store(events, called).await {
        Status::Ok
    } else {
        Status::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::{Diagnostics, Severity};

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<ThriftSourceSettings>, Diagnostics) {
        parse_for_test(pairs, Some("thrift source"), ThriftSourceSettings::parse)
    }

    #[test]
    fn flumes_defaults_and_its_protocol_quirk() {
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "4353")]);
        let s = s.unwrap();
        assert_eq!(
            (s.threads, s.protocol, s.tls.is_none()),
            (0, Protocol::Compact, true)
        );
        assert!(d.items.is_empty(), "{d:?}");
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "1"), ("protocol", "binary")]);
        assert_eq!(s.unwrap().protocol, Protocol::Binary);
        assert!(d.items.is_empty(), "{d:?}");
        // Flume's check ignores case; its factory compares exactly: compact on the wire.
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "1"), ("protocol", "BINARY")]);
        assert_eq!(s.unwrap().protocol, Protocol::Compact);
        assert_eq!(d.count(Severity::Warning), 1, "{d:?}");
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "1"), ("protocol", "json")]);
        assert!(s.is_none());
        assert_eq!(d.count(Severity::Error), 1, "{d:?}");
        let (s, _) = parse(&[("port", "1")]);
        assert!(s.is_none(), "bind is required");
    }

    #[test]
    fn kerberos_is_reported_unsupported_and_ssl_needs_a_keystore() {
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "1"),
            ("kerberos", "true"),
            ("agent-principal", "flume/_HOST@EXAMPLE.COM"),
            ("agent-keytab", "/etc/flume.keytab"),
        ]);
        assert!(s.is_none());
        assert_eq!(d.count(Severity::Unsupported), 1, "{d:?}");
        let (s, d) = parse(&[("bind", "0.0.0.0"), ("port", "1"), ("ssl", "true")]);
        assert!(s.is_none());
        assert_eq!(d.count(Severity::Error), 1, "{d:?}");
        let (s, d) = parse(&[
            ("bind", "0.0.0.0"),
            ("port", "1"),
            ("ssl", "true"),
            ("keystore", "/etc/flume/server.pem"),
            ("keystore-type", "PEM"),
        ]);
        assert!(s.unwrap().tls.is_some(), "{d:?}");
    }
}
