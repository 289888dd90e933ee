//! Flume's `SyslogUtils`: how `syslogtcp` and `syslogudp` cut a byte stream into messages and
//! turn each into an event with Flume's headers — byte for byte what Flume produces.
//!
//! Framing: a message starts at `<`; `<PRI>` is at most three digits; a message ends at `\n`
//! (TCP) or at the end of the datagram (UDP), or after `eventSize` bytes (then
//! `flume.syslog.status = Incomplete`). A message that does not start with `<digits>` is kept
//! whole with `flume.syslog.status = Invalid` and `Facility`/`Severity` 0.
//!
//! Headers: `Facility`, `Severity`, and — when the message matches Flume's RFC 5424 or RFC 3164
//! pattern (Java's `Matcher.matches`, so a `\r` anywhere after the host name makes it match
//! neither, as in Flume) — `priority`, `version`, `timestamp` (epoch ms, parsed exactly as
//! Flume's `SimpleDateFormat`s parse it: an RFC 5424 time with a fraction is read in the local
//! time zone, its offset ignored; an RFC 3164 time gets the current year and Flume's 11-months-
//! back/1-month-ahead window) and `host`. The body is the message after the host, with the
//! `keepFields` put back in front; `keepFields = all` keeps the whole message.

use std::sync::LazyLock;

use bytes::Bytes;
use chrono::{Datelike, Duration as ChronoDuration, Months, NaiveDate, NaiveDateTime, TimeZone};
use regex::Regex;

use crate::event::{Event, Headers};

/// `SyslogUtils.DEFAULT_SIZE`.
pub const DEFAULT_EVENT_SIZE: u64 = 2500;
/// `SyslogUtils.MIN_SIZE`: a smaller `eventSize` is raised to it.
pub const MIN_EVENT_SIZE: usize = 10;
/// The UDP source's size limit (RFC 5426's 64 KiB).
pub const UDP_EVENT_SIZE: usize = 1 << 16;

pub const EVENT_STATUS: &str = "flume.syslog.status";

/// Which fields `keepFields` puts back into the body (Flume's `chooseFieldsToKeep`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepFields {
    pub all: bool,
    pub priority: bool,
    pub version: bool,
    pub timestamp: bool,
    pub hostname: bool,
}

impl KeepFields {
    /// `none`/`false` keep nothing, `all`/`true` everything; otherwise each field whose name
    /// appears in the text (Flume tests `indexOf`, so `timestamp,hostname` works too).
    pub fn parse(text: &str) -> KeepFields {
        let t = text.trim().to_lowercase();
        match t.as_str() {
            "false" | "none" => KeepFields::default(),
            "true" | "all" => KeepFields {
                all: true,
                ..KeepFields::default()
            },
            _ => KeepFields {
                all: false,
                priority: t.contains("priority"),
                version: t.contains("version"),
                timestamp: t.contains("timestamp"),
                hostname: t.contains("hostname"),
            },
        }
    }

    pub fn describe(&self) -> String {
        if self.all {
            return "all".into();
        }
        let mut v = Vec::new();
        for (on, name) in [
            (self.priority, "priority"),
            (self.version, "version"),
            (self.timestamp, "timestamp"),
            (self.hostname, "hostname"),
        ] {
            if on {
                v.push(name);
            }
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join(" ")
        }
    }

    /// Flume's `addFieldsToBody`: hostname, timestamp, version, then `<priority>` in front.
    /// Java's string concatenation writes an absent field as `null`.
    pub fn add_to_body(
        &self,
        body: &str,
        priority: Option<&str>,
        version: Option<&str>,
        timestamp: Option<&str>,
        hostname: Option<&str>,
    ) -> String {
        let mut body = body.to_string();
        if self.hostname {
            body = format!("{} {body}", hostname.unwrap_or("null"));
        }
        if self.timestamp {
            body = format!("{} {body}", timestamp.unwrap_or("null"));
        }
        if self.version {
            if let Some(v) = version.filter(|v| !v.is_empty()) {
                body = format!("{v} {body}");
            }
        }
        if self.priority {
            body = format!("<{}>{body}", priority.unwrap_or("null"));
        }
        body
    }
}

