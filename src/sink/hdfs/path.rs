//! Flume's `BucketPath.escapeString`: `hdfs.path` and `hdfs.filePrefix` with escapes replaced per
//! event — `%{header}` (empty when absent), `%[localhost]`, `%[IP]`, `%[FQDN]`, and the time
//! escapes of the event's `timestamp` header (or the local clock with `useLocalTimeStamp`),
//! rounded down first when `hdfs.round` is set, in `hdfs.timeZone` (else the machine's zone).
//!
//! A template is parsed once into segments (Flume matches its regex per event), and rendered into
//! a reused buffer, so an event costs no allocation unless its bucket is new.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Local, TimeZone, Timelike, Utc};
use thiserror::Error;

use crate::event::Headers;

/// `hdfs.roundUnit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
}

/// `hdfs.round` with its unit and value: timestamps are rounded down to a multiple of `value`
/// units (Flume's `TimestampRoundDownUtil`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounding {
    pub unit: TimeUnit,
    pub value: u32,
}

/// The zone times are written in.
#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    /// No `hdfs.timeZone`: the JVM's default, i.e. the machine's.
    Local,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// A Java time-zone ID: `UTC`, `GMT`, `GMT+8`, `GMT-03:30`, or an IANA name. `None` for what
    /// Java's `TimeZone.getTimeZone` would turn into GMT.
    pub fn parse(id: &str) -> Option<Zone> {
        let id = id.trim();
        if let Some(rest) = id.strip_prefix("GMT").filter(|r| !r.is_empty()) {
            return custom_offset(rest).map(Zone::Fixed);
        }
        if let Ok(tz) = id.parse::<chrono_tz::Tz>() {
            return Some(Zone::Named(tz));
        }
        None
    }
}

/// Java's custom IDs after `GMT`: `+h`, `+hh`, `+hhmm`, `+h:mm`, `+hh:mm`, hours up to 23.
fn custom_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) if (1..=2).contains(&h.len()) && m.len() == 2 => (h, m),
        Some(_) => return None,
        None if rest.len() <= 2 => (rest, "0"),
        None if rest.len() == 4 => (&rest[..2], &rest[2..]),
        None => return None,
    };
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) || h.is_empty() {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Why a path could not be rendered for an event (Flume throws; the batch rolls back).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EscapeError {
    #[error("the event has no timestamp header, which the time escapes in '{template}' need (set hdfs.useLocalTimeStamp = true or add a timestamp interceptor)")]
    NoTimestamp { template: String },
    #[error("the event's timestamp header '{value}' is not a number of milliseconds (needed by the time escapes in '{template}')")]
    BadTimestamp { template: String, value: String },
}

/// Why a template cannot be used at all.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("the static escape string '%[{0}]' does not match any of (localhost, IP, FQDN)")]
    UnknownStatic(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Literal(String),
    Header(String),
    /// `%[localhost]`, `%[IP]`, `%[FQDN]`: resolved once, when the sink starts.
    Static(String),
    Time(char),
}

/// A parsed `hdfs.path` or `hdfs.filePrefix`.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketPath {
    template: String,
    segments: Vec<Segment>,
    zone: Zone,
    rounding: Option<Rounding>,
    use_local_time_stamp: bool,
    has_time: bool,
}

/// The host names `%[localhost]`, `%[IP]` and `%[FQDN]` stand for (Java's `InetAddress`
/// `getLocalHost().getHostName()`, `.getHostAddress()`, `.getCanonicalHostName()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostNames {
    pub hostname: String,
    pub ip: String,
    pub fqdn: String,
}

impl HostNames {
    pub fn of_this_machine() -> HostNames {
        let hostname = local_hostname();
        let ip = std::net::ToSocketAddrs::to_socket_addrs(&(hostname.as_str(), 0))
            .ok()
            .and_then(|mut a| a.find(|a| a.is_ipv4()).or(None))
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let fqdn = canonical_name(&hostname).unwrap_or_else(|| hostname.clone());
        HostNames { hostname, ip, fqdn }
    }
}

fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and the last byte stays 0.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// getaddrinfo's canonical name for `host`, as Java's `getCanonicalHostName` asks the resolver.
fn canonical_name(host: &str) -> Option<String> {
    let c_host = std::ffi::CString::new(host).ok()?;
    // SAFETY: hints is zeroed then filled; getaddrinfo writes a list we free with freeaddrinfo,
    // and ai_canonname is read only while that list lives.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        hints.ai_family = libc::AF_UNSPEC;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) != 0 {
            return None;
        }
        let name = if res.is_null() || (*res).ai_canonname.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*res).ai_canonname)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        if !res.is_null() {
            libc::freeaddrinfo(res);
        }
        name
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl BucketPath {
    /// Parses `template` as Flume's `TAG_REGEX` reads it: `%x` (one word character or `%`),
    /// `%{name}` (word characters, `.` and `-`), `%[name]`; anything else stays literal.
    pub fn new(
        template: &str,
        zone: Zone,
        rounding: Option<Rounding>,
        use_local_time_stamp: bool,
    ) -> BucketPath {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('%') {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let mut chars = after.chars();
            let tag = match chars.next() {
                Some('{') => after[1..]
                    .find('}')
                    .filter(|&n| {
                        n > 0
                            && after[1..1 + n]
                                .chars()
                                .all(|c| is_word(c) || c == '.' || c == '-')
                    })
                    .map(|n| (Segment::Header(after[1..1 + n].to_string()), n + 2)),
                Some('[') => after[1..]
                    .find(']')
                    .filter(|&n| n > 0 && after[1..1 + n].chars().all(is_word))
                    .map(|n| (Segment::Static(after[1..1 + n].to_string()), n + 2)),
                Some(c) if c == '%' || is_word(c) => Some((Segment::Time(c), c.len_utf8())),
                _ => None,
            };
            match tag {
                Some((seg, len)) => {
                    if !lit.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut lit)));
                    }
                    segments.push(seg);
                    rest = &after[len..];
                }
                None => {
                    lit.push('%');
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        let has_time = segments
            .iter()
            .any(|s| matches!(s, Segment::Time(c) if *c != '%'));
        BucketPath {
            template: template.to_string(),
            segments,
            zone,
            rounding,
            use_local_time_stamp,
            has_time,
        }
    }

    /// Replaces `%[…]` with this machine's names; an unknown name is an error (Flume throws on
    /// every event).
    pub fn resolve_statics(&mut self, hosts: &HostNames) -> Result<(), TemplateError> {
        for seg in &mut self.segments {
            if let Segment::Static(name) = seg {
                let value = match name.to_ascii_lowercase().as_str() {
                    "localhost" => hosts.hostname.clone(),
                    "ip" => hosts.ip.clone(),
                    "fqdn" => hosts.fqdn.clone(),
                    _ => return Err(TemplateError::UnknownStatic(name.clone())),
                };
                *seg = Segment::Literal(value);
            }
        }
        Ok(())
    }

    /// The names in `%[…]` that [`BucketPath::resolve_statics`] would refuse.
    pub fn unknown_statics(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Static(n)
                    if !["localhost", "ip", "fqdn"].contains(&n.to_ascii_lowercase().as_str()) =>
                {
                    Some(n.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Appends the rendering for an event with `headers` to `out`; `now_ms` is the local clock
    /// (used with `useLocalTimeStamp`).
    pub fn render(
        &self,
        headers: &Headers,
        now_ms: i64,
        out: &mut String,
    ) -> Result<(), EscapeError> {
        let ts = if !self.has_time {
            0
        } else if self.use_local_time_stamp {
            now_ms
        } else {
            let Some(v) = headers.get("timestamp") else {
                return Err(EscapeError::NoTimestamp {
                    template: self.template.clone(),
                });
            };
            v.trim()
                .parse::<i64>()
                .map_err(|_| EscapeError::BadTimestamp {
                    template: self.template.clone(),
                    value: v.to_string(),
                })?
        };
        let ts = match self.rounding {
            Some(r) if self.has_time => self.round_down(ts, r),
            _ => ts,
        };
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) | Segment::Static(s) => out.push_str(s),
                Segment::Header(h) => out.push_str(headers.get(h).unwrap_or("")),
                Segment::Time('%') => out.push('%'),
                Segment::Time('s') => {
                    let _ = write!(out, "{}", ts.div_euclid(1000));
                }
                Segment::Time('t') => match headers.get("timestamp") {
                    Some(v) if !self.use_local_time_stamp => out.push_str(v),
                    _ => {
                        let _ = write!(out, "{ts}");
                    }
                },
                Segment::Time(c) => self.format_time(ts, *c, out),
            }
        }
        Ok(())
    }

    fn format_time(&self, ts: i64, c: char, out: &mut String) {
        let Some(fmt) = strftime_of(c) else {
            // Flume: an unknown escape becomes the empty string.
            return;
        };
        let utc = DateTime::<Utc>::from_timestamp_millis(ts).unwrap_or_default();
        match &self.zone {
            Zone::Local => write_in(&utc.with_timezone(&Local), fmt, out),
            Zone::Fixed(z) => write_in(&utc.with_timezone(z), fmt, out),
            Zone::Named(z) => write_in(&utc.with_timezone(z), fmt, out),
        }
    }

    /// Flume's `TimestampRoundDownUtil`: the unit's field rounded down to a multiple of the value,
    /// smaller fields zeroed, in the sink's zone.
    fn round_down(&self, ts: i64, r: Rounding) -> i64 {
        let utc = DateTime::<Utc>::from_timestamp_millis(ts).unwrap_or_default();
        let (h, m, s, ms) = match &self.zone {
            Zone::Local => fields(&utc.with_timezone(&Local)),
            Zone::Fixed(z) => fields(&utc.with_timezone(z)),
            Zone::Named(z) => fields(&utc.with_timezone(z)),
        };
        let v = i64::from(r.value.max(1));
        let drop_ms = match r.unit {
            TimeUnit::Second => (s % v) * 1000 + ms,
            TimeUnit::Minute => (m % v) * 60_000 + s * 1000 + ms,
            TimeUnit::Hour => (h % v) * 3_600_000 + m * 60_000 + s * 1000 + ms,
        };
        ts.saturating_sub(drop_ms)
    }
}

