//! Netcat UDP source — replaces Flume's `netcatudp` (`org.apache.flume.source.NetcatUdpSource`).
//!
//! Every datagram is one event. Flume's body is the datagram up to its first `\n` and the rest is
//! dropped without a word; rflume keeps the whole datagram (a final `\n` removed) and warns,
//! rate-limited, when a datagram carried more than one line — the same events, nothing lost.
//!
//! Flume reads the header name from `remoteAddress` (the user guide's `remoteAddressHeader` is
//! ignored by Flume's code; rflume ignores it too and says so): the header holds Java's
//! `SocketAddress.toString()`, `/127.0.0.1:5555`. Without `remoteAddress` Flume adds a header
//! whose name is Java's `null`; rflume adds none.
//!
//! UDP has no backpressure: a full channel is reported as `net.rs` describes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use super::net::{self, bind_host};
use super::{ChannelProcessor, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::{Event, Headers};
use crate::shutdown::Shutdown;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetcatUdpSettings {
    pub bind: Option<String>,
    pub port: u16,
    pub remote_address_header: Option<String>,
}

impl NetcatUdpSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let bind = bind_host(r, "bind", "netcatudp");
        let port = net::port(r, "port");
        let remote_address_header = r.opt_string("remoteAddress");
        if let Some((_, line)) = r.ignored("remoteAddressHeader") {
            r.warn(
                "remoteAddressHeader",
                Some(line),
                "Flume's netcatudp reads remoteAddress (the user guide's remoteAddressHeader is ignored by Flume); ignored here too",
                Some("rename it to remoteAddress".to_string()),
            );
        }
        if r.failed() {
            return None;
        }
        Some(NetcatUdpSettings {
            bind,
            port: port?,
            remote_address_header,
        })
    }
}

impl Describe for NetcatUdpSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            (
                "bind".into(),
                self.bind
                    .clone()
                    .unwrap_or_else(|| "(every interface)".into()),
            ),
            ("port".into(), self.port.to_string()),
            (
                "remoteAddress".into(),
                self.remote_address_header
                    .clone()
                    .unwrap_or_else(|| "(unset)".into()),
            ),
        ]
    }
}

impl SourceSpec for NetcatUdpSettings {
    fn batch_size(&self) -> usize {
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(NetcatUdpSource {
            name: name.to_string(),
            settings: self.clone(),
        })
    }
}

pub struct NetcatUdpSource {
    name: String,
    settings: NetcatUdpSettings,
}

/// How often the multi-line datagram warning repeats.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The event of one datagram, and whether it held more than one line.
fn datagram_event(data: &[u8], headers: Headers) -> (Event, bool) {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let multi = memchr::memchr(b'\n', body).is_some();
    (Event::with_headers(headers, body.to_vec()), multi)
}

impl Source for NetcatUdpSource {
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        let header = self.settings.remote_address_header.clone();
        let name = self.name.clone();
        let last_warning: Arc<Mutex<Option<Instant>>> = Arc::default();
        let parse = move |data: &[u8], from: std::net::SocketAddr, out: &mut Vec<Event>| {
            let mut h = Headers::new();
            if let Some(k) = &header {
                h.insert(k.clone(), net::java_socket_address(from));
            }
            let (e, multi) = datagram_event(data, h);
            if multi {
                if let Ok(mut last) = last_warning.lock() {
                    let now = Instant::now();
                    if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
                        *last = Some(now);
                        warn!(source = %name, "a datagram from {from} holds more than one line: Flume keeps only its first line and drops the rest; rflume keeps the whole datagram as one event");
                    }
                }
            }
            out.push(e);
        };
        net::run_udp(
            &self.name,
            self.settings.bind.as_deref(),
            self.settings.port,
            processor,
            &shutdown,
            parse,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_is_one_event_with_its_final_newline_removed() {
        let (e, multi) = datagram_event(b"hello\n", Headers::new());
        assert_eq!(&e.body[..], b"hello");
        assert!(!multi);
        let (e, multi) = datagram_event(b"a\nb", Headers::new());
        assert_eq!(&e.body[..], b"a\nb");
        assert!(multi);
        let (e, _) = datagram_event(b"", Headers::new());
        assert!(e.body.is_empty());
    }
}