// Java's classes, spelled out: `\d` and `\w` are ASCII, `\s` is `[ \t\n\x0B\f\r]`, `.` stops at
// any line terminator, and `matches()` needs the whole text.
const S: &str = r"[ \t\n\x0B\x0C\r]";
const W: &str = r"[a-zA-Z_0-9]";
const DOT: &str = r"[^\n\r\x{85}\x{2028}\x{2029}]";

static RFC5424: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\A(?:<([0-9]{{1,3}})>)(?:([0-9]?){S}?)(?:([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(?:\.[0-9]{{1,6}})?(?:[+-][0-9]{{2}}:[0-9]{{2}}|Z)?)|-){S}(?:({W}[a-zA-Z_0-9.@\-]*)|-){S}({DOT}*)\z"
    ))
    .unwrap_or_else(|e| unreachable!("{e}"))
});

static RFC3164: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\A(?:<([0-9]{{1,3}})>)(?:([0-9])?{S}?)([A-Z][a-z][a-z]{S}{{1,2}}[0-9]{{1,2}}{S}[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}){S}({W}[a-zA-Z_0-9.@-]*){S}({DOT}*)\z"
    ))
    .unwrap_or_else(|e| unreachable!("{e}"))
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Start,
    Prio,
    Data,
}

/// The per-connection state of Flume's `extractEvent` (one per TCP connection).
#[derive(Debug)]
pub struct Extractor {
    mode: Mode,
    prio: String,
    buf: Vec<u8>,
    bad: bool,
    incomplete: bool,
    max_size: usize,
    keep: KeepFields,
    /// Flume's `priority` and `version` fields are not cleared between messages (its `reset()`
    /// forgets them): a message that matches no pattern, or an invalid one, carries the
    /// previous message's values. Reproduced, since the headers are what consumers see.
    priority: Option<String>,
    version: Option<String>,
}

impl Extractor {
    pub fn new(event_size: usize, keep: KeepFields) -> Self {
        Extractor {
            mode: Mode::Start,
            prio: String::new(),
            buf: Vec::new(),
            bad: false,
            incomplete: false,
            max_size: event_size.max(MIN_EVENT_SIZE),
            keep,
            priority: None,
            version: None,
        }
    }

