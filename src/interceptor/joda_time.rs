//! Joda-Time date patterns, as Flume's `RegexExtractorInterceptorMillisSerializer` parses with
//! them (`DateTimeFormat.forPattern(pattern).parseDateTime(value).getMillis()`).
//!
//! The letters are Joda's (close to Java's `SimpleDateFormat`, which the user guide mentions):
//! `y Y G M d D E e a h H k K m s S Z` and quoted literals (`'T'`, `''`). Parsing follows Joda:
//! numbers take one digit or more up to the field's width (`yyyyMMdd` still splits), text is
//! English and case-insensitive (`MMM` accepts `Mar` and `March`), literals match ignoring case,
//! the whole value must be consumed, values are range-checked (`Feb 30` fails), fields the
//! pattern lacks default to 1970-01-01T00:00:00.000, and without `Z` the local time is read in
//! the machine's time zone (Joda's default zone), the earlier instant in an autumn overlap, an
//! error in a spring gap.
//!
//! Not supported (refused when the configuration is loaded, never guessed): time-zone names and
//! ids (`z`, `ZZZ`: they need Joda's zone database), centuries (`C`), week-years and weeks
//! (`x`, `w`).

use chrono::{Datelike, Duration, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PatternError {
    #[error("Illegal pattern component: {0}")]
    Illegal(String),
    #[error("{0} is not supported by rflume")]
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Year,
    YearOfEra,
    Month,
    DayOfMonth,
    DayOfYear,
    DayOfWeek,
    HourOfDay,
    ClockHourOfDay,
    HourOfHalfday,
    ClockHourOfHalfday,
    Minute,
    Second,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(String),
    Number {
        field: Field,
        max_digits: usize,
        signed: bool,
    },
    /// `yy`: two digits with Joda's pivot; `lenient` also accepts a full year.
    TwoDigitYear {
        lenient: bool,
    },
    MonthText,
    DayOfWeekText,
    Halfday,
    Era,
    /// `S…`: a fraction of the second, up to 9 digits.
    Fraction,
    /// `Z`, `ZZ`: `Z`, `+HH`, `+HHmm`, `+HH:mm`.
    Offset,
}

/// A compiled pattern; equal when the pattern text is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JodaPattern {
    source: String,
    tokens: Vec<Token>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Joda's `DateTimeFormat.parseToken`: a run of one letter, a quoted literal, or other text.
fn raw_tokens(pattern: &str) -> Result<Vec<(char, usize, String)>, PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i] == c {
                i += 1;
            }
            out.push((c, i - start, String::new()));
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('\''), Some('\'')) => {
                        text.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(&ch), _) => {
                        text.push(ch);
                        i += 1;
                    }
                    (None, _) => break,
                }
            }
            if text.is_empty() {
                // `''` alone is a quote.
                text.push('\'');
            }
            out.push(('\'', 0, text));
        } else {
            let mut text = String::new();
            while i < chars.len() && !chars[i].is_ascii_alphabetic() && chars[i] != '\'' {
                text.push(chars[i]);
                i += 1;
            }
            out.push(('\'', 0, text));
        }
    }
    Ok(out)
}

/// Joda's `isNumericToken`.
fn is_numeric(letter: char, len: usize) -> bool {
    match letter {
        'c' | 'C' | 'x' | 'y' | 'Y' | 'd' | 'h' | 'H' | 'm' | 's' | 'S' | 'e' | 'D' | 'F' | 'w'
        | 'W' | 'k' | 'K' => true,
        'M' => len <= 2,
        _ => false,
    }
}

