//! Why a TLS handshake with a broker failed, in words: librdkafka reports every certificate
//! problem as "certificate verify failed … verify that ssl.ca.location is correctly configured",
//! whether the broker's certificate expired, was signed by another CA or names another host. When
//! it does, rflume makes one TLS handshake of its own with the same trust settings (OpenSSL
//! through `native-tls`, as librdkafka uses OpenSSL) and logs OpenSSL's verification result —
//! "certificate has expired", "self-signed certificate in certificate chain", "hostname mismatch"
//! — which `errors::explain` turns into the fix. It runs on its own thread (a handshake can take
//! seconds against a remote broker), at most once per broker per `REPEAT`.

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::error;

use super::errors::explain;
use crate::kafka::producer_props::ProducerProps;

/// A broker is diagnosed again at most this often (librdkafka retries every few seconds).
const REPEAT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The trust settings of a sink's producer, for the diagnosis.
#[derive(Clone, Debug)]
pub(super) struct TlsProbe {
    sink: String,
    /// `ssl.ca.location`: a PEM file (or bundle); `None`: the system's CAs.
    ca_location: Option<String>,
    /// `ssl.endpoint.identification.algorithm = none`.
    skip_hostname: bool,
    last: std::sync::Arc<Mutex<HashMap<String, Instant>>>,
}

impl TlsProbe {
    /// `None` when the producer does not use TLS.
    pub(super) fn new(sink: &str, props: &ProducerProps) -> Option<Self> {
        let protocol = props.get("security.protocol")?.to_ascii_uppercase();
        if protocol != "SSL" && protocol != "SASL_SSL" {
            return None;
        }
        Some(TlsProbe {
            sink: sink.to_string(),
            ca_location: props.get("ssl.ca.location").map(str::to_string),
            skip_hostname: props
                .get("ssl.endpoint.identification.algorithm")
                .is_some_and(|v| v.eq_ignore_ascii_case("none")),
            last: Default::default(),
        })
    }

    /// Called with librdkafka's error text; diagnoses the broker it names, in the background.
    pub(super) fn on_error(&self, reason: &str) {
        if !reason.contains("certificate verify failed") {
            return;
        }
        let Some(broker) = broker_of(reason) else {
            return;
        };
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(&broker).is_some_and(|t| t.elapsed() < REPEAT) {
                return;
            }
            last.insert(broker.clone(), Instant::now());
        }
        let probe = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tls-probe".into())
            .spawn(move || {
                if let Some(why) = probe.diagnose(&broker) {
                    let hint = explain(None, &why).unwrap_or(
                        "check kafka.producer.ssl.truststore.location / ssl.ca.location and the \
                         broker's certificate",
                    );
                    error!(
                        sink = probe.sink.as_str(),
                        "Kafka: TLS handshake with {broker} checked by rflume: {why}: {hint}"
                    );
                }
            });
        // No thread, no diagnosis: librdkafka's own message has been logged already.
        drop(spawned);
    }

    /// OpenSSL's verdict on the broker's certificate with this sink's trust settings, or `None`
    /// when the handshake works (or the broker cannot be reached at all).
    fn diagnose(&self, broker: &str) -> Option<String> {
        let (host, _) = broker.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(ca) = &self.ca_location {
            let pem = std::fs::read(ca).ok()?;
            for cert in pem_certificates(&pem) {
                if let Ok(c) = native_tls::Certificate::from_pem(&cert) {
                    builder.add_root_certificate(c);
                }
            }
            // librdkafka trusts only ssl.ca.location when it is set.
            builder.disable_built_in_roots(true);
        }
        builder.danger_accept_invalid_hostnames(self.skip_hostname);
        let connector = builder.build().ok()?;
        let addr = broker.to_socket_addrs().ok()?.next()?;
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok()?;
        stream.set_read_timeout(Some(CONNECT_TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT)).ok()?;
        match connector.connect(host, stream) {
            Ok(_) => None,
            Err(native_tls::HandshakeError::Failure(e)) => Some(e.to_string()),
            Err(native_tls::HandshakeError::WouldBlock(_)) => None,
        }
    }
}

/// `host:port` from librdkafka's `ssl://host:port/id: …` prefix.
fn broker_of(reason: &str) -> Option<String> {
    let rest = reason.split_once("://")?.1;
    let (addr, _) = rest.split_once('/')?;
    addr.contains(':').then(|| addr.to_string())
}

/// Each `-----BEGIN CERTIFICATE-----` block of a PEM bundle.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        out.push(rest.as_bytes()[start..end].to_vec());
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_and_bundle_parsing() {
        assert_eq!(
            broker_of("ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: x").as_deref(),
            Some("127.0.0.1:9093")
        );
        assert_eq!(
            broker_of("sasl_ssl://kafka-1.example:9094/1: x").as_deref(),
            Some("kafka-1.example:9094")
        );
        assert_eq!(broker_of("1/1 brokers are down"), None);
        let bundle = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                      -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n";
        assert_eq!(pem_certificates(bundle.as_bytes()).len(), 2);
    }
}