    /// Feeds bytes of the stream; every completed message becomes an event in `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Event>) {
        while let Some((&b, rest)) = data.split_first() {
            match self.mode {
                Mode::Start => {
                    data = rest;
                    if b == b'<' {
                        self.buf.push(b);
                        self.mode = Mode::Prio;
                    } else if b != b'\n' {
                        // Not a syslog message: everything up to the newline is kept as data.
                        self.bad = true;
                        self.buf.push(b);
                        self.mode = Mode::Data;
                        self.check_size(out);
                    }
                }
                Mode::Prio => {
                    data = rest;
                    self.buf.push(b);
                    if b == b'>' {
                        if self.prio.is_empty() {
                            self.bad = true;
                        }
                        self.mode = Mode::Data;
                    } else {
                        self.prio.push(b as char);
                        if !b.is_ascii_digit() || self.prio.len() > 3 {
                            self.bad = true;
                            self.mode = Mode::Data;
                        }
                    }
                    self.check_size(out);
                }
                Mode::Data => {
                    // Copy up to the newline or the size limit in one go.
                    let room = self.max_size.saturating_sub(self.buf.len());
                    let window = &data[..data.len().min(room)];
                    match memchr::memchr(b'\n', window) {
                        Some(i) => {
                            self.buf.extend_from_slice(&window[..i]);
                            data = &data[i + 1..];
                            out.push(self.build());
                        }
                        None => {
                            self.buf.extend_from_slice(window);
                            data = &data[window.len()..];
                            self.check_size(out);
                        }
                    }
                }
            }
        }
    }

    /// Flume's size check: a message that reached `eventSize` bytes without its newline is
    /// cut there and marked Incomplete.
    fn check_size(&mut self, out: &mut Vec<Event>) {
        if self.mode == Mode::Data && self.buf.len() >= self.max_size {
            self.incomplete = true;
            out.push(self.build());
        }
    }

    /// The end of a datagram: what was received is the message (UDP has no newline).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.mode != Mode::Start || !self.buf.is_empty() {
            out.push(self.build());
        }
    }

    /// Flume's `buildEvent`.
    fn build(&mut self) -> Event {
        let raw = std::mem::take(&mut self.buf);
        let mut headers = Headers::new();
        let (mut facility, mut severity) = (0, 0);
        let mut parsed = Parsed::default();
        if !self.bad {
            // Up to three digits: parse cannot fail.
            let pri: u32 = self.prio.parse().unwrap_or(0);
            severity = pri % 8;
            facility = pri / 8;
            parsed = format_headers(&raw, self.keep);
            if parsed.matched {
                self.priority = parsed.priority.take();
                self.version = parsed.version.take();
            }
        }
        headers.insert("Facility", facility.to_string());
        headers.insert("Severity", severity.to_string());
        for (k, v) in [
            ("priority", &self.priority),
            ("version", &self.version),
            ("timestamp", &parsed.timestamp),
            ("host", &parsed.host),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                headers.insert(k, v.clone());
            }
        }
        if self.bad {
            headers.insert(EVENT_STATUS, "Invalid");
        } else if self.incomplete {
            headers.insert(EVENT_STATUS, "Incomplete");
        }
        let body: Bytes = match parsed.body.filter(|b| !b.is_empty() && !self.keep.all) {
            Some(b) => b.into_bytes().into(),
            None => raw.into(),
        };
        self.mode = Mode::Start;
        self.prio.clear();
        self.bad = false;
        self.incomplete = false;
        Event::with_headers(headers, body)
    }
}

#[derive(Default)]
struct Parsed {
    matched: bool,
    priority: Option<String>,
    version: Option<String>,
    timestamp: Option<String>,
    host: Option<String>,
    body: Option<String>,
}

/// Flume's `formatHeaders`: the first of its patterns that matches the whole message (decoded
/// as UTF-8, the platform charset Flume runs with, bad bytes as U+FFFD).
fn format_headers(raw: &[u8], keep: KeepFields) -> Parsed {
    let text = String::from_utf8_lossy(raw);
    for (re, rfc5424) in [(&*RFC5424, true), (&*RFC3164, false)] {
        let Some(c) = re.captures(&text) else {
            continue;
        };
        let group = |i: usize| c.get(i).map(|m| m.as_str().to_string());
        let ts_text = group(3);
        let timestamp = ts_text.as_deref().and_then(|t| {
            if rfc5424 {
                rfc5424_millis(t)
            } else {
                rfc3164_millis(t, chrono::Utc::now())
            }
            .map(|ms| ms.to_string())
        });
        let priority = group(1);
        let version = group(2);
        let host = group(4);
        let body = group(5).map(|b| {
            keep.add_to_body(
                &b,
                priority.as_deref(),
                version.as_deref(),
                ts_text.as_deref(),
                host.as_deref(),
            )
        });
        return Parsed {
            matched: true,
            priority,
            version,
            timestamp,
            host,
            body,
        };
    }
    Parsed::default()
}

