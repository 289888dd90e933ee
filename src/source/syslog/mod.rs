//! Syslog sources — replace Flume's `syslogtcp` (`org.apache.flume.source.SyslogTcpSource`),
//! `syslogudp` (`SyslogUDPSource`) and `multiport_syslogtcp` (`MultiportSyslogTCPSource`).
//!
//! Each message becomes an event with Flume's headers, exactly as Flume builds them — two
//! different parsers, as in Flume: `utils.rs` (`SyslogUtils`, for `syslogtcp` and `syslogudp`)
//! and `parser.rs` (`SyslogParser` and `LineSplitter`, for `multiport_syslogtcp`).
//!
//! **Delivery**: TCP — a connection's messages are put into the channel before more is read from
//! it, so a full channel slows the senders down (backpressure) instead of dropping (Flume logs
//! "Error writting to channel, event dropped" and loses the event). UDP cannot be slowed down:
//! see `net.rs` for how a full channel is counted and reported.
//!
//! Differences on purpose: the `format.*` custom formats are not supported; `ssl = true` serves
//! TLS from a PKCS#12 keystore or PEM files (`keystore-type = PEM`), a JKS keystore is refused
//! with the command converting it (`tls.rs`).

mod parser;
mod tcp;
mod utils;

use std::collections::BTreeMap;

use super::net::{self, bind_host};
use super::tls::TlsSettings;
use super::{ChannelProcessor, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::interceptor::search_replace::Charset;
use crate::shutdown::Shutdown;
pub use utils::KeepFields;

/// `SyslogSourceConfigurationConstants.DEFAULT_BATCHSIZE` (multiport).
pub const DEFAULT_BATCH_SIZE: u64 = 100;
/// `DEFAULT_READBUF_SIZE` (multiport).
pub const DEFAULT_READ_BUFFER_BYTES: u64 = 1024;

/// What all three read the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Common {
    pub host: Option<String>,
    pub keep_fields: KeepFields,
    pub client_ip_header: Option<String>,
    pub client_hostname_header: Option<String>,
}

impl Common {
    fn parse(r: &mut PropReader, what: &str) -> Self {
        if let Some((_, line)) = r.ignored("bind") {
            if r.line("host").is_none() {
                r.warn(
                    "bind",
                    Some(line),
                    format!("{what} reads `host`, not `bind`: Flume ignores this line and listens on every interface; rflume does the same"),
                    Some("rename it to host".to_string()),
                );
            }
        }
        let host = bind_host(r, "host", what);
        let keep = r.string("keepFields", "none");
        if keep.trim().eq_ignore_ascii_case("true") || keep.trim().eq_ignore_ascii_case("false") {
            let line = r.line("keepFields");
            r.warn(
                "keepFields",
                line,
                "true and false are deprecated (read as all and none, as Flume does)",
                Some("write all or none".to_string()),
            );
        }
        let formats = r.with_prefix("format.");
        if let Some((_, _, line)) = formats.iter().find(|(k, _, _)| k == "regex") {
            r.unsupported(
                "format.regex",
                Some(*line),
                "custom syslog formats (format.regex, format.search, format.replace, format.dateFormat) are not supported by rflume",
                Some("keep this source on Flume, or parse the body with a regex_extractor interceptor".to_string()),
            );
        }
        Common {
            host,
            keep_fields: KeepFields::parse(&keep),
            client_ip_header: r.opt_string("clientIPHeader"),
            client_hostname_header: r.opt_string("clientHostnameHeader"),
        }
    }

    fn describe(&self, out: &mut Vec<(String, String)>) {
        out.push((
            "host".into(),
            self.host
                .clone()
                .unwrap_or_else(|| "(every interface)".into()),
        ));
        out.push(("keepFields".into(), self.keep_fields.describe()));
        for (k, v) in [
            ("clientIPHeader", &self.client_ip_header),
            ("clientHostnameHeader", &self.client_hostname_header),
        ] {
            out.push((k.into(), v.clone().unwrap_or_else(|| "(unset)".into())));
        }
    }
}

