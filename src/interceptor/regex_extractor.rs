//! Regex extractor interceptor — Flume's `regex_extractor`
//! (`org.apache.flume.interceptor.RegexExtractorInterceptor$Builder`): finds `regex` in the body
//! (decoded as UTF-8) and sets one header per capture group, in order, named by the listed
//! serializers: `serializers = s1 s2`, `serializers.s1.name = host`, and optionally
//! `serializers.s1.type`:
//! * `DEFAULT` (the default) or
//!   `org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer`: the group's
//!   text;
//! * `org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer` with `pattern` (a
//!   Joda-Time pattern, see `joda_time`): the group parsed as a date, as epoch milliseconds.
//!
//! Groups beyond the serializers are ignored, serializers beyond the groups unused, as in Flume.
//! Where rflume differs on purpose:
//! * a group that did not take part in the match sets no header (Flume stores a null value);
//! * a value the millis serializer cannot parse makes Flume throw, failing the source's whole
//!   batch over and over (a TAILDIR source stalls on that line forever); rflume delivers the event
//!   without that header and logs the failure, rate-limited.

use std::time::{Duration, Instant};

use tracing::warn;

use super::java_regex::JavaRegex;
use super::joda_time::{JodaPattern, PatternError};
use super::{read_regex, Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

pub const PASS_THROUGH_CLASS: &str =
    "org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer";
pub const MILLIS_CLASS: &str =
    "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer";

/// How often failures to parse a date are logged.
const PARSE_FAILURE_LOG_EVERY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serializer {
    PassThrough,
    Millis(JodaPattern),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedSerializer {
    /// The serializer's id in `serializers = …`.
    pub id: String,
    /// The header it sets (`serializers.<id>.name`).
    pub name: String,
    pub serializer: Serializer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexExtractorSettings {
    pub regex: JavaRegex,
    pub serializers: Vec<NamedSerializer>,
}

impl RegexExtractorSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let Some((pattern, line)) = r.raw("regex") else {
            r.error(
                "regex",
                None,
                "Must supply a valid regex string (regex is required); Flume removes the source",
                Some("e.g. regex = ^(\\\\d{4}-\\\\d{2}-\\\\d{2})".to_string()),
            );
            return None;
        };
        let regex = read_regex(r, "regex", pattern, line, false);
        let Some((list, list_line)) = r.raw("serializers") else {
            r.error(
                "serializers",
                None,
                "Must supply at least one name and serializer (serializers is required); Flume removes the source",
                Some("e.g. serializers = s1 and serializers.s1.name = header_name".to_string()),
            );
            return None;
        };
        r.known_prefix("serializers.");
        let mut serializers = Vec::new();
        let mut ok = true;
        for id in list.split_whitespace() {
            match Self::serializer(r, id, list_line) {
                Some(s) => serializers.push(s),
                None => ok = false,
            }
        }
        let known: Vec<&str> = list.split_whitespace().collect();
        for (key, _, line) in r.with_prefix("serializers.") {
            let id = key.split('.').next().unwrap_or("");
            let prop = key.get(id.len() + 1..).unwrap_or("");
            let understood = known.contains(&id) && matches!(prop, "name" | "type" | "pattern");
            if !understood {
                r.warn(
                    &format!("serializers.{key}"),
                    Some(line),
                    format!("unknown property for the regex_extractor interceptor; ignored (serializers are {}, each with name, type and, for the millis serializer, pattern)", known.join(" ")),
                    None,
                );
            }
        }
        let regex = regex?;
        (ok && !serializers.is_empty()).then_some(RegexExtractorSettings { regex, serializers })
    }

    fn serializer(r: &mut PropReader, id: &str, list_line: usize) -> Option<NamedSerializer> {
        let prefix = format!("serializers.{id}.");
        let name_key = format!("{prefix}name");
        let Some(name) = r.opt_string(&name_key).filter(|n| !n.is_empty()) else {
            r.error(
                &name_key,
                Some(list_line),
                format!("serializer {id} has no name (Flume: \"Supplied name cannot be empty.\"); Flume removes the source"),
                Some(format!("add {} = <header name>", r.full_key(&name_key))),
            );
            return None;
        };
        let type_key = format!("{prefix}type");
        let kind = r.raw(&type_key);
        let pattern_key = format!("{prefix}pattern");
        let serializer = match kind {
            None => Serializer::PassThrough,
            Some(("DEFAULT", _)) => Serializer::PassThrough,
            Some((class, _)) if class == PASS_THROUGH_CLASS => Serializer::PassThrough,
            Some((class, line)) if class == MILLIS_CLASS => {
                let Some((pattern, pline)) = r.raw(&pattern_key) else {
                    r.error(
                        &pattern_key,
                        Some(line),
                        "Must configure with a valid pattern (the millis serializer needs pattern); Flume removes the source",
                        Some(format!("add {} = yyyy-MM-dd HH:mm:ss", r.full_key(&pattern_key))),
                    );
                    return None;
                };
                match JodaPattern::new(pattern) {
                    Ok(p) => Serializer::Millis(p),
                    Err(PatternError::Unsupported(what)) => {
                        r.unsupported(
                            &pattern_key,
                            Some(pline),
                            format!("pattern '{pattern}': {what}; the source is dropped"),
                            Some(
                                "use a numeric offset (Z) instead of a zone name or id".to_string(),
                            ),
                        );
                        return None;
                    }
                    Err(e) => {
                        r.error(
                            &pattern_key,
                            Some(pline),
                            format!("pattern '{pattern}': {e} (Joda-Time rejects it); Flume removes the source"),
                            None,
                        );
                        return None;
                    }
                }
            }
            Some((class, line)) if class.contains('.') => {
                r.unsupported(
                    &type_key,
                    Some(line),
                    format!("serializer class {class} is a custom class rflume cannot load; the source is dropped"),
                    Some(format!("supported: DEFAULT, {PASS_THROUGH_CLASS}, {MILLIS_CLASS}")),
                );
                return None;
            }
            Some((other, line)) => {
                r.error(
                    &type_key,
                    Some(line),
                    format!("'{other}' is neither DEFAULT nor a class name (Flume looks it up as a class and fails); Flume removes the source"),
                    Some(format!("write DEFAULT (upper case) or {MILLIS_CLASS}")),
                );
                return None;
            }
        };
        if !matches!(serializer, Serializer::Millis(_)) {
            if let Some((_, line)) = r.ignored(&pattern_key) {
                r.warn(
                    &pattern_key,
                    Some(line),
                    "pattern is read only by the millis serializer; ignored",
                    None,
                );
            }
        }
        Some(NamedSerializer {
            id: id.to_string(),
            name,
            serializer,
        })
    }
}

impl Describe for RegexExtractorSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("regex".to_string(), self.regex.as_str().to_string()),
            (
                "serializers".to_string(),
                self.serializers
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ];
        for s in &self.serializers {
            out.push((format!("serializers.{}.name", s.id), s.name.clone()));
            match &s.serializer {
                Serializer::PassThrough => {
                    out.push((format!("serializers.{}.type", s.id), "DEFAULT".into()))
                }
                Serializer::Millis(p) => {
                    out.push((format!("serializers.{}.type", s.id), MILLIS_CLASS.into()));
                    out.push((format!("serializers.{}.pattern", s.id), p.as_str().into()));
                }
            }
        }
        out
    }
}

