//! The monitoring server: Flume's HTTP monitoring (`-Dflume.monitoring.type=http
//! -Dflume.monitoring.port=P`) plus what Flume lacks.
//!
//! | path | answer |
//! |---|---|
//! | `GET /metrics` | Flume's JSON, byte for byte (`metrics::flume_json`); Prometheus' text instead when the `Accept` header asks for it (`text/plain;version=0.0.4`, OpenMetrics) |
//! | `GET /metrics/prometheus` | Prometheus' text format (`metrics::prometheus`) |
//! | `GET /health` | 200 or 503 with a JSON reason (`metrics::health`) |
//! | `GET /` | Flume's little HTML page linking to `/metrics` |
//! | `TRACE`, `OPTIONS` | 403, as Flume |
//! | anything else | 404 |
//!
//! One thread blocks in `accept` (no timer: an idle server costs no CPU) and renders each request
//! from the live counters; requests are answered one at a time, which is plenty for scrapers and
//! keeps the footprint at one small thread. Unlike Flume (all interfaces), the server binds
//! 127.0.0.1 unless `flume.monitoring.host` (or `rflume.monitoring.bind`) names an address: the
//! agent runs beside applications on every node, and its counters are nobody else's business by
//! default.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use thiserror::Error;
use tracing::{debug, info, warn};

use crate::metrics::health::{self, Thresholds};
use crate::metrics::{flume_json, prometheus, Registry};

/// Flume's `HTTPMetricsServer.DEFAULT_PORT`.
pub const DEFAULT_PORT: u16 = 41414;
/// Where the server listens unless told otherwise (Flume: every interface).
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// `-D` property for `/health`'s sink-failure threshold, in seconds.
pub const SINK_FAILING_PROPERTY: &str = "rflume.health.sinkFailingSeconds";

const FLUME_HTTP_CLASS: &str = "org.apache.flume.instrumentation.http.HTTPMetricsServer";
const FLUME_PROMETHEUS_CLASS: &str =
    "org.apache.flume.instrumentation.http.PrometheusHTTPMetricsServer";

#[derive(Debug, Error)]
pub enum MonitorError {
    #[error(
        "-Dflume.monitoring.port={0}: not a port number (use 1-65535; Flume's default is 41414)"
    )]
    Port(String),
    #[error("-Dflume.monitoring.host={0}: not an IP address (use e.g. 127.0.0.1 or 0.0.0.0)")]
    Host(String),
    #[error("-D{SINK_FAILING_PROPERTY}={0}: not a number of seconds")]
    Threshold(String),
    #[error("cannot serve metrics on {addr}: {message} (is another agent or Flume using the port? set -Dflume.monitoring.port)")]
    Bind { addr: SocketAddr, message: String },
}

/// What the `flume.monitoring.*` system properties ask for.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorSettings {
    pub addr: SocketAddr,
    pub sink_failing: std::time::Duration,
}

/// Reads `flume.monitoring.*`. `Ok(None)`: no HTTP monitoring asked for (also for Ganglia or a
/// custom class, which are reported by the returned warnings).
pub fn settings_from_system(
    system: &HashMap<String, String>,
) -> Result<(Option<MonitorSettings>, Vec<String>), MonitorError> {
    let mut warnings = Vec::new();
    let Some(kind) = system.get("flume.monitoring.type").map(|s| s.trim()) else {
        if system.keys().any(|k| k.starts_with("flume.monitoring.")) {
            warnings.push(
                "flume.monitoring.* is set but flume.monitoring.type is not: no metrics are served (add -Dflume.monitoring.type=http)"
                    .to_string(),
            );
        }
        return Ok((None, warnings));
    };
    let http = kind.eq_ignore_ascii_case("http")
        || kind == FLUME_HTTP_CLASS
        || kind == FLUME_PROMETHEUS_CLASS
        || kind.eq_ignore_ascii_case("prometheus");
    if !http {
        warnings.push(format!(
            "-Dflume.monitoring.type={kind}: not supported by rflume (only http, Flume's JSON server, which also serves Prometheus' format at /metrics/prometheus); no metrics are served"
        ));
        return Ok((None, warnings));
    }
    let port = match system.get("flume.monitoring.port").map(|s| s.trim()) {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| MonitorError::Port(p.to_string()))?,
    };
    let host = system
        .get("rflume.monitoring.bind")
        .or_else(|| system.get("flume.monitoring.host"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| MonitorError::Host(host.clone()))?;
    let sink_failing = match system.get(SINK_FAILING_PROPERTY) {
        None => health::DEFAULT_SINK_FAILING,
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(std::time::Duration::from_secs_f64)
            .ok_or_else(|| MonitorError::Threshold(v.clone()))?,
    };
    Ok((
        Some(MonitorSettings {
            addr: SocketAddr::new(ip, port),
            sink_failing,
        }),
        warnings,
    ))
}

