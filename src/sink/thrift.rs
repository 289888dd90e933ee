//! Thrift sink — replaces Flume's `thrift` (`org.apache.flume.sink.ThriftSink`, with the Flume
//! SDK's `ThriftRpcClient`).
//!
//! Takes up to `batch-size` events and sends them in one `appendBatch` call of Flume's
//! `ThriftSourceProtocol` (`crate::rpc::thrift`: framed transport, `protocol = compact`
//! (Flume's default) or `binary`) to `hostname:port` — a Flume or rflume thrift source. The take
//! commits **only after the remote answered `OK`**; a refused connection, a timeout, a
//! `FAILED`/`ERROR`/`UNKNOWN` answer, a Thrift exception or a broken frame rolls the batch back
//! to the head of the channel, drops the connection, and the sink runner tries again with its
//! growing back-off: nothing is lost. At least once: a batch whose `OK` was lost is sent again.
//!
//! As Flume: one connection (`ThriftSink` sets the pool size to 1, so `maxConnections` is
//! ignored), one call at a time; `reset-connection-interval` reconnects periodically; invalid
//! numbers fall back to Flume's defaults with a warning. Differences: `connect-timeout` bounds
//! the connect and the TLS handshake (Flume's `ThriftRpcClient` ignores it and waits for the
//! OS); `kerberos = true` is not implemented and reported as unsupported (the agent refuses to
//! start rather than send without the authentication the file asks for).
//!
//! `ssl = true`: TLS under the framing, as Flume's `ThriftRpcClient` opens its `SSLSocket`, with
//! the trust store of `crate::rpc::tls` (`truststore` PKCS#12 or PEM, `truststore-password`,
//! `truststore-type`, the `FLUME_SSL_TRUSTSTORE_*` fallbacks; unset: the system's CA
//! certificates, where Flume uses the JVM's), `include-`/`exclude-protocols` (TLS 1.2 and 1.3;
//! Flume always excludes SSLv3, which rflume never offers). As Flume, the collector's host name is
//! not checked against its certificate, and `trust-all-certs` is ignored (Flume's thrift client
//! never reads it): rflume warns about both.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::info;

use super::rpc_sink::{RpcClient, RpcSink};
use super::{Sink, SinkCore, SinkError, SinkSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::rpc::client;
use crate::rpc::client::Stream;
use crate::rpc::settings::ClientSettings;
use crate::rpc::thrift::{self as wire, FrameDecoder, Protocol, Status as RpcStatus};
use crate::rpc::tls::TrustSettings;

#[derive(Clone, Debug, PartialEq)]
pub struct ThriftSinkSettings {
    /// The keys every RPC sink reads.
    pub client: ClientSettings,
    pub protocol: Protocol,
    /// `ssl = true`: what the sink trusts.
    pub tls: Option<TrustSettings>,
}

impl ThriftSinkSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let client = ClientSettings::parse(r, "thrift", 4353);
        // The client's reading of `protocol` only warns on a bad value (ThriftRpcClient).
        let protocol = wire::parse_protocol(r, false).unwrap_or(Protocol::Compact);
        if let Some((_, line)) = r.ignored("maxConnections") {
            r.warn(
                "maxConnections",
                Some(line),
                "Flume's thrift sink always uses one connection; ignored, as in Flume",
                Some("delete this line".into()),
            );
        }
        let tls = TrustSettings::parse_thrift(r);
        let kerberos = r.bool("kerberos", false);
        for key in ["client-principal", "client-keytab", "server-principal"] {
            r.known(key);
        }
        if kerberos {
            r.unsupported(
                "kerberos",
                None,
                "Kerberos (SASL GSSAPI) for the thrift sink is not implemented in rflume",
                Some("keep Flume for this hop".into()),
            );
        }
        if r.failed() {
            return None;
        }
        Some(ThriftSinkSettings {
            client: client?,
            protocol,
            tls: tls?,
        })
    }
}

