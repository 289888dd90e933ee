//! HTTP source — replaces Flume's `http` (`org.apache.flume.source.http.HTTPSource`).
//!
//! Every request (POST, or GET as Flume allows, on any path) is turned into events by the
//! handler (`handler.rs`: Flume's `JSONHandler`, the default, or `BLOBHandler`) and put into the
//! channel in **one** transaction. Answers, as Flume's: 200 once the events are in the channel;
//! 400 for a body the handler cannot read (bad JSON); 500 for other handler failures; **503 when
//! the channel is full** — after the put waited the channel's `keep-alive` for room, as Flume's —
//! so the client retries and nothing it sent is lost. rflume also answers 413 to a request with
//! more events than the channel's `transactionCapacity` (Flume answers 503 to it forever) or a
//! body over [`MAX_BODY`].
//!
//! `ssl = true` serves HTTPS (`tls.rs`; Flume's deprecated `enableSSL` and `keystorePassword`
//! are accepted with a warning). Jetty's own settings (`QueuedThreadPool.*`,
//! `HttpConfiguration.*`, `SslContextFactory.*`, `ServerConnector.*`) have no meaning here and are
//! ignored with a warning.
//!
//! Concurrency: one thread runs the HTTP server (hyper, HTTP/1.1, keep-alive), the source's own
//! thread puts the requests' events, one request at a time, and answers through a one-shot
//! channel: no lock is held across I/O and a waiting put never stalls the server's other
//! connections.

mod handler;
mod server;

use super::net;
use super::tls::TlsSettings;
use super::{BatchCounts, ChannelProcessor, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::shutdown::Shutdown;
pub use handler::Handler;

/// `HTTPSourceConfigurationConstants.DEFAULT_BIND`.
pub const DEFAULT_BIND: &str = "0.0.0.0";
pub const JSON_HANDLER: &str = "org.apache.flume.source.http.JSONHandler";
pub const BLOB_HANDLER: &str = "org.apache.flume.source.http.BLOBHandler";
/// The largest request body read (Jetty has no limit; rflume bounds what one client can make it
/// hold in memory).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub bind: String,
    pub port: u16,
    pub handler: Handler,
    pub tls: Option<TlsSettings>,
}

impl HttpSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        if r.opt_string("bind").is_none() {
            // Flume's default is every interface; say so, as for the other listening sources
            // (`net::bind_host`): an HTTP endpoint that accepts events is worth restricting.
            let line = r.line("type");
            r.warn(
                "bind",
                line,
                format!("not set: the http source listens on every interface ({DEFAULT_BIND}), as Flume does"),
                Some("set bind = 127.0.0.1 (or an interface address) to restrict it".to_string()),
            );
        }
        let bind = r.string("bind", DEFAULT_BIND).trim().to_string();
        if bind.is_empty() {
            let line = r.line("bind");
            r.error("bind", line, "HTTPSource hostname specified is empty", None);
        }
        let port = net::port(r, "port");
        let handler = handler(r);
        for prefix in [
            "QueuedThreadPool.",
            "HttpConfiguration.",
            "SslContextFactory.",
            "ServerConnector.",
        ] {
            for (k, _, line) in r.with_prefix(prefix) {
                let key = format!("{prefix}{k}");
                r.warn(
                    &key,
                    Some(line),
                    "a Jetty setting, which rflume's HTTP server does not have; ignored",
                    None,
                );
            }
        }
        let tls = TlsSettings::parse_http(r);
        if r.failed() {
            return None;
        }
        Some(HttpSettings {
            bind,
            port: port?,
            handler: handler?,
            tls: tls?,
        })
    }
}

fn handler(r: &mut PropReader) -> Option<Handler> {
    let (name, line) = match r.raw("handler") {
        Some((v, l)) => (v.trim().to_string(), Some(l)),
        None => (JSON_HANDLER.to_string(), None),
    };
    if name == JSON_HANDLER {
        return Some(Handler::Json);
    }
    if name == BLOB_HANDLER {
        let mandatory = r
            .string("handler.mandatoryParameters", "")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        return Some(Handler::Blob { mandatory });
    }
    r.known_prefix("handler.");
    r.unsupported(
        "handler",
        line,
        format!("handler class {name} is not supported by rflume"),
        Some(format!("rflume runs {JSON_HANDLER} and {BLOB_HANDLER}")),
    );
    None
}

impl Describe for HttpSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("bind".into(), self.bind.clone()),
            ("port".into(), self.port.to_string()),
            (
                "handler".into(),
                match &self.handler {
                    Handler::Json => JSON_HANDLER.into(),
                    Handler::Blob { .. } => BLOB_HANDLER.into(),
                },
            ),
        ];
        if let Handler::Blob { mandatory } = &self.handler {
            v.push(("handler.mandatoryParameters".into(), mandatory.join(",")));
        }
        TlsSettings::describe(&self.tls, &mut v);
        v
    }
}

impl SourceSpec for HttpSettings {
    fn batch_size(&self) -> usize {
        // Flume's HTTP source is not `BatchSizeSupported`: a request is one batch of any size;
        // rflume refuses (413) a request larger than the channel's transactionCapacity.
        1
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(HttpSource {
            name: name.to_string(),
            settings: self.clone(),
        })
    }
}

pub struct HttpSource {
    name: String,
    settings: HttpSettings,
}

impl Source for HttpSource {
    fn run(
        self: Box<Self>,
        mut processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        // As Flume's HTTPSource: one received batch per request, one accepted once stored.
        processor.count_batches(BatchCounts::ReceivedAndAccepted);
        server::run(&self.name, &self.settings, processor, &shutdown)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::diag::{Diagnostics, Severity};
    use crate::config::reader::ComponentProps;

    fn parse(pairs: &[(&str, &str)]) -> (Option<HttpSettings>, Vec<String>) {
        let comp = ComponentProps::sink_for_test(pairs);
        let mut diags = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let s = {
            let mut r = PropReader::new(&comp, &mut diags);
            let s = HttpSettings::parse(&mut r);
            r.finish("http source");
            s
        };
        let warnings = diags
            .items
            .iter()
            .filter(|i| i.severity == Severity::Warning)
            .map(|i| i.to_string())
            .collect();
        (s, warnings)
    }

    #[test]
    fn an_unset_bind_listens_everywhere_as_flume_and_says_so() {
        let (s, w) = parse(&[("type", "http"), ("port", "5140")]);
        assert_eq!(s.map(|s| s.bind), Some(DEFAULT_BIND.to_string()));
        assert!(
            w.iter()
                .any(|w| w.contains("f.conf:1:") && w.contains("listens on every interface")),
            "{w:?}"
        );
        let (s, w) = parse(&[("type", "http"), ("port", "5140"), ("bind", "127.0.0.1")]);
        assert_eq!(s.map(|s| s.bind), Some("127.0.0.1".to_string()));
        assert!(w.iter().all(|w| !w.contains("every interface")), "{w:?}");
    }
}