fn fields<Tz: TimeZone>(dt: &DateTime<Tz>) -> (i64, i64, i64, i64) {
    (
        i64::from(dt.hour()),
        i64::from(dt.minute()),
        i64::from(dt.second()),
        i64::from(dt.timestamp_subsec_millis().min(999)),
    )
}

fn write_in<Tz: TimeZone>(dt: &DateTime<Tz>, fmt: &str, out: &mut String)
where
    Tz::Offset: std::fmt::Display,
{
    let _ = write!(out, "{}", dt.format(fmt));
}

/// Flume's `SimpleDateFormat` pattern per escape, as chrono's strftime (English names, as a JVM
/// in an English locale writes them).
fn strftime_of(c: char) -> Option<&'static str> {
    Some(match c {
        'a' => "%a",
        'A' => "%A",
        'b' => "%b",
        'B' => "%B",
        'c' => "%a %b %-d %H:%M:%S %Y",
        'd' => "%d",
        'e' => "%-d",
        'D' => "%m/%d/%y",
        'H' => "%H",
        'I' => "%I",
        'j' => "%j",
        'k' => "%-H",
        'l' => "%-I",
        'm' => "%m",
        'M' => "%M",
        'n' => "%-m",
        'p' => "%p",
        'S' => "%S",
        'y' => "%y",
        'Y' => "%Y",
        'z' => "%z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("UTC").unwrap()
    }

    fn render(
        template: &str,
        headers: &[(&str, &str)],
        zone: Zone,
        rounding: Option<Rounding>,
    ) -> Result<String, EscapeError> {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(*k, *v);
        }
        let mut p = BucketPath::new(template, zone, rounding, false);
        p.resolve_statics(&HostNames {
            hostname: "web1".into(),
            ip: "10.0.0.7".into(),
            fqdn: "web1.example.com".into(),
        })
        .unwrap();
        let mut out = String::new();
        p.render(&h, 0, &mut out).map(|()| out)
    }

    // 2021-03-04 05:06:07.890 UTC, a Thursday, day 63 of the year.
    const TS: &str = "1614834367890";

    #[test]
    fn time_escapes_match_simpledateformat() {
        let got = render(
            "/l/%Y/%m/%d/%H/%M/%S/%y/%j/%s/%z/%a/%b/%A/%B/%e/%k/%I/%l/%p/%D/%n/%c/%t/%%",
            &[("timestamp", TS)],
            utc(),
            None,
        )
        .unwrap();
        assert_eq!(
            got,
            "/l/2021/03/04/05/06/07/21/063/1614834367/+0000/Thu/Mar/Thursday/March/4/5/05/5/AM/03/04/21/3/Thu Mar 4 05:06:07 2021/1614834367890/%"
        );
    }

    #[test]
    fn headers_statics_and_unknown_escapes() {
        let got = render(
            "/logs/%{log_type}/%{missing}/%[localhost]-%[IP]-%[FQDN]/%x%{bad name}%[",
            &[("log_type", "nginx"), ("timestamp", TS)],
            utc(),
            None,
        )
        .unwrap();
        // %x is unknown (empty, as Flume; it still needs a timestamp, as there); "%{bad name}" does not match the tag regex but its
        // "%{" does not either, so it stays literal.
        assert_eq!(
            got,
            "/logs/nginx//web1-10.0.0.7-web1.example.com/%{bad name}%["
        );
        let mut p = BucketPath::new("/a/%[host]", utc(), None, false);
        assert_eq!(p.unknown_statics(), ["host"]);
        assert!(p.resolve_statics(&HostNames::of_this_machine()).is_err());
    }

    #[test]
    fn time_zone_and_rounding() {
        let tz = Zone::parse("GMT+08:00").unwrap();
        assert_eq!(
            render("%H%M", &[("timestamp", TS)], tz.clone(), None).unwrap(),
            "1306"
        );
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            render("%H", &[("timestamp", TS)], berlin, None).unwrap(),
            "06"
        );
        let hour24 = Some(Rounding {
            unit: TimeUnit::Hour,
            value: 24,
        });
        assert_eq!(
            render("%Y%m%d-%H%M%S", &[("timestamp", TS)], tz.clone(), hour24).unwrap(),
            "20210304-000000"
        );
        let min10 = Some(Rounding {
            unit: TimeUnit::Minute,
            value: 10,
        });
        assert_eq!(
            render("%H:%M:%S", &[("timestamp", TS)], utc(), min10).unwrap(),
            "05:00:00"
        );
        let sec5 = Some(Rounding {
            unit: TimeUnit::Second,
            value: 5,
        });
        assert_eq!(
            render("%s", &[("timestamp", TS)], utc(), sec5).unwrap(),
            "1614834365"
        );
        assert_eq!(Zone::parse("Nowhere/Atlantis"), None);
        assert_eq!(
            Zone::parse("GMT+8"),
            Some(Zone::Fixed(FixedOffset::east_opt(8 * 3600).unwrap()))
        );
        assert_eq!(Zone::parse("GMT+24"), None);
    }

    #[test]
    fn time_escapes_without_a_timestamp_fail_like_flume() {
        assert!(matches!(
            render("/%Y", &[], utc(), None),
            Err(EscapeError::NoTimestamp { .. })
        ));
        assert!(matches!(
            render("/%Y", &[("timestamp", "soon")], utc(), None),
            Err(EscapeError::BadTimestamp { .. })
        ));
        // No time escape: no timestamp needed.
        assert_eq!(render("/%{a}/%%", &[], utc(), None).unwrap(), "//%");
        // The local clock with useLocalTimeStamp.
        let p = BucketPath::new("%s", utc(), None, true);
        let mut out = String::new();
        p.render(&Headers::new(), 42_000, &mut out).unwrap();
        assert_eq!(out, "42");
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        for ts in [i64::MIN, i64::MAX, -1, 0] {
            let ts = ts.to_string();
            let r = Some(Rounding {
                unit: TimeUnit::Hour,
                value: 24,
            });
            assert!(render("%Y%j%s%c", &[("timestamp", &ts)], utc(), r).is_ok());
        }
    }
}
