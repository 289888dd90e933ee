//! Flume's `SyslogParser` and `LineSplitter`: how `multiport_syslogtcp` frames and parses a
//! message. It differs from `syslogtcp` (see `utils.rs`), and rflume keeps the differences:
//! headers `Priority`, `Facility`, `Severity`, `Version` (only for `1 `), `timestamp` (always:
//! the receive time for `-`, 0 for an unreadable RFC 3164 time, UTC otherwise) and `host`; the
//! text is decoded in the port's charset.
//!
//! Flume's RFC 3164 year: Joda parses the time in the year 2000, sets the current year, and on
//! a time more than a month ahead or behind takes 1999 or 2001 (it shifts the parsed date, not
//! the fixed one). Reproduced: it is what Flume's consumers have been seeing.
//!
//! Where Flume loses data, rflume does not: a message whose RFC 5424 time has a fraction but no
//! offset (Flume: `StringIndexOutOfBoundsException`, the batch is dropped) and an empty line
//! (the same exception) become an Invalid event and nothing, respectively.

use bytes::Bytes;
use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};

use super::utils::{KeepFields, EVENT_STATUS};
use crate::event::{Event, Headers};
use crate::interceptor::search_replace::Charset;

/// Decodes `line` in `charset`; `None` when it is not valid there (Flume's decoder reports).
fn decode(line: &[u8], charset: Charset) -> Option<String> {
    match charset {
        Charset::Utf8 => std::str::from_utf8(line).ok().map(str::to_string),
        Charset::Latin1 => Some(line.iter().map(|&b| b as char).collect()),
        Charset::Ascii => line
            .is_ascii()
            .then(|| line.iter().map(|&b| b as char).collect()),
    }
}

fn encode(text: &str, charset: Charset) -> Vec<u8> {
    match charset {
        Charset::Utf8 => text.as_bytes().to_vec(),
        Charset::Latin1 => text
            .chars()
            .map(|c| if (c as u32) <= 0xFF { c as u8 } else { b'?' })
            .collect(),
        Charset::Ascii => text
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect(),
    }
}

/// Why a message is Invalid (Flume's `IllegalArgumentException` messages, for the debug log).
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// Flume's `MultiportSyslogHandler.parseEvent`: one framed line to one event.
pub fn parse_line(
    line: &[u8],
    incomplete: bool,
    charset: Charset,
    keep: KeepFields,
    now_ms: i64,
) -> Option<Event> {
    if line.is_empty() {
        // Flume throws on an empty line and loses the batch; there is nothing in it to keep.
        return None;
    }
    let Some(msg) = decode(line, charset) else {
        let mut h = Headers::new();
        h.insert(EVENT_STATUS, "Invalid");
        return Some(Event::with_headers(h, Bytes::copy_from_slice(line)));
    };
    Some(match parse_message(&msg, charset, keep, now_ms) {
        Ok(mut e) => {
            if incomplete {
                e.headers.insert(EVENT_STATUS, "Incomplete");
            }
            e
        }
        Err(_) => {
            let mut h = Headers::new();
            h.insert(EVENT_STATUS, "Invalid");
            Event::with_headers(h, encode(&msg, charset))
        }
    })
}

/// Flume's `SyslogParser.parseMessage` (positions in Java chars are chars here: the markers it
/// looks for are ASCII).
pub fn parse_message(
    msg: &str,
    charset: Charset,
    keep: KeepFields,
    now_ms: i64,
) -> Result<Event, Invalid> {
    let b = msg.as_bytes();
    if b.first() != Some(&b'<') {
        return Err(Invalid("invalid priority: cannot find open bracket '<'"));
    }
    let end_bracket = msg.find('>').filter(|&i| i > 0 && i <= 6);
    let Some(end_bracket) = end_bracket else {
        return Err(Invalid("invalid priority: cannot find end bracket '>'"));
    };
    let priority = &msg[1..end_bracket];
    let pri: i64 = priority
        .parse()
        .map_err(|_| Invalid("invalid priority: not a number"))?;
    let mut h = Headers::new();
    h.insert("Priority", priority);
    h.insert("Facility", (pri / 8).to_string());
    h.insert("Severity", (pri % 8).to_string());
    if b.len() <= end_bracket + 1 {
        return Err(Invalid("no data except priority"));
    }
    let mut cur = end_bracket + 1;
    let mut version = None;
    if b.len() > cur + 2 && &b[cur..cur + 2] == b"1 " {
        version = Some("1");
        h.insert("Version", "1");
        cur += 2;
    }
    let date_start = *b.get(cur).ok_or(Invalid("no timestamp"))?;
    let (ts, ts_text) = if date_start == b'-' {
        if b.len() <= cur + 2 {
            return Err(Invalid("bad syslog format (missing hostname)"));
        }
        let t = (now_ms, "-".to_string());
        cur += 2;
        t
    } else if date_start.is_ascii_uppercase() {
        const RFC3164_LEN: usize = 15;
        if b.len() <= cur + RFC3164_LEN {
            return Err(Invalid("bad timestamp format"));
        }
        let text = msg
            .get(cur..cur + RFC3164_LEN)
            .ok_or(Invalid("bad timestamp format"))?;
        let ts = rfc3164_millis(text, now_ms);
        cur += RFC3164_LEN + 1;
        (ts, text.to_string())
    } else {
        let next_space = msg[cur..]
            .find(' ')
            .map(|i| cur + i)
            .ok_or(Invalid("bad timestamp format"))?;
        let text = &msg[cur..next_space];
        let ts = rfc5424_millis(text)?;
        cur = next_space + 1;
        (ts, text.to_string())
    };
    h.insert("timestamp", ts.to_string());
    let rest = msg.get(cur..).ok_or(Invalid("missing hostname"))?;
    let next_space = rest
        .find(' ')
        .map(|i| cur + i)
        .ok_or(Invalid("bad syslog format (missing hostname)"))?;
    let hostname = &msg[cur..next_space];
    h.insert("host", hostname);
    let data = if b.len() > next_space + 1 && !keep.all {
        keep.add_to_body(
            &msg[next_space + 1..],
            Some(priority),
            version,
            Some(&ts_text),
            Some(hostname),
        )
    } else {
        msg.to_string()
    };
    Ok(Event::with_headers(h, encode(&data, charset)))
}

