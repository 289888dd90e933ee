//! Timestamp interceptor — Flume's `timestamp`
//! (`org.apache.flume.interceptor.TimestampInterceptor$Builder`): sets a header (default
//! `timestamp`) to the time of interception in epoch milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampSettings {
    pub header_name: String,
    pub preserve_existing: bool,
}

impl TimestampSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let header_name = r.string("headerName", "timestamp");
        let preserve_existing = r.bool("preserveExisting", false);
        Some(TimestampSettings {
            header_name,
            preserve_existing,
        })
    }
}

impl Describe for TimestampSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("headerName".into(), self.header_name.clone()),
            (
                "preserveExisting".into(),
                self.preserve_existing.to_string(),
            ),
        ]
    }
}

impl InterceptorSpec for TimestampSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(TimestampInterceptor::new(self.clone()))
    }
}

pub struct TimestampInterceptor {
    s: TimestampSettings,
}

impl TimestampInterceptor {
    pub fn new(s: TimestampSettings) -> Self {
        TimestampInterceptor { s }
    }
}

impl Interceptor for TimestampInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        // One clock read per batch: events of a batch are intercepted in the same millisecond
        // range anyway, and this keeps the per-event cost to the header itself.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
            .to_string();
        for e in &mut events {
            if self.s.preserve_existing && e.headers.get(&self.s.header_name).is_some() {
                continue;
            }
            e.headers.insert(self.s.header_name.clone(), now.clone());
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_epoch_millis_and_respects_preserve_existing() {
        let mut i = TimestampInterceptor::new(TimestampSettings {
            header_name: "ts".into(),
            preserve_existing: true,
        });
        let mut old = Event::new("a");
        old.headers.insert("ts", "1");
        let out = i.intercept(vec![old, Event::new("b")]);
        assert_eq!(out[0].headers.get("ts"), Some("1"));
        let ms: u128 = out[1]
            .headers
            .get("ts")
            .expect("set")
            .parse()
            .expect("number");
        assert!(ms > 1_600_000_000_000);
    }
}