/// A date from possibly out-of-range fields, as a lenient `GregorianCalendar` rolls them over
/// (month 13 is January of the next year, day 32 the first of the next month, …).
fn lenient(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<NaiveDateTime> {
    let base = NaiveDate::from_ymd_opt(y, 1, 1)?
        .checked_add_months(Months::new(mo.checked_sub(1)?))?
        .and_hms_opt(0, 0, 0)?;
    base.checked_add_signed(ChronoDuration::days(i64::from(d) - 1))?
        .checked_add_signed(ChronoDuration::hours(h.into()))?
        .checked_add_signed(ChronoDuration::minutes(mi.into()))?
        .checked_add_signed(ChronoDuration::seconds(s.into()))?
        .checked_add_signed(ChronoDuration::milliseconds(ms.into()))
}

fn local_millis(t: NaiveDateTime) -> Option<i64> {
    chrono::Local
        .from_local_datetime(&t)
        .earliest()
        .or_else(|| {
            // A time in a DST gap: Java's lenient calendar moves it forward by the gap.
            chrono::Local
                .from_local_datetime(&(t + ChronoDuration::hours(1)))
                .earliest()
        })
        .map(|dt| dt.timestamp_millis())
}

fn num(s: &str) -> Option<u32> {
    s.parse().ok()
}

/// An RFC 5424 timestamp as Flume's four `SimpleDateFormat`s read it, after its replacements
/// (`Z` → `+0000`, `+hh:mm` → `+hhmm`, fraction cut to 3 digits): with a fraction the first
/// format (`…ss.S`) wins and ignores the offset — local time, the fraction's digits as a number
/// of milliseconds (`.5` is 5 ms); without one, `…ssZ` honours the offset, else local time.
pub fn rfc5424_millis(ts: &str) -> Option<i64> {
    // The pattern guarantees `yyyy-MM-ddTHH:mm:ss` at the start.
    let (y, mo, d, h, mi, s) = (
        ts.get(0..4)?.parse::<i32>().ok()?,
        num(ts.get(5..7)?)?,
        num(ts.get(8..10)?)?,
        num(ts.get(11..13)?)?,
        num(ts.get(14..16)?)?,
        num(ts.get(17..19)?)?,
    );
    let rest = ts.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .take(3)
            .collect();
        let ms = num(&digits)?;
        return local_millis(lenient(y, mo, d, h, mi, s, ms)?);
    }
    let t = lenient(y, mo, d, h, mi, s, 0)?;
    let offset_min = match rest {
        "" => return local_millis(t),
        "Z" => 0,
        z => {
            let sign = match z.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh = num(z.get(1..3)?)? as i64;
            let mm = num(z.get(z.len() - 2..)?)? as i64;
            sign * (hh * 60 + mm)
        }
    };
    Some(t.and_utc().timestamp_millis() - offset_min * 60_000)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// An RFC 3164 timestamp (`Mmm d HH:mm:ss`) as Flume reads it: the current (UTC) year put in
/// front, parsed in local time, then moved a year back if it is more than a month ahead of
/// `now`, or a year forward if it is more than eleven months behind.
pub fn rfc3164_millis(ts: &str, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let one_space = ts.replace("  ", " ");
    let mut parts = one_space.split([' ', '\t', '\u{B}', '\u{C}', '\r', '\n']);
    let month = parts.next()?.to_ascii_lowercase();
    let mo = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let d = num(parts.next()?)?;
    let hms = parts.next()?;
    let (h, mi, s) = (
        num(hms.get(0..2)?)?,
        num(hms.get(3..5)?)?,
        num(hms.get(6..8)?)?,
    );
    let t = lenient(now.year(), mo, d, h, mi, s, 0)?;
    let parsed = local_millis(t)?;
    let now_ms = now.timestamp_millis();
    let shift = |months: i32| -> Option<i64> {
        let m = if months >= 0 {
            t.checked_add_months(Months::new(months as u32))?
        } else {
            t.checked_sub_months(Months::new(months.unsigned_abs()))?
        };
        local_millis(m)
    };
    if parsed > now_ms && shift(-1)? > now_ms {
        shift(-12)
    } else if parsed < now_ms && shift(11)? < now_ms {
        shift(12)
    } else {
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(data: &[&[u8]], keep: KeepFields, size: usize) -> Vec<Event> {
        let mut x = Extractor::new(size, keep);
        let mut out = Vec::new();
        for d in data {
            x.push(d, &mut out);
        }
        out
    }

    fn headers(e: &Event) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = e
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rfc5424_with_utc_time_and_fraction_free() {
        let e = extract(
            &[b"<34>1 2003-10-11T22:14:15Z mymachine.example.com su - ID47 - 'su root' failed\n"],
            KeepFields::default(),
            2500,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(
            headers(&e[0]),
            h(&[
                ("Facility", "4"),
                ("Severity", "2"),
                ("priority", "34"),
                ("version", "1"),
                ("timestamp", "1065910455000"),
                ("host", "mymachine.example.com"),
            ])
        );
        assert_eq!(&e[0].body[..], b"su - ID47 - 'su root' failed");
    }

    #[test]
    fn rfc5424_with_a_fraction_is_local_time_and_the_digits_are_milliseconds() {
        // The suite runs in UTC unless TZ says otherwise; compare with the local reading.
        let local = local_millis(lenient(2012, 4, 13, 11, 11, 11, 5).unwrap()).unwrap();
        assert_eq!(rfc5424_millis("2012-04-13T11:11:11.5+0200"), Some(local));
        assert_eq!(
            rfc5424_millis("2012-04-13T11:11:11+0200"),
            Some(1_334_308_271_000)
        );
    }

    #[test]
    fn rfc3164_and_keep_fields() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let ms = rfc3164_millis("Oct 11 22:14:15", now).unwrap();
        let expected = local_millis(lenient(2025, 10, 11, 22, 14, 15, 0).unwrap()).unwrap();
        assert_eq!(
            ms, expected,
            "more than 11 months back would be next year; 8 months is this"
        );
        let e = extract(
            &[b"<13>Oct  1 22:14:15 host1 app: hello\n"],
            KeepFields::parse("hostname priority"),
            2500,
        );
        assert_eq!(&e[0].body[..], b"<13>host1 app: hello");
        assert_eq!(e[0].headers.get("host"), Some("host1"));
        let all = extract(
            &[b"<13>Oct  1 22:14:15 host1 app\n"],
            KeepFields::parse("all"),
            2500,
        );
        assert_eq!(&all[0].body[..], b"<13>Oct  1 22:14:15 host1 app");
    }

    #[test]
    fn invalid_incomplete_and_crlf_as_flume() {
        let e = extract(
            &[b"no priority here\n<13>x\r\n"],
            KeepFields::default(),
            2500,
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].headers.get(EVENT_STATUS), Some("Invalid"));
        assert_eq!(e[0].headers.get("Facility"), Some("0"));
        assert_eq!(&e[0].body[..], b"no priority here");
        // Matches no pattern: the whole message, `\r` included, is the body.
        assert_eq!(&e[1].body[..], b"<13>x\r");
        assert_eq!(e[1].headers.get("Severity"), Some("5"));
        let long = extract(&[b"<13>0123456789abcdef\n"], KeepFields::default(), 10);
        assert_eq!(long[0].headers.get(EVENT_STATUS), Some("Incomplete"));
        assert_eq!(&long[0].body[..], b"<13>012345");
        // The rest of the line is the next message: not a syslog one.
        assert_eq!(long[1].headers.get(EVENT_STATUS), Some("Invalid"));
    }

    #[test]
    fn priority_and_version_carry_over_to_a_message_matching_no_pattern_as_in_flume() {
        let e = extract(
            &[b"<34>1 2003-10-11T22:14:15Z h a - - x\n<13>junk\n"],
            KeepFields::default(),
            2500,
        );
        assert_eq!(e[1].headers.get("priority"), Some("34"));
        assert_eq!(e[1].headers.get("version"), Some("1"));
        assert_eq!(e[1].headers.get("Severity"), Some("5"));
    }

    #[test]
    fn a_message_split_across_reads_is_one_event() {
        let e = extract(
            &[b"<1", b"3>Oct 11 22:14:15 h ", b"body\n\n"],
            KeepFields::default(),
            2500,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(&e[0].body[..], b"body");
    }

    #[test]
    fn a_datagram_without_newline_is_one_message() {
        let mut x = Extractor::new(UDP_EVENT_SIZE, KeepFields::default());
        let mut out = Vec::new();
        x.push(b"<13>Oct 11 22:14:15 h body", &mut out);
        assert!(out.is_empty());
        x.finish(&mut out);
        assert_eq!(&out[0].body[..], b"body");
        x.finish(&mut out);
        assert_eq!(out.len(), 1, "nothing pending: no empty event");
    }
}