/// A running monitoring server; stops when dropped.
pub struct Monitor {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Monitor {
    pub fn start(
        settings: &MonitorSettings,
        registry: Arc<Registry>,
    ) -> Result<Monitor, MonitorError> {
        let server = tiny_http::Server::http(settings.addr).map_err(|e| MonitorError::Bind {
            addr: settings.addr,
            message: e.to_string(),
        })?;
        let addr = server.server_addr().to_ip().unwrap_or(settings.addr);
        let server = Arc::new(server);
        let thresholds = Thresholds {
            sink_failing: settings.sink_failing,
        };
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || serve(&s, &registry, &thresholds))
            .map_err(|e| MonitorError::Bind {
                addr,
                message: e.to_string(),
            })?;
        info!("serving metrics on http://{addr}/metrics (Flume's JSON), /metrics/prometheus and /health");
        Ok(Monitor {
            server,
            thread: Some(thread),
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, registry: &Registry, thresholds: &Thresholds) {
    // `incoming_requests` ends when `unblock` is called.
    for request in server.incoming_requests() {
        let (status, content_type, body) = answer(&request, registry, thresholds);
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes());
        let mut response = tiny_http::Response::from_string(body).with_status_code(status);
        if let Ok(h) = header {
            response = response.with_header(h);
        }
        if let Err(e) = request.respond(response) {
            debug!("metrics client went away: {e}");
        }
    }
}

/// Status, content type and body for one request.
fn answer(
    request: &tiny_http::Request,
    registry: &Registry,
    thresholds: &Thresholds,
) -> (u16, &'static str, String) {
    use tiny_http::Method;
    const HTML: &str = "text/html;charset=utf-8";
    const JSON: &str = "application/json;charset=utf-8";
    const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
    match request.method() {
        Method::Trace | Method::Options => return (403, HTML, error_page(403, "Forbidden")),
        Method::Get | Method::Head => {}
        other => {
            warn!("metrics server: {other} {} answered 404", request.url());
            return (404, HTML, error_page(404, "Not Found"));
        }
    }
    // Flume matches the path without the query string, /metrics case-insensitively.
    let path = request.url().split('?').next().unwrap_or("");
    if path == "/" {
        return (
            200,
            HTML,
            "For Flume metrics please click <a href = \"./metrics\"> here</a>.".to_string(),
        );
    }
    if path.eq_ignore_ascii_case("/metrics") {
        if wants_prometheus(request) {
            return (200, PROMETHEUS, prometheus::render(registry, thresholds));
        }
        return (200, JSON, flume_json::render(registry));
    }
    if path == "/metrics/prometheus" {
        return (200, PROMETHEUS, prometheus::render(registry, thresholds));
    }
    if path == "/health" {
        let h = health::evaluate(registry, thresholds);
        return (if h.ok { 200 } else { 503 }, JSON, h.to_json());
    }
    (404, HTML, error_page(404, "Not Found"))
}

/// Prometheus' scraper asks for its formats by name; browsers and Flume's JSON clients do not.
fn wants_prometheus(request: &tiny_http::Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Accept") && {
            let v = h.value.as_str();
            v.contains("application/openmetrics-text") || v.contains("version=0.0.4")
        }
    })
}

fn error_page(code: u16, reason: &str) -> String {
    format!("<html><body><h2>HTTP ERROR {code}</h2><p>{reason}</p></body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flume_flags_give_localhost_and_flume_default_port() {
        let (s, w) = settings_from_system(&sys(&[("flume.monitoring.type", "http")])).expect("ok");
        assert!(w.is_empty());
        assert_eq!(
            s.expect("asked for").addr,
            "127.0.0.1:41414".parse().expect("addr")
        );
        let (s, _) = settings_from_system(&sys(&[
            ("flume.monitoring.type", FLUME_HTTP_CLASS),
            ("flume.monitoring.port", "34545"),
            ("flume.monitoring.host", "0.0.0.0"),
        ]))
        .expect("ok");
        assert_eq!(
            s.expect("asked for").addr,
            "0.0.0.0:34545".parse().expect("addr")
        );
    }

    #[test]
    fn bad_values_are_errors_and_other_types_warnings() {
        assert!(matches!(
            settings_from_system(&sys(&[
                ("flume.monitoring.type", "http"),
                ("flume.monitoring.port", "99999")
            ])),
            Err(MonitorError::Port(_))
        ));
        let (s, w) =
            settings_from_system(&sys(&[("flume.monitoring.type", "ganglia")])).expect("ok");
        assert!(s.is_none());
        assert!(w[0].contains("ganglia"), "{w:?}");
        let (s, w) = settings_from_system(&sys(&[])).expect("ok");
        assert!(s.is_none() && w.is_empty());
    }
}