fn event_size(r: &mut PropReader) -> usize {
    r.positive_int("eventSize", utils::DEFAULT_EVENT_SIZE) as usize
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogTcpSettings {
    pub common: Common,
    pub port: u16,
    pub event_size: usize,
    pub tls: Option<TlsSettings>,
}

impl SyslogTcpSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let common = Common::parse(r, "syslogtcp");
        let port = net::port(r, "port");
        let event_size = event_size(r);
        let tls = TlsSettings::parse(r);
        if r.failed() {
            return None;
        }
        Some(SyslogTcpSettings {
            common,
            port: port?,
            event_size,
            tls: tls?,
        })
    }
}

impl Describe for SyslogTcpSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("port".into(), self.port.to_string()),
            ("eventSize".into(), self.event_size.to_string()),
        ];
        self.common.describe(&mut v);
        TlsSettings::describe(&self.tls, &mut v);
        v
    }
}

impl SourceSpec for SyslogTcpSettings {
    fn batch_size(&self) -> usize {
        // Flume puts one event per transaction; rflume puts what one read delivered, capped at
        // the channel's transactionCapacity.
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(tcp::TcpSyslogSource::new(
            name,
            tcp::Listener {
                common: self.common.clone(),
                ports: vec![self.port],
                tls: self.tls.clone(),
                framing: tcp::Framing::Utils {
                    event_size: self.event_size,
                },
                batch_size: usize::MAX,
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiportSyslogSettings {
    pub common: Common,
    pub ports: Vec<u16>,
    pub event_size: usize,
    pub port_header: Option<String>,
    pub default_charset: Charset,
    pub port_charsets: BTreeMap<u16, Charset>,
    pub batch_size: usize,
    pub read_buffer_bytes: u64,
    pub num_processors: Option<u64>,
    pub tls: Option<TlsSettings>,
}

fn charset(r: &mut PropReader, key: &str, value: &str, line: Option<usize>) -> Option<Charset> {
    match Charset::from_java_name(value.trim()) {
        Some(c) => Some(c),
        None if encoding_rs::Encoding::for_label(value.trim().as_bytes()).is_some() => {
            r.unsupported(
                key,
                line,
                format!("charset {value} is not supported by rflume's syslog sources"),
                Some("supported: UTF-8, ISO-8859-1, US-ASCII".to_string()),
            );
            None
        }
        None => {
            r.error(
                key,
                line,
                format!("Unable to parse charset string ({value}) (Flume refuses it too)"),
                None,
            );
            None
        }
    }
}

impl MultiportSyslogSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let common = Common::parse(r, "multiport_syslogtcp");
        let ports_text = r.required("ports", "e.g. ports = 10001 10002");
        let mut ports = Vec::new();
        for p in ports_text.as_deref().unwrap_or("").split_whitespace() {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    let line = r.line("ports");
                    r.error("ports", line, format!("'{p}' is not a port"), None);
                }
            }
        }
        let event_size = event_size(r);
        let port_header = r.opt_string("portHeader");
        let default_charset = match r.raw("charset.default") {
            Some((v, line)) => charset(r, "charset.default", v, Some(line)),
            None => Some(Charset::Utf8),
        };
        let mut port_charsets = BTreeMap::new();
        for (port, v, line) in r.with_prefix("charset.port.") {
            let key = format!("charset.port.{port}");
            let Ok(p) = port.parse::<u16>() else {
                r.error(
                    &key,
                    Some(line),
                    format!("'{port}' is not a port number"),
                    None,
                );
                continue;
            };
            if let Some(c) = charset(r, &key, &v, Some(line)) {
                port_charsets.insert(p, c);
            }
        }
        let batch_size = r.positive_int("batchSize", DEFAULT_BATCH_SIZE) as usize;
        // Flume reads `readBufferBytes`; its user guide says `readBufferSize`. Both only size
        // Mina's buffer: accepted, no effect on what is delivered.
        let read_buffer_bytes = r.positive_int("readBufferBytes", DEFAULT_READ_BUFFER_BYTES);
        if let Some((_, line)) = r.ignored("readBufferSize") {
            r.warn(
                "readBufferSize",
                Some(line),
                "Flume reads readBufferBytes (the user guide's readBufferSize is ignored by Flume too)",
                Some("rename it to readBufferBytes".to_string()),
            );
        }
        let num_processors = r
            .line("numProcessors")
            .map(|_| r.positive_int("numProcessors", 1));
        let tls = TlsSettings::parse(r);
        if r.failed() {
            return None;
        }
        Some(MultiportSyslogSettings {
            common,
            ports,
            event_size,
            port_header,
            default_charset: default_charset?,
            port_charsets,
            batch_size,
            read_buffer_bytes,
            num_processors,
            tls: tls?,
        })
    }
}

impl Describe for MultiportSyslogSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut v = vec![
            (
                "ports".into(),
                self.ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("eventSize".into(), self.event_size.to_string()),
            (
                "portHeader".into(),
                self.port_header.clone().unwrap_or_else(|| "(unset)".into()),
            ),
            (
                "charset.default".into(),
                self.default_charset.java_name().into(),
            ),
            ("batchSize".into(), self.batch_size.to_string()),
            ("readBufferBytes".into(), self.read_buffer_bytes.to_string()),
        ];
        for (p, c) in &self.port_charsets {
            v.push((format!("charset.port.{p}"), c.java_name().into()));
        }
        if let Some(n) = self.num_processors {
            v.push(("numProcessors".into(), n.to_string()));
        }
        self.common.describe(&mut v);
        TlsSettings::describe(&self.tls, &mut v);
        v
    }
}

