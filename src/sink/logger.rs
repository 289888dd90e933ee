//! Logger sink — replaces Flume's `logger` (`org.apache.flume.sink.LoggerSink`).
//!
//! Logs every event at INFO in Flume's exact shape,
//! `Event: { headers:{k=v} body: 68 65 6C 6C 6F                                  hello }`,
//! showing at most `maxBytesToLog` bytes of the body. For local runs and debugging. It commits a
//! take once the events are written to the log, so it never loses an event it took.

use std::fmt::Write as _;

use tracing::info;

use super::{Sink, SinkCore, SinkError, SinkSpec, Status, EMPTY_CHANNEL_WAIT};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::java::java_hashmap_order;

/// Flume's `maxBytesToLog` default.
pub const DEFAULT_MAX_BYTES_TO_LOG: u64 = 16;
/// Events per take: Flume takes one per transaction; batching changes nothing visible.
const BATCH: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggerSettings {
    pub max_bytes_to_log: usize,
}

impl LoggerSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let max_bytes_to_log = max_bytes_to_log(r);
        (!r.failed()).then_some(LoggerSettings { max_bytes_to_log })
    }
}

/// Flume's `LoggerSink.configure`: a value `Integer.parseInt` cannot read falls back to the
/// default with a warning. A negative one is refused: Flume accepts it and then fails on every
/// event it logs.
fn max_bytes_to_log(r: &mut PropReader) -> usize {
    let Some((v, line)) = r.raw("maxBytesToLog") else {
        return DEFAULT_MAX_BYTES_TO_LOG as usize;
    };
    match v.trim().parse::<i32>() {
        Ok(n) if n >= 0 => n as usize,
        Ok(n) => {
            r.error(
                "maxBytesToLog",
                Some(line),
                format!("must not be negative, got {n} (Flume would fail on every event)"),
                Some(format!("Flume's default is {DEFAULT_MAX_BYTES_TO_LOG}")),
            );
            DEFAULT_MAX_BYTES_TO_LOG as usize
        }
        Err(_) => {
            r.warn(
                "maxBytesToLog",
                Some(line),
                format!("Unable to convert {v} to integer, using default value({DEFAULT_MAX_BYTES_TO_LOG}) for maxByteToDump, as Flume does"),
                Some("use a whole number of bytes".to_string()),
            );
            DEFAULT_MAX_BYTES_TO_LOG as usize
        }
    }
}

impl Describe for LoggerSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![("maxBytesToLog".into(), self.max_bytes_to_log.to_string())]
    }
}

impl SinkSpec for LoggerSettings {
    fn batch_size(&self) -> usize {
        // Flume's logger takes one event per transaction; rflume's batches of 100 are capped by
        // the channel's transactionCapacity at take time.
        1
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(LoggerSink {
            core,
            settings: self.clone(),
        }))
    }
}

pub struct LoggerSink {
    core: SinkCore,
    settings: LoggerSettings,
}

impl Sink for LoggerSink {
    fn core(&self) -> &SinkCore {
        &self.core
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        let Some(txn) = self.core.take(BATCH, EMPTY_CHANNEL_WAIT) else {
            return self.core.empty();
        };
        for e in txn.events() {
            info!(sink = %self.core.name, "Event: {}", dump_event(e, self.settings.max_bytes_to_log));
        }
        self.core.delivered(txn);
        Ok(Status::Ready)
    }
}

/// Flume's `EventHelper.dumpEvent`: Java `Map.toString` headers — in the iteration order of the
/// `HashMap` Flume keeps them in, which a differential test against real Flume showed differs
/// from insertion order from two headers on — and a commons-io `HexDump` of the first `max` body
/// bytes with the offset column removed.
pub fn dump_event(e: &Event, max: usize) -> String {
    let entries: Vec<(&str, &str)> = e.headers.iter().collect();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    let mut headers = String::from("{");
    for (n, i) in java_hashmap_order(&keys).into_iter().enumerate() {
        if n > 0 {
            headers.push_str(", ");
        }
        let (k, v) = entries[i];
        let _ = write!(headers, "{k}={v}");
    }
    headers.push('}');
    let data = &e.body[..e.body.len().min(max)];
    let mut body = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        if i > 0 {
            body.push_str(&format!("\n{:08X}", i * 16));
        }
        body.push(' ');
        for k in 0..16 {
            match chunk.get(k) {
                Some(b) => {
                    let _ = write!(body, "{b:02X}");
                }
                None => body.push_str("  "),
            }
            body.push(' ');
        }
        body.extend(chunk.iter().map(|&b| {
            if (b' '..127).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
    }
    format!("{{ headers:{headers} body:{body} }}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Headers;

    #[test]
    fn dump_matches_flume_shape() {
        let e = Event::new(&b"hello\r"[..]);
        assert_eq!(
            dump_event(&e, 16),
            "{ headers:{} body: 68 65 6C 6C 6F 0D                               hello. }"
        );
        let mut h = Headers::new();
        h.insert("host", "n1");
        let e = Event::with_headers(h, &b""[..]);
        assert_eq!(dump_event(&e, 16), "{ headers:{host=n1} body: }");
    }

    #[test]
    fn dump_truncates_to_max_bytes() {
        let e = Event::new(&b"0123456789abcdefXYZ"[..]);
        let d = dump_event(&e, 16);
        assert!(d.ends_with("0123456789abcdef }"), "{d}");
        assert!(!d.contains("XYZ"));
    }
}