impl Describe for ThriftSinkSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = self.client.describe();
        out.extend([
            ("protocol".into(), self.protocol.name().into()),
            ("kerberos".into(), "false".into()),
        ]);
        TrustSettings::describe(&self.tls, &mut out);
        out
    }
}

impl SinkSpec for ThriftSinkSettings {
    fn batch_size(&self) -> usize {
        self.client.batch_size
    }
    fn batch_size_key(&self, _lines: &std::collections::BTreeMap<String, usize>) -> &'static str {
        "batch-size"
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(RpcSink(ThriftSink {
            core,
            settings: self.clone(),
            conn: None,
            seq: 0,
            request: Vec::new(),
            read_buf: vec![0; 64 * 1024],
        })))
    }
}

struct Connection {
    stream: Stream,
    peer: SocketAddr,
    frames: FrameDecoder,
    opened: Instant,
}

pub struct ThriftSink {
    core: SinkCore,
    settings: ThriftSinkSettings,
    conn: Option<Connection>,
    seq: i32,
    // Reused between batches: no allocation per batch once grown.
    request: Vec<u8>,
    read_buf: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with {peer} failed: {what} (is the collector's certificate signed by a CA in the truststore, and ssl = true on its thrift source?)")]
    Tls { peer: SocketAddr, what: String },
    #[error("{peer}: {what}")]
    Io { peer: SocketAddr, what: String },
    #[error("Failed to deliver events. Server {peer} returned status : {} (not stored; the batch is sent again)", status.name())]
    Refused { peer: SocketAddr, status: RpcStatus },
}

impl ThriftSink {
    fn open(&self) -> Result<Connection, CallError> {
        let (host, port) = (
            self.settings.client.hostname.as_str(),
            self.settings.client.port,
        );
        let connected = client::connect(host, port, self.settings.client.connect_timeout)
            .map_err(|e| CallError::Connect(format!("{host}:{port}"), e))
            .and_then(|(stream, peer)| {
                Stream::secure(
                    stream,
                    self.settings.tls.as_ref(),
                    host,
                    self.settings.client.connect_timeout,
                )
                .map(|s| (s, peer))
                .map_err(|what| CallError::Tls { peer, what })
            });
        match connected {
            Ok((stream, peer)) => {
                let tls = if self.settings.tls.is_some() {
                    ", TLS"
                } else {
                    ""
                };
                info!(sink = %self.core.name, "Thrift sink {}: connected to {peer} ({} protocol{tls})", self.core.name, self.settings.protocol.name());
                self.core.counter.connection_created.inc();
                Ok(Connection {
                    stream,
                    peer,
                    frames: FrameDecoder::new(),
                    opened: Instant::now(),
                })
            }
            Err(e) => {
                self.core.counter.connection_failed.inc();
                Err(e)
            }
        }
    }

    /// Sends one `appendBatch` and waits for its answer, within `request-timeout`.
    fn append_batch(&mut self, events: &[Event]) -> Result<(), CallError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(CallError::Connect("nowhere".into(), "no connection".into()));
        };
        let deadline = Instant::now() + self.settings.client.request_timeout;
        let peer = conn.peer;
        let io = |what: String| CallError::Io { peer, what };
        self.seq = self.seq.wrapping_add(1);
        self.request.clear();
        wire::write_append_batch(self.settings.protocol, self.seq, events, &mut self.request)
            .map_err(|e| io(e.to_string()))?;
        client::send(&mut conn.stream, &self.request, deadline).map_err(io)?;
        let frame = loop {
            if let Some(f) = conn.frames.next_frame().map_err(|e| io(e.to_string()))? {
                break f;
            }
            let n = client::receive(&mut conn.stream, &mut self.read_buf, deadline).map_err(io)?;
            conn.frames.push(&self.read_buf[..n]);
        };
        match wire::read_status(&frame, self.settings.protocol, self.seq)
            .map_err(|e| io(e.to_string()))?
        {
            RpcStatus::Ok => Ok(()),
            status => Err(CallError::Refused { peer, status }),
        }
    }
}