/// Flume's `parseRfc5424Date`: `yyyy-MM-ddTHH:mm:ss` in UTC (strict), an optional fraction
/// rounded to milliseconds, then `Z` or `±hh:mm`.
fn rfc5424_millis(ts: &str) -> Result<i64, Invalid> {
    const PREFIX: usize = 19;
    let bad = Invalid("Not a valid RFC5424 timestamp");
    if ts.len() <= PREFIX {
        return Err(bad);
    }
    let prefix = ts.get(..PREFIX).ok_or(Invalid("bad timestamp format"))?;
    let t = NaiveDateTime::parse_from_str(prefix, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| Invalid("bad timestamp format"))?;
    let mut ms = t.and_utc().timestamp_millis();
    let b = ts.as_bytes();
    let mut cur = PREFIX;
    if b[cur] == b'.' {
        let digits_end = b[cur + 1..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map(|i| cur + 1 + i);
        // Flume reads past the end here (StringIndexOutOfBoundsException) when the fraction
        // ends the text: no offset follows. An Invalid event instead of a lost batch.
        let Some(end) = digits_end else {
            return Err(Invalid("bad timestamp format (no TZ)"));
        };
        let n = end - (cur + 1);
        if n == 0 {
            return Err(Invalid("Invalid timestamp (fractional portion)"));
        }
        let digits = &ts[cur + 1..end];
        let mut frac: i64 = digits.parse().map_err(|_| bad_fraction())?;
        if n > 3 {
            frac /= 10_i64.checked_pow((n - 3) as u32).unwrap_or(i64::MAX);
        } else if n < 3 {
            frac *= 10_i64.pow((3 - n) as u32);
        }
        ms += frac;
        cur = end;
    }
    match b[cur] {
        b'Z' => {}
        sign @ (b'+' | b'-') => {
            if b.len() <= cur + 5 {
                return Err(Invalid("Invalid timezone"));
            }
            let z = &b[cur + 1..cur + 6];
            let ok = z[0].is_ascii_digit()
                && z[1].is_ascii_digit()
                && z[2] == b':'
                && z[3].is_ascii_digit()
                && z[4].is_ascii_digit();
            if !ok {
                return Err(Invalid("Invalid timezone"));
            }
            let hh = i64::from((z[0] - b'0') * 10 + (z[1] - b'0'));
            let mm = i64::from((z[3] - b'0') * 10 + (z[4] - b'0'));
            let polarity = if sign == b'+' { 1 } else { -1 };
            ms -= polarity * (hh * 60 + mm) * 60_000;
        }
        _ => {}
    }
    Ok(ms)
}

fn bad_fraction() -> Invalid {
    Invalid("Invalid timestamp (fractional portion)")
}

/// Flume's `parseRfc3164Time`, its year quirk included (see the module doc); 0 when the text
/// is not a time Joda reads.
fn rfc3164_millis(ts: &str, now_ms: i64) -> i64 {
    let text = ts.replacen("  ", " ", 1);
    let Ok(parsed) = NaiveDateTime::parse_from_str(&format!("2000 {text}"), "%Y %b %-d %H:%M:%S")
    else {
        return 0;
    };
    let Some(now) = chrono::DateTime::from_timestamp_millis(now_ms) else {
        return 0;
    };
    let with_year = |y: i32| -> Option<NaiveDateTime> {
        // Joda's withYear keeps Feb 29 valid by moving to Feb 28.
        let d = parsed.date();
        let day = d.day().min(days_in_month(y, d.month()));
        NaiveDate::from_ymd_opt(y, d.month(), day).map(|nd| nd.and_time(parsed.time()))
    };
    let Some(fixed) = with_year(now.year()) else {
        return 0;
    };
    let now = now.naive_utc();
    let date = if fixed > now
        && fixed
            .checked_sub_months(Months::new(1))
            .is_some_and(|f| f > now)
    {
        with_year(1999)
    } else if fixed < now
        && fixed
            .checked_add_months(Months::new(1))
            .is_some_and(|f| f < now)
    {
        with_year(2001)
    } else {
        Some(fixed)
    };
    date.map(|d| d.and_utc().timestamp_millis()).unwrap_or(0)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

/// Flume's `LineSplitter`: lines end at `\n`; a line of `max` bytes without one is cut there
/// (Incomplete). Keeps the unterminated rest between reads, bounded by `max`.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    saved: Vec<u8>,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            max: max.max(1),
            saved: Vec::new(),
        }
    }

    /// Calls `emit(line, incomplete)` for every line `data` completes.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        while !data.is_empty() {
            let room = self.max - self.saved.len();
            let window = &data[..data.len().min(room)];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    if self.saved.is_empty() {
                        emit(&window[..i], false);
                    } else {
                        self.saved.extend_from_slice(&window[..i]);
                        emit(&self.saved, false);
                        self.saved.clear();
                    }
                    data = &data[i + 1..];
                }
                None if window.len() == room => {
                    self.saved.extend_from_slice(window);
                    emit(&self.saved, true);
                    self.saved.clear();
                    data = &data[window.len()..];
                }
                None => {
                    self.saved.extend_from_slice(window);
                    data = &[];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000; // 2026-05-28

    fn parse(msg: &str) -> Event {
        parse_line(
            msg.as_bytes(),
            false,
            Charset::Utf8,
            KeepFields::default(),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn rfc5424_headers_as_multiport_sets_them() {
        let e = parse("<34>1 2003-10-11T22:14:15.003Z mymachine su: failed");
        assert_eq!(e.headers.get("Priority"), Some("34"));
        assert_eq!(e.headers.get("Facility"), Some("4"));
        assert_eq!(e.headers.get("Severity"), Some("2"));
        assert_eq!(e.headers.get("Version"), Some("1"));
        assert_eq!(e.headers.get("timestamp"), Some("1065910455003"));
        assert_eq!(e.headers.get("host"), Some("mymachine"));
        assert_eq!(&e.body[..], b"su: failed");
        let e = parse("<34>1 2003-10-11T22:14:15.1-07:00 h x");
        assert_eq!(e.headers.get("timestamp"), Some("1065935655100"));
    }

    #[test]
    fn rfc3164_gets_flumes_year() {
        // May 28 2026 "now": May 1 is within a month → 2026; Oct is more than a month ahead →
        // the parsed date (year 2000) minus one year.
        let e = parse("<13>May  1 10:00:00 h1 app: x");
        let may = NaiveDate::from_ymd_opt(2026, 5, 1)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        assert_eq!(
            e.headers.get("timestamp"),
            Some(may.and_utc().timestamp_millis().to_string().as_str())
        );
        let e = parse("<13>Oct  1 10:00:00 h1 app: x");
        let oct = NaiveDate::from_ymd_opt(1999, 10, 1)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        assert_eq!(
            e.headers.get("timestamp"),
            Some(oct.and_utc().timestamp_millis().to_string().as_str())
        );
        assert_eq!(
            parse("<13>Foo  1 10:00:00 h1 x").headers.get("timestamp"),
            Some("0")
        );
    }

    #[test]
    fn invalid_messages_keep_their_text() {
        for m in [
            "no bracket",
            "<13>",
            "<13>1 2003-10-11T22:14:15.5 h x",
            "<1234567>x",
        ] {
            let e = parse(m);
            assert_eq!(e.headers.get(EVENT_STATUS), Some("Invalid"), "{m}");
            assert_eq!(&e.body[..], m.as_bytes());
        }
        let bad = parse_line(
            b"<13>\xff",
            false,
            Charset::Utf8,
            KeepFields::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(bad.headers.get(EVENT_STATUS), Some("Invalid"));
        assert_eq!(&bad.body[..], b"<13>\xff");
        assert!(parse_line(b"", false, Charset::Utf8, KeepFields::default(), NOW).is_none());
    }

    #[test]
    fn the_splitter_cuts_at_max_and_joins_across_reads() {
        let mut s = LineSplitter::new(5);
        let mut out = Vec::new();
        s.push(b"ab", |l, i| out.push((l.to_vec(), i)));
        s.push(b"c\n123456\n", |l, i| out.push((l.to_vec(), i)));
        assert_eq!(
            out,
            vec![
                (b"abc".to_vec(), false),
                (b"12345".to_vec(), true),
                (b"6".to_vec(), false)
            ]
        );
    }
}