impl JodaPattern {
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let raw = raw_tokens(pattern)?;
        let mut tokens = Vec::new();
        for (n, (letter, len, text)) in raw.iter().enumerate() {
            let len = *len;
            let next_numeric = raw
                .get(n + 1)
                .is_some_and(|(l, nl, _)| *l != '\'' && is_numeric(*l, *nl));
            let number = |field, max: usize| Token::Number {
                field,
                max_digits: max.max(len),
                signed: false,
            };
            let token = match letter {
                '\'' => Token::Literal(text.clone()),
                'y' | 'Y' if len == 2 => Token::TwoDigitYear {
                    lenient: !next_numeric,
                },
                'y' | 'Y' => Token::Number {
                    field: if *letter == 'y' {
                        Field::Year
                    } else {
                        Field::YearOfEra
                    },
                    max_digits: if next_numeric { len } else { 9 },
                    signed: *letter == 'y',
                },
                'G' => Token::Era,
                'M' if len >= 3 => Token::MonthText,
                'M' => number(Field::Month, 2),
                'd' => number(Field::DayOfMonth, 2),
                'D' => number(Field::DayOfYear, 3),
                'e' => number(Field::DayOfWeek, 1),
                'E' => Token::DayOfWeekText,
                'a' => Token::Halfday,
                'h' => number(Field::ClockHourOfHalfday, 2),
                'H' => number(Field::HourOfDay, 2),
                'k' => number(Field::ClockHourOfDay, 2),
                'K' => number(Field::HourOfHalfday, 2),
                'm' => number(Field::Minute, 2),
                's' => number(Field::Second, 2),
                'S' => Token::Fraction,
                'Z' if len <= 2 => Token::Offset,
                'Z' => return Err(PatternError::Unsupported("a time-zone id (ZZZ)".into())),
                'z' => return Err(PatternError::Unsupported("a time-zone name (z)".into())),
                'C' => return Err(PatternError::Unsupported("the century field (C)".into())),
                'x' | 'w' => {
                    return Err(PatternError::Unsupported("week-year fields (x, w)".into()))
                }
                other => {
                    return Err(PatternError::Illegal(
                        std::iter::repeat_n(*other, len).collect(),
                    ))
                }
            };
            tokens.push(token);
        }
        Ok(JodaPattern {
            source: pattern.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Epoch milliseconds of `value`, or why it does not parse.
    pub fn parse_millis(&self, value: &str) -> Result<i64, String> {
        let mut f = Parsed::default();
        let mut rest = value;
        for t in &self.tokens {
            rest = f.token(t, rest).ok_or_else(|| malformed(value, rest))?;
        }
        if !rest.is_empty() {
            return Err(malformed(value, rest));
        }
        f.millis()
    }
}

fn malformed(value: &str, rest: &str) -> String {
    format!("Invalid format: \"{value}\" is malformed at \"{rest}\"",)
}

/// Field values read from one value.
#[derive(Default)]
struct Parsed {
    year: Option<i64>,
    year_of_era: Option<i64>,
    bc: bool,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    day_of_week: Option<i64>,
    pm: Option<bool>,
    hour_of_day: Option<i64>,
    hour_of_halfday: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    millis: i64,
    offset_seconds: Option<i32>,
}

/// Digits (and a sign when `signed`) at the start of `s`, at most `max` digits: Joda's
/// `NumberFormatter.parseInto`. Returns the value and the rest.
fn number(s: &str, max: usize, signed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if signed
        && matches!(b.first(), Some(b'-') | Some(b'+'))
        && b.get(1).is_some_and(u8::is_ascii_digit)
    {
        negative = b[0] == b'-';
        i = 1;
    }
    let start = i;
    let mut value: i64 = 0;
    while i < b.len() && i - start < max && b[i].is_ascii_digit() {
        value = value.checked_mul(10)?.checked_add((b[i] - b'0') as i64)?;
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((if negative { -value } else { value }, &s[i..]))
}

/// The longest of `names` (or their first three letters) that `s` starts with, ignoring case:
/// (index, rest).
fn text<'a>(s: &'a str, names: &[&str]) -> Option<(usize, &'a str)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, name) in names.iter().enumerate() {
        for candidate in [*name, &name[..3]] {
            let n = candidate.len();
            if s.len() >= n
                && s.is_char_boundary(n)
                && s[..n].eq_ignore_ascii_case(candidate)
                && best.is_none_or(|(_, len)| n > len)
            {
                best = Some((i, n));
            }
        }
    }
    best.map(|(i, n)| (i, &s[n..]))
}

/// `s` without `prefix`, compared ignoring case (Joda's literals, `AM`, `AD`): no allocation,
/// this runs for every event.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let mut used = 0;
    let mut chars = s.chars();
    for p in prefix.chars() {
        let c = chars.next()?;
        if c != p && !c.to_lowercase().eq(p.to_lowercase()) {
            return None;
        }
        used += c.len_utf8();
    }
    Some(&s[used..])
}