impl SourceSpec for MultiportSyslogSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(tcp::TcpSyslogSource::new(
            name,
            tcp::Listener {
                common: self.common.clone(),
                ports: self.ports.clone(),
                tls: self.tls.clone(),
                framing: tcp::Framing::Multiport {
                    event_size: self.event_size,
                    port_header: self.port_header.clone(),
                    default_charset: self.default_charset,
                    port_charsets: self.port_charsets.clone(),
                },
                batch_size: self.batch_size,
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogUdpSettings {
    pub common: Common,
    pub port: u16,
}

impl SyslogUdpSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let common = Common::parse(r, "syslogudp");
        let port = net::port(r, "port");
        if r.failed() {
            return None;
        }
        Some(SyslogUdpSettings {
            common,
            port: port?,
        })
    }
}

impl Describe for SyslogUdpSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut v = vec![("port".into(), self.port.to_string())];
        self.common.describe(&mut v);
        v
    }
}

impl SourceSpec for SyslogUdpSettings {
    fn batch_size(&self) -> usize {
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(SyslogUdpSource {
            name: name.to_string(),
            settings: self.clone(),
        })
    }
}

pub struct SyslogUdpSource {
    name: String,
    settings: SyslogUdpSettings,
}

impl Source for SyslogUdpSource {
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        let c = self.settings.common.clone();
        let names = net::HostNames::default();
        // One parser for the socket, as Flume's one handler: its carried-over fields too.
        let mut x = utils::Extractor::new(utils::UDP_EVENT_SIZE, c.keep_fields);
        let parse = move |datagram: &[u8],
                          from: std::net::SocketAddr,
                          out: &mut Vec<crate::event::Event>| {
            let start = out.len();
            x.push(datagram, out);
            x.finish(out);
            for e in &mut out[start..] {
                if let Some(h) = &c.client_ip_header {
                    e.headers.insert(h.clone(), net::java_ip(from.ip()));
                }
                if let Some(h) = &c.client_hostname_header {
                    e.headers.insert(h.clone(), names.lookup(from.ip()));
                }
            }
        };
        net::run_udp(
            &self.name,
            self.settings.common.host.as_deref(),
            self.settings.port,
            processor,
            &shutdown,
            parse,
        )
    }
}
