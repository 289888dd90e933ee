//! The properties the avro source and the avro sink read alike (Flume's `AvroSource` and
//! `NettyAvroRpcClient` read them the same way): the port and `compression-type` (the TLS keys
//! are in `super::tls`).

use std::time::Duration;

use super::lenient;
use crate::config::reader::PropReader;

/// Flume's `batch-size` default (`RpcClientConfigurationConstants.DEFAULT_BATCH_SIZE`).
pub const DEFAULT_BATCH_SIZE: u64 = 100;
/// Flume's `connect-timeout` and `request-timeout` defaults, in ms.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 20_000;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 20_000;
/// `reset-connection-interval`: 0 = never (Flume's `DEFAULT_CXN_RESET_INTERVAL`).
pub const DEFAULT_RESET_CONNECTION_INTERVAL_S: u64 = 0;

/// What the avro and thrift sinks read alike: Flume's `AbstractRpcSink` hands these keys to
/// its RPC client (`RpcClientConfigurationConstants`), whatever the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    pub hostname: String,
    pub port: u16,
    pub batch_size: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub reset_connection_interval: Duration,
}

impl ClientSettings {
    /// Reads the keys for the `kind` sink (`avro`, `thrift`), whose source listens on
    /// `port_example` by convention; `None` when `hostname` or `port` is missing or invalid
    /// (the reader holds the error).
    pub fn parse(r: &mut PropReader, kind: &str, port_example: u16) -> Option<Self> {
        let hostname = r.required(
            "hostname",
            "the collector's host, e.g. hostname = collector1",
        );
        let port = port(
            r,
            &format!("the collector's {kind} source port, e.g. port = {port_example}"),
            false,
        );
        let batch_size = lenient::number(r, "batch-size", DEFAULT_BATCH_SIZE, 1, i32::MAX as u64);
        if let Some((_, line)) = r.ignored("batchSize") {
            r.warn(
                "batchSize",
                Some(line),
                format!("Flume's {kind} sink reads batch-size, not batchSize: this line is ignored and the batch size is {batch_size}"),
                Some("rename it to batch-size".into()),
            );
        }
        let connect_timeout = Duration::from_millis(lenient::timeout_ms(
            r,
            "connect-timeout",
            DEFAULT_CONNECT_TIMEOUT_MS,
        ));
        let request_timeout = Duration::from_millis(lenient::timeout_ms(
            r,
            "request-timeout",
            DEFAULT_REQUEST_TIMEOUT_MS,
        ));
        let reset_connection_interval = Duration::from_secs(lenient::number(
            r,
            "reset-connection-interval",
            DEFAULT_RESET_CONNECTION_INTERVAL_S,
            0,
            i32::MAX as u64,
        ));
        Some(ClientSettings {
            hostname: hostname?,
            port: port?,
            batch_size: batch_size as usize,
            connect_timeout,
            request_timeout,
            reset_connection_interval,
        })
    }

    /// The keys `parse` read, by Flume's names, as `rflume check` shows them.
    pub fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("hostname".into(), self.hostname.clone()),
            ("port".into(), self.port.to_string()),
            ("batch-size".into(), self.batch_size.to_string()),
            (
                "connect-timeout".into(),
                self.connect_timeout.as_millis().to_string(),
            ),
            (
                "request-timeout".into(),
                self.request_timeout.as_millis().to_string(),
            ),
            (
                "reset-connection-interval".into(),
                self.reset_connection_interval.as_secs().to_string(),
            ),
        ]
    }
}

/// A required TCP port (`port`); 0 is refused when `allow_zero` is false.
pub fn port(r: &mut PropReader, hint: &str, allow_zero: bool) -> Option<u16> {
    let p = r.required("port", hint)?;
    match p.trim().parse::<u16>() {
        Ok(n) if n > 0 || allow_zero => Some(n),
        _ => {
            let line = r.line("port");
            r.error(
                "port",
                line,
                format!("'{p}' is not a TCP port"),
                Some("use 1-65535".into()),
            );
            None
        }
    }
}

/// `compression-type`: whether it is `deflate` (any case, as Flume's `equalsIgnoreCase`);
/// anything else means uncompressed in Flume, with a warning here unless it says `none`.
pub fn deflate(r: &mut PropReader) -> bool {
    match r.raw("compression-type") {
        None => false,
        Some((v, _)) if v.trim().eq_ignore_ascii_case("deflate") => true,
        Some((v, line)) => {
            if !v.trim().eq_ignore_ascii_case("none") {
                r.warn(
                    "compression-type",
                    Some(line),
                    format!(
                        "'{v}' is not deflate: Flume does not compress, and neither does rflume"
                    ),
                    Some("write none or deflate (on both ends)".into()),
                );
            }
            false
        }
    }
}
