//! Regex filtering interceptor — Flume's `regex_filter`
//! (`org.apache.flume.interceptor.RegexFilteringInterceptor$Builder`): keeps the events whose body
//! contains a match of `regex` (default `.*`, i.e. every event), or drops them with
//! `excludeEvents = true`.
//!
//! As Flume, the body is decoded as UTF-8 text (invalid bytes read as U+FFFD) and searched with
//! `find()`, not matched whole. A dropped event counts as delivered for its source's delivery
//! receipt (see `source::processor`): TAILDIR moves its position past filtered lines.

use std::borrow::Cow;

use super::java_regex::JavaRegex;
use super::{read_regex, Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

/// Flume's `DEFAULT_REGEX`.
pub const DEFAULT_REGEX: &str = ".*";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexFilterSettings {
    pub regex: JavaRegex,
    pub exclude_events: bool,
}

impl RegexFilterSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let regex = match r.raw("regex") {
            Some((v, line)) => read_regex(r, "regex", v, line, false)?,
            None => JavaRegex::new(DEFAULT_REGEX).ok()?,
        };
        Some(RegexFilterSettings {
            regex,
            exclude_events: r.bool("excludeEvents", false),
        })
    }
}

impl Describe for RegexFilterSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("regex".into(), self.regex.as_str().to_string()),
            ("excludeEvents".into(), self.exclude_events.to_string()),
        ]
    }
}

impl InterceptorSpec for RegexFilterSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(RegexFilterInterceptor { s: self.clone() })
    }
}

pub struct RegexFilterInterceptor {
    s: RegexFilterSettings,
}

impl Interceptor for RegexFilterInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        let regex = self.s.regex.regex();
        let exclude = self.s.exclude_events;
        events.retain(|e| {
            // Borrowed (no copy) unless the body is not valid UTF-8.
            let text: Cow<str> = String::from_utf8_lossy(&e.body);
            regex.is_match(&text) != exclude
        });
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(regex: &str, exclude: bool, bodies: &[&'static [u8]]) -> Vec<Vec<u8>> {
        let mut i = RegexFilterSettings {
            regex: JavaRegex::new(regex).expect("compiles"),
            exclude_events: exclude,
        }
        .build();
        let events = bodies.iter().map(|b| Event::new(*b)).collect();
        i.intercept(events)
            .into_iter()
            .map(|e| e.body.to_vec())
            .collect()
    }

    #[test]
    fn keeps_or_drops_what_the_regex_finds() {
        let bodies: &[&[u8]] = &[b"ERROR disk full", b"INFO ok", b"warn: ERROR later"];
        assert_eq!(filter("ERROR", false, bodies), [bodies[0], bodies[2]]);
        assert_eq!(filter("ERROR", true, bodies), [bodies[1]]);
        assert_eq!(
            filter("^ERROR", false, bodies),
            [bodies[0]],
            "find() honours anchors"
        );
        assert_eq!(filter(DEFAULT_REGEX, false, bodies).len(), 3);
    }

    #[test]
    fn invalid_utf8_is_read_as_replacement_characters_as_in_java() {
        let bodies: &[&[u8]] = &[b"caf\xe9 ERROR", b"\xff\xfe"];
        assert_eq!(
            filter("ERROR", false, bodies),
            [bodies[0]],
            "bytes kept as they were"
        );
        assert_eq!(filter("\u{FFFD}", false, bodies).len(), 2);
    }
}