impl Parsed {
    fn token<'a>(&mut self, t: &Token, s: &'a str) -> Option<&'a str> {
        match t {
            Token::Literal(l) => strip_prefix_ignore_case(s, l),
            Token::Number {
                field,
                max_digits,
                signed,
            } => {
                let (v, rest) = number(s, *max_digits, *signed)?;
                let slot = match field {
                    Field::Year => &mut self.year,
                    Field::YearOfEra => &mut self.year_of_era,
                    Field::Month => &mut self.month,
                    Field::DayOfMonth => &mut self.day,
                    Field::DayOfYear => &mut self.day_of_year,
                    Field::DayOfWeek => &mut self.day_of_week,
                    Field::HourOfDay => &mut self.hour_of_day,
                    Field::ClockHourOfDay => {
                        // 1..=24, 24 being midnight.
                        self.hour_of_day = Some(if v == 24 { 0 } else { v });
                        if !(1..=24).contains(&v) {
                            return None;
                        }
                        return Some(rest);
                    }
                    Field::HourOfHalfday => &mut self.hour_of_halfday,
                    Field::ClockHourOfHalfday => {
                        if !(1..=12).contains(&v) {
                            return None;
                        }
                        self.hour_of_halfday = Some(v % 12);
                        return Some(rest);
                    }
                    Field::Minute => &mut self.minute,
                    Field::Second => &mut self.second,
                };
                *slot = Some(v);
                Some(rest)
            }
            Token::TwoDigitYear { lenient } => {
                let b = s.as_bytes();
                let two = b.len() >= 2 && b[0].is_ascii_digit() && b[1].is_ascii_digit();
                let exactly_two = two && !b.get(2).is_some_and(u8::is_ascii_digit);
                if *lenient && !exactly_two {
                    let (v, rest) = number(s, 9, true)?;
                    self.year = Some(v);
                    return Some(rest);
                }
                if !two {
                    return None;
                }
                let yy = ((b[0] - b'0') * 10 + (b[1] - b'0')) as i64;
                // Joda's TwoDigitYear with the pivot "now - 30": [pivot - 50, pivot + 49].
                let pivot = Local::now().year() as i64 - 30;
                let low = pivot - 50;
                let t = if low >= 0 {
                    low % 100
                } else {
                    99 + ((low + 1) % 100)
                };
                self.year = Some(yy + low + if yy < t { 100 } else { 0 } - t);
                Some(&s[2..])
            }
            Token::MonthText => {
                let (i, rest) = text(s, &MONTHS)?;
                self.month = Some(i as i64 + 1);
                Some(rest)
            }
            Token::DayOfWeekText => {
                let (i, rest) = text(s, &WEEKDAYS)?;
                self.day_of_week = Some(i as i64 + 1);
                Some(rest)
            }
            Token::Halfday => {
                if let Some(rest) = strip_prefix_ignore_case(s, "AM") {
                    self.pm = Some(false);
                    Some(rest)
                } else {
                    let rest = strip_prefix_ignore_case(s, "PM")?;
                    self.pm = Some(true);
                    Some(rest)
                }
            }
            Token::Era => {
                if let Some(rest) = strip_prefix_ignore_case(s, "AD") {
                    self.bc = false;
                    Some(rest)
                } else {
                    let rest = strip_prefix_ignore_case(s, "BC")?;
                    self.bc = true;
                    Some(rest)
                }
            }
            Token::Fraction => {
                let b = s.as_bytes();
                let digits = b.iter().take(9).take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                // Milliseconds are the first three digits of the fraction (Joda truncates).
                let mut ms = 0i64;
                for k in 0..3 {
                    ms = ms * 10
                        + b.get(k)
                            .filter(|_| k < digits)
                            .map_or(0, |c| (c - b'0') as i64);
                }
                self.millis = ms;
                Some(&s[digits..])
            }
            Token::Offset => {
                if let Some(rest) = strip_prefix_ignore_case(s, "Z") {
                    self.offset_seconds = Some(0);
                    return Some(rest);
                }
                let sign = match s.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (h, mut rest) = number(&s[1..], 2, false)?;
                let mut m = 0;
                let after_colon = rest.strip_prefix(':').unwrap_or(rest);
                if let Some((mm, r)) = number(after_colon, 2, false) {
                    m = mm;
                    rest = r;
                }
                if h > 23 || m > 59 {
                    return None;
                }
                self.offset_seconds = Some(sign * (h as i32 * 3600 + m as i32 * 60));
                Some(rest)
            }
        }
    }

    fn millis(&self) -> Result<i64, String> {
        let range = |name: &str, v: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(format!(
                    "Cannot parse: Value {v} for {name} must be in the range [{lo},{hi}]"
                ))
            }
        };
        let year = match (self.year, self.year_of_era) {
            (Some(y), _) => y,
            (None, Some(y)) if self.bc => 1 - y,
            (None, Some(y)) => y,
            (None, None) => 1970,
        };
        let year = range("year", year, -262_143, 262_142)? as i32;
        let mut date = match (self.day_of_year, self.month, self.day) {
            (Some(doy), None, None) => {
                NaiveDate::from_yo_opt(year, range("dayOfYear", doy, 1, 366)? as u32).ok_or_else(
                    || format!("Cannot parse: Value {doy} for dayOfYear is not in {year}"),
                )?
            }
            _ => {
                let month = range("monthOfYear", self.month.unwrap_or(1), 1, 12)? as u32;
                let day = range("dayOfMonth", self.day.unwrap_or(1), 1, 31)? as u32;
                NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
                    format!("Cannot parse: Value {day} for dayOfMonth is not a day of {year}-{month:02}")
                })?
            }
        };
        if let Some(dow) = self.day_of_week {
            // Joda sets the day of the week within the ISO week of the date.
            let dow = range("dayOfWeek", dow, 1, 7)?;
            let current = date.weekday().number_from_monday() as i64;
            date = date
                .checked_add_signed(Duration::days(dow - current))
                .ok_or("date out of range")?;
        }
        let hour = match (self.hour_of_day, self.hour_of_halfday) {
            (Some(h), _) => range("hourOfDay", h, 0, 23)?,
            (None, Some(h)) => {
                range("hourOfHalfday", h, 0, 11)? + if self.pm == Some(true) { 12 } else { 0 }
            }
            (None, None) => {
                if self.pm == Some(true) {
                    12
                } else {
                    0
                }
            }
        };
        let minute = range("minuteOfHour", self.minute.unwrap_or(0), 0, 59)?;
        let second = range("secondOfMinute", self.second.unwrap_or(0), 0, 59)?;
        let local: NaiveDateTime = date
            .and_hms_milli_opt(
                hour as u32,
                minute as u32,
                second as u32,
                self.millis as u32,
            )
            .ok_or("time out of range")?;
        match self.offset_seconds {
            Some(secs) => {
                let offset = FixedOffset::east_opt(secs).ok_or("offset out of range")?;
                offset
                    .from_local_datetime(&local)
                    .single()
                    .map(|t| t.timestamp_millis())
                    .ok_or_else(|| "instant out of range".to_string())
            }
            None => Local
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| {
                    format!(
                        "Cannot parse: Illegal instant due to time zone offset transition: {local}"
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(pattern: &str, value: &str) -> Result<i64, String> {
        JodaPattern::new(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .parse_millis(value)
    }

    /// Epoch millis of a UTC date-time, computed independently of the parser.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> i64 {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid")
            .timestamp_millis()
            + ms as i64
    }

    /// The machine's zone, as Joda's default zone is the JVM's.
    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Local
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .earliest()
            .expect("valid")
            .timestamp_millis()
    }

    #[test]
    fn patterns_flume_users_write() {
        // The user guide's example pattern.
        assert_eq!(
            millis("yyyy-MM-dd HH:mm", "2012-10-18 18:47"),
            Ok(local(2012, 10, 18, 18, 47, 0))
        );
        assert_eq!(
            millis("yyyy-MM-dd HH:mm:ss,SSS", "2024-03-05 07:08:09,123"),
            Ok(local(2024, 3, 5, 7, 8, 9) + 123)
        );
        assert_eq!(
            millis("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2024-03-05T07:08:09.120+0100"),
            Ok(utc(2024, 3, 5, 6, 8, 9, 120))
        );
        assert_eq!(
            millis("yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "2024-03-05T07:08:09.5-02:30"),
            Ok(utc(2024, 3, 5, 9, 38, 9, 500))
        );
        // Apache access logs.
        assert_eq!(
            millis("dd/MMM/yyyy:HH:mm:ss Z", "10/Oct/2000:13:55:36 -0700"),
            Ok(utc(2000, 10, 10, 20, 55, 36, 0))
        );
        assert_eq!(
            millis("EEE, dd MMM yyyy HH:mm:ss Z", "Tue, 05 Mar 2024 07:08:09 Z"),
            Ok(utc(2024, 3, 5, 7, 8, 9, 0))
        );
        assert_eq!(
            millis("yyyyMMddHHmmss", "20240305070809"),
            Ok(local(2024, 3, 5, 7, 8, 9))
        );
        assert_eq!(
            millis("MM/dd/yyyy hh:mm a", "03/05/2024 12:30 AM"),
            Ok(local(2024, 3, 5, 0, 30, 0))
        );
        assert_eq!(
            millis("MM/dd/yyyy hh:mm a", "03/05/2024 01:30 pm"),
            Ok(local(2024, 3, 5, 13, 30, 0))
        );
    }

    #[test]
    fn parsing_is_as_lenient_as_jodas_and_no_more() {
        assert_eq!(
            millis("yyyy-MM-dd", "2024-3-5"),
            Ok(local(2024, 3, 5, 0, 0, 0)),
            "fewer digits"
        );
        assert_eq!(
            millis("MMM d", "MARCH 5"),
            Ok(local(1970, 3, 5, 0, 0, 0)),
            "missing year: 1970"
        );
        assert_eq!(
            millis("yyyy'T'", "2024t"),
            Ok(local(2024, 1, 1, 0, 0, 0)),
            "literals ignore case"
        );
        assert!(millis("yyyy-MM-dd", "2024-02-30").is_err(), "range-checked");
        assert!(millis("yyyy-MM-dd", "2024-13-01").is_err());
        assert!(millis("HH:mm", "24:00").is_err());
        assert!(
            millis("yyyy-MM-dd", "2024-03-05 extra").is_err(),
            "whole value"
        );
        assert!(millis("yyyy-MM-dd", "").is_err());
        assert!(millis("yyyy-MM-dd", "x")
            .unwrap_err()
            .contains("malformed at \"x\""));
        assert_eq!(
            millis("SSS", "5"),
            Ok(local(1970, 1, 1, 0, 0, 0) + 500),
            "a fraction"
        );
        assert_eq!(
            millis("EEE dd MMM yyyy", "Mon 05 Mar 2024"),
            Ok(local(2024, 3, 4, 0, 0, 0)),
            "Joda moves to the named day"
        );
    }

    #[test]
    fn two_digit_years_pivot_like_joda() {
        let now = Local::now().year();
        let y = millis("yy-MM-dd", "05-01-01").expect("parses");
        let year = chrono::DateTime::from_timestamp_millis(y)
            .expect("in range")
            .year();
        assert!((now - 80..now + 20).contains(&year), "{year}");
        assert_eq!(year % 100, 5);
    }

    #[test]
    fn pattern_errors() {
        assert_eq!(
            JodaPattern::new("yyyy-qq"),
            Err(PatternError::Illegal("qq".into()))
        );
        assert!(matches!(
            JodaPattern::new("HH:mm z"),
            Err(PatternError::Unsupported(_))
        ));
        assert!(matches!(
            JodaPattern::new("ZZZ"),
            Err(PatternError::Unsupported(_))
        ));
        assert!(JodaPattern::new("'it''s' HH").is_ok());
    }
}