impl InterceptorSpec for RegexExtractorSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(RegexExtractorInterceptor {
            s: self.clone(),
            failures: 0,
            last_failure_log: None,
        })
    }
}

pub struct RegexExtractorInterceptor {
    s: RegexExtractorSettings,
    /// Date parse failures since the last log line about them.
    failures: u64,
    last_failure_log: Option<Instant>,
}

impl RegexExtractorInterceptor {
    /// Counts `n` date parse failures of this batch; logs at the first one and then at most
    /// every 30 s, with one example.
    fn parse_failed(&mut self, n: u64, example: Option<(String, String, String)>) {
        self.failures += n;
        let now = Instant::now();
        if self
            .last_failure_log
            .is_none_or(|t| now.duration_since(t) >= PARSE_FAILURE_LOG_EVERY)
        {
            let (header, value, why) = example.unwrap_or_default();
            warn!("regex_extractor: {} value(s) could not be parsed as dates since the last report and were delivered without their header (e.g. {header}: {why}; value \"{value}\"); Flume would fail the whole batch on them", self.failures);
            self.failures = 0;
            self.last_failure_log = Some(now);
        }
    }
}

impl Interceptor for RegexExtractorInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        let regex = self.s.regex.regex();
        let serializers = &self.s.serializers;
        let mut locations = regex.capture_locations();
        let mut failed = 0u64;
        let mut example = None;
        for e in &mut events {
            let text = String::from_utf8_lossy(&e.body);
            if regex.captures_read(&mut locations, &text).is_none() {
                continue;
            }
            let groups = locations.len().saturating_sub(1);
            for (group, s) in serializers.iter().enumerate().take(groups) {
                let Some((start, end)) = locations.get(group + 1) else {
                    continue;
                };
                let value = &text[start..end];
                let header = match &s.serializer {
                    Serializer::PassThrough => value.to_string(),
                    Serializer::Millis(p) => match p.parse_millis(value) {
                        Ok(ms) => ms.to_string(),
                        Err(why) => {
                            failed += 1;
                            example.get_or_insert_with(|| (s.name.clone(), value.to_string(), why));
                            continue;
                        }
                    },
                };
                e.headers.insert(s.name.clone(), header);
            }
        }
        if failed > 0 {
            self.parse_failed(failed, example);
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reader::ComponentProps;
    use crate::config::Diagnostics;
    use std::path::Path;
    use std::sync::Arc;

    fn parse(pairs: &[(&str, &str)]) -> (Option<RegexExtractorSettings>, Vec<String>) {
        let comp = ComponentProps {
            name: "i1".into(),
            prefix: "a1.sources.r1.interceptors.i1.".into(),
            props: pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (k.to_string(), (v.to_string(), i + 1)))
                .collect(),
        };
        let mut d = Diagnostics::new(Arc::from(Path::new("t.conf")));
        let mut r = PropReader::new(&comp, &mut d);
        let s = RegexExtractorSettings::parse(&mut r);
        r.finish("the regex_extractor interceptor");
        (s, d.items.iter().map(|i| i.to_string()).collect())
    }

    fn headers(s: &RegexExtractorSettings, body: &str) -> Vec<(String, String)> {
        let out = s.build().intercept(vec![Event::new(body.to_string())]);
        out[0]
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_user_guides_example() {
        let (s, d) = parse(&[
            ("regex", r"(\d):(\d):(\d)"),
            ("serializers", "s1 s2 s3"),
            ("serializers.s1.name", "one"),
            ("serializers.s2.name", "two"),
            ("serializers.s3.name", "three"),
        ]);
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(
            headers(&s, "1:2:3.4foobar5"),
            [
                ("one".into(), "1".into()),
                ("two".into(), "2".into()),
                ("three".into(), "3".into())
            ]
        );
        assert!(headers(&s, "no digits").is_empty());
    }

    #[test]
    fn millis_serializer_and_fewer_serializers_than_groups() {
        let (s, d) = parse(&[
            ("regex", r"^(\d\d\d\d-\d\d-\d\d \d\d:\d\d)Z? (\w+)"),
            ("serializers", "ts"),
            ("serializers.ts.name", "timestamp"),
            ("serializers.ts.type", MILLIS_CLASS),
            ("serializers.ts.pattern", "yyyy-MM-dd HH:mm"),
        ]);
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        let expected = JodaPattern::new("yyyy-MM-dd HH:mm")
            .expect("valid")
            .parse_millis("2012-10-18 18:47")
            .expect("parses");
        assert_eq!(
            headers(&s, "2012-10-18 18:47 INFO x"),
            [("timestamp".into(), expected.to_string())]
        );
        // Not a date: delivered without the header instead of failing the batch.
        assert!(headers(&s, "2012-19-18 18:47 INFO x").is_empty());
    }

    #[test]
    fn optional_groups_that_did_not_match_set_nothing() {
        let (s, _) = parse(&[
            ("regex", r"(a)?(b)"),
            ("serializers", "x y"),
            ("serializers.x.name", "x"),
            ("serializers.y.name", "y"),
        ]);
        let s = s.expect("parses");
        assert_eq!(headers(&s, "b"), [("y".into(), "b".into())]);
    }

    #[test]
    fn configuration_errors_as_flume_reports_them() {
        let (s, d) = parse(&[("serializers", "s1"), ("serializers.s1.name", "n")]);
        assert!(s.is_none());
        assert!(
            d.iter()
                .any(|m| m.contains("Must supply a valid regex string")),
            "{d:?}"
        );
        let (s, d) = parse(&[("regex", "(x)"), ("serializers", "s1")]);
        assert!(s.is_none());
        assert!(
            d.iter().any(|m| m.contains("serializer s1 has no name")),
            "{d:?}"
        );
        let (s, d) = parse(&[
            ("regex", "(x)"),
            ("serializers", "s1"),
            ("serializers.s1.name", "n"),
            ("serializers.s1.type", "default"),
        ]);
        assert!(s.is_none());
        assert!(
            d.iter().any(|m| m.contains("write DEFAULT (upper case)")),
            "{d:?}"
        );
        let (s, d) = parse(&[
            ("regex", "(x)"),
            ("serializers", "s1"),
            ("serializers.s1.name", "n"),
            ("serializers.s1.type", MILLIS_CLASS),
            ("serializers.s1.pattern", "yyyy qq"),
        ]);
        assert!(s.is_none());
        assert!(
            d.iter()
                .any(|m| m.contains("Illegal pattern component: qq")),
            "{d:?}"
        );
        let (s, d) = parse(&[
            ("regex", "(x)"),
            ("serializers", "s1"),
            ("serializers.s1.name", "n"),
            ("serializers.s2.name", "m"),
        ]);
        assert!(s.is_some());
        assert!(
            d.iter()
                .any(|m| m.contains("serializers.s2.name: unknown property")),
            "{d:?}"
        );
    }
}