impl RpcClient for ThriftSink {
    const KIND: &'static str = "thrift";
    const CONNECT_FAILURE: &'static str = "Unable to create Thrift Rpc client";
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
        self.settings.tls.is_some()
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
            c.stream.close();
            self.core.counter.connection_closed.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::{Diagnostics, Severity};
    use std::time::Duration;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<ThriftSinkSettings>, Diagnostics) {
        parse_for_test(pairs, Some("thrift sink"), ThriftSinkSettings::parse)
    }

    #[test]
    fn flumes_defaults_and_lenient_numbers() {
        let (s, d) = parse(&[("hostname", "c1"), ("port", "4353")]);
        let s = s.unwrap();
        assert_eq!(
            (s.client.batch_size, s.client.request_timeout, s.protocol),
            (100, Duration::from_secs(20), Protocol::Compact)
        );
        assert!(d.items.is_empty(), "{d:?}");
        let (s, d) = parse(&[
            ("hostname", "c1"),
            ("port", "4353"),
            ("batch-size", "0"),
            ("request-timeout", "10"),
            ("protocol", "json"),
            ("batchSize", "5"),
            ("maxConnections", "4"),
        ]);
        let s = s.unwrap();
        assert_eq!(
            (s.client.batch_size, s.client.request_timeout, s.protocol),
            (100, Duration::from_secs(20), Protocol::Compact)
        );
        assert_eq!(d.count(Severity::Warning), 5, "{d:?}");
        let (s, _) = parse(&[("hostname", "c1"), ("port", "1"), ("protocol", "binary")]);
        assert_eq!(s.unwrap().protocol, Protocol::Binary);
    }

    #[test]
    fn kerberos_is_reported_unsupported() {
        let (s, d) = parse(&[("hostname", "c1"), ("port", "1"), ("kerberos", "true")]);
        assert!(s.is_none());
        assert_eq!(d.count(Severity::Unsupported), 1, "{d:?}");
    }

    #[test]
    fn ssl_reads_flumes_truststore_keys_and_ignores_trust_all_certs() {
        let (s, d) = parse(&[("hostname", "c1"), ("port", "1"), ("ssl", "true")]);
        let tls = s.expect("parses").tls.expect("ssl on");
        assert!(tls.truststore.is_none() && !tls.trust_all, "{d:?}");
        let (s, d) = parse(&[
            ("hostname", "c1"),
            ("port", "1"),
            ("ssl", "true"),
            ("truststore", "/etc/ca.pem"),
            ("truststore-type", "PEM"),
            ("trust-all-certs", "true"),
            ("exclude-protocols", "SSLv3 TLSv1.3"),
        ]);
        let s = s.expect("parses");
        let tls = s.tls.as_ref().expect("ssl on");
        // Flume's ThriftRpcClient never reads trust-all-certs: the truststore still decides.
        assert!(!tls.trust_all);
        assert_eq!(
            tls.truststore
                .as_ref()
                .map(|t| t.path.display().to_string()),
            Some("/etc/ca.pem".into())
        );
        assert!(
            d.items
                .iter()
                .any(|i| i.to_string().contains("ignored, as Flume's thrift sink")),
            "{d:?}"
        );
        let described = s.describe();
        assert!(described.contains(&("ssl".into(), "true".into())));
        // A JKS truststore (Flume's default type) is refused with the conversion command.
        let (s, d) = parse(&[
            ("hostname", "c1"),
            ("port", "1"),
            ("ssl", "true"),
            ("truststore", "/etc/ts.jks"),
        ]);
        assert!(s.is_none());
        assert!(
            d.items.iter().any(|i| i.to_string().contains("keytool")),
            "{d:?}"
        );
    }
}
