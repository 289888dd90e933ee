//! Search-and-replace interceptor — Flume's `search_replace`
//! (`org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder`): replaces every match of
//! `searchPattern` in the body with `replaceString` (Java's `Matcher.replaceAll`: `$1`, `${name}`,
//! `\$` for a literal dollar), the body decoded and re-encoded in `charset` (UTF-8 by default).
//!
//! As Flume, a body that is not valid in its charset is read with U+FFFD for the bad bytes and
//! written back that way. A replacement that refers to a group the pattern does not have makes
//! Java throw on every matching event (the source's batch then fails over and over); rflume
//! reports it when the file is loaded instead.

use std::borrow::Cow;

use bytes::Bytes;
use regex::Captures;

use super::java_regex::JavaRegex;
use super::{read_regex, Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

/// Charsets the body can be read in: the ones Java's `Charset.forName` knows by these names and
/// that rflume converts exactly as Java does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Latin1,
    Ascii,
}

impl Charset {
    /// Java's names and aliases (case-insensitive, as `Charset.forName`).
    pub fn from_java_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "utf-8" | "utf8" | "unicode-1-1-utf-8" => Charset::Utf8,
            "iso-8859-1" | "iso8859_1" | "iso_8859_1" | "iso8859-1" | "iso_8859-1" | "latin1"
            | "l1" | "8859_1" | "cp819" | "ibm819" | "ibm-819" | "iso-ir-100" | "csisolatin1" => {
                Charset::Latin1
            }
            "us-ascii" | "ascii" | "us" | "646" | "iso-ir-6" | "cp367" | "ibm367" | "ascii7"
            | "default" | "iso646-us" | "ansi_x3.4-1968" | "ansi_x3.4-1986" | "csascii" => {
                Charset::Ascii
            }
            _ => return None,
        })
    }

    pub fn java_name(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::Latin1 => "ISO-8859-1",
            Charset::Ascii => "US-ASCII",
        }
    }

    /// `new String(bytes, charset)`; borrowed when the bytes are already that text.
    fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            Charset::Utf8 => String::from_utf8_lossy(bytes),
            Charset::Latin1 if bytes.is_ascii() => Cow::Borrowed(ascii(bytes)),
            Charset::Latin1 => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
            Charset::Ascii if bytes.is_ascii() => Cow::Borrowed(ascii(bytes)),
            Charset::Ascii => Cow::Owned(
                bytes
                    .iter()
                    .map(|&b| if b.is_ascii() { b as char } else { '\u{FFFD}' })
                    .collect(),
            ),
        }
    }

    /// `string.getBytes(charset)`: unmappable characters become `?`, as in Java.
    fn encode(self, text: &str) -> Vec<u8> {
        match self {
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
}

fn ascii(bytes: &[u8]) -> &str {
    // Callers checked `is_ascii`, which is valid UTF-8.
    std::str::from_utf8(bytes).unwrap_or("")
}

/// One piece of a Java replacement string.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
    Named(String),
}

/// A `replaceString` parsed as `Matcher.appendReplacement` reads it, checked against the
/// pattern's groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    text: String,
    pieces: Vec<Piece>,
}

impl Replacement {
    pub fn parse(text: &str, regex: &JavaRegex) -> Result<Self, String> {
        let groups = regex.regex().captures_len() - 1;
        let names: Vec<&str> = regex.regex().capture_names().flatten().collect();
        let chars: Vec<char> = text.chars().collect();
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    let Some(&c) = chars.get(i + 1) else {
                        return Err("character to be escaped is missing (a trailing \\)".into());
                    };
                    literal.push(c);
                    i += 2;
                }
                '$' => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    i += 1;
                    match chars.get(i) {
                        Some('{') => {
                            let close = chars[i..]
                                .iter()
                                .position(|&c| c == '}')
                                .ok_or("named capturing group is missing trailing '}'")?;
                            let name: String = chars[i + 1..i + close].iter().collect();
                            if !names.contains(&name.as_str()) {
                                return Err(format!("No group with name {{{name}}}"));
                            }
                            pieces.push(Piece::Named(name));
                            i += close + 1;
                        }
                        Some(d) if d.is_ascii_digit() => {
                            // Java: the first digit always belongs to the reference; each further
                            // digit only while the number stays a group of the pattern.
                            let mut number = (*d as u8 - b'0') as usize;
                            if number > groups {
                                return Err(format!("No group {number}"));
                            }
                            i += 1;
                            while let Some(d) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                                let longer = number * 10 + (*d as u8 - b'0') as usize;
                                if longer > groups {
                                    break;
                                }
                                number = longer;
                                i += 1;
                            }
                            pieces.push(Piece::Group(number));
                        }
                        _ => return Err("Illegal group reference ($ not followed by a group number or {name}; write \\$ for a dollar)".into()),
                    }
                }
                c => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Replacement {
            text: text.to_string(),
            pieces,
        })
    }

    /// Whether the replacement is plain text (no group references): matches can then be found
    /// without building captures for each.
    fn is_literal(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Literal(_)))
    }

    fn append(&self, caps: &Captures, out: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                // A group that did not take part in the match adds nothing, as in Java.
                Piece::Group(n) => out.push_str(caps.get(*n).map_or("", |m| m.as_str())),
                Piece::Named(n) => out.push_str(caps.name(n).map_or("", |m| m.as_str())),
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchReplaceSettings {
    pub search_pattern: JavaRegex,
    pub replace_string: Replacement,
    pub charset: Charset,
}

impl SearchReplaceSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let Some((pattern, line)) = r.raw("searchPattern") else {
            r.error(
                "searchPattern",
                None,
                "Must supply a valid search pattern searchPattern (may not be empty); Flume removes the source",
                Some("e.g. searchPattern = \\\\d{4}-\\\\d{4}".to_string()),
            );
            return None;
        };
        let search_pattern = read_regex(r, "searchPattern", pattern, line, false)?;
        let text = r.string("replaceString", "");
        let replace_string = match Replacement::parse(&text, &search_pattern) {
            Ok(rep) => rep,
            Err(why) => {
                r.error(
                    "replaceString",
                    None,
                    format!("{why}: Flume accepts this but throws on every event the pattern matches, so the source's batches fail over and over; the source is dropped"),
                    Some("refer only to groups the searchPattern has; write \\$ for a literal $".to_string()),
                );
                return None;
            }
        };
        let charset = match r.raw("charset") {
            None => Charset::Utf8,
            Some((name, line)) => match Charset::from_java_name(name) {
                Some(c) => c,
                None if encoding_rs::Encoding::for_label(name.as_bytes()).is_some() => {
                    r.unsupported(
                        "charset",
                        Some(line),
                        format!("charset {name} is not supported by rflume's search_replace; the source is dropped"),
                        Some("supported: UTF-8, ISO-8859-1, US-ASCII".to_string()),
                    );
                    return None;
                }
                None => {
                    r.error(
                        "charset",
                        Some(line),
                        format!("unknown charset {name} (Java's Charset.forName throws); Flume removes the source"),
                        Some("e.g. charset = UTF-8".to_string()),
                    );
                    return None;
                }
            },
        };
        Some(SearchReplaceSettings {
            search_pattern,
            replace_string,
            charset,
        })
    }
}

impl Describe for SearchReplaceSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            (
                "searchPattern".into(),
                self.search_pattern.as_str().to_string(),
            ),
            ("replaceString".into(), self.replace_string.text.clone()),
            ("charset".into(), self.charset.java_name().to_string()),
        ]
    }
}

impl InterceptorSpec for SearchReplaceSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(SearchReplaceInterceptor {
            s: self.clone(),
            out: String::new(),
        })
    }
}

pub struct SearchReplaceInterceptor {
    s: SearchReplaceSettings,
    /// Reused between events.
    out: String,
}

impl SearchReplaceInterceptor {
    /// The new body, or `None` when it is the old one byte for byte.
    fn replace(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        let text = self.s.charset.decode(body);
        let regex = self.s.search_pattern.regex();
        let mut last = 0;
        self.out.clear();
        let mut matched = false;
        if self.s.replace_string.is_literal() {
            for m in regex.find_iter(&text) {
                matched = true;
                self.out.push_str(&text[last..m.start()]);
                for p in &self.s.replace_string.pieces {
                    if let Piece::Literal(l) = p {
                        self.out.push_str(l);
                    }
                }
                last = m.end();
            }
        } else {
            for caps in regex.captures_iter(&text) {
                let Some(m) = caps.get(0) else { continue };
                matched = true;
                self.out.push_str(&text[last..m.start()]);
                self.s.replace_string.append(&caps, &mut self.out);
                last = m.end();
            }
        }
        if !matched {
            // Unchanged text; the bytes change only if decoding replaced bad ones.
            return match text {
                Cow::Borrowed(_) => None,
                Cow::Owned(t) => Some(self.s.charset.encode(&t)),
            };
        }
        self.out.push_str(&text[last..]);
        Some(self.s.charset.encode(&self.out))
    }
}

impl Interceptor for SearchReplaceInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        for e in &mut events {
            if let Some(body) = self.replace(&e.body) {
                e.body = Bytes::from(body);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace_all(pattern: &str, replacement: &str, body: &[u8]) -> Vec<u8> {
        let search_pattern = JavaRegex::new(pattern).expect("compiles");
        let replace_string = Replacement::parse(replacement, &search_pattern).expect("valid");
        let mut i = SearchReplaceSettings {
            search_pattern,
            replace_string,
            charset: Charset::Utf8,
        }
        .build();
        let out = i.intercept(vec![Event::new(body.to_vec())]);
        out[0].body.to_vec()
    }

    #[test]
    fn replaces_every_match_with_javas_replacement_syntax() {
        // The user guide's examples.
        assert_eq!(
            replace_all(r"^[A-Za-z0-9_]+\s", "", b"templates don't belong here"),
            b"don't belong here"
        );
        assert_eq!(
            replace_all(
                r"(\d{3})-(\d{4})",
                "$2/$1 \\$0",
                b"call 555-1234 or 555-9876"
            ),
            b"call 1234/555 $0 or 9876/555 $0"
        );
        assert_eq!(
            replace_all(r"(?<user>\w+)@", "${user} at ", b"me@host"),
            b"me at host"
        );
        assert_eq!(replace_all("x", "y", b"none"), b"none");
        // Java: "abc".replaceAll("x*", "-") is "-a-b-c-" (empty matches between characters).
        assert_eq!(replace_all("x*", "-", b"abc"), b"-a-b-c-");
        assert_eq!(replace_all("(x*)", "<$1>", b"ab"), b"<>a<>b<>");
    }

    #[test]
    fn group_numbers_are_read_as_java_reads_them() {
        // One group: "$12" is group 1 followed by a literal 2.
        assert_eq!(replace_all("(a)", "$12", b"a"), b"a2");
        let r = JavaRegex::new("(a)").expect("compiles");
        assert!(Replacement::parse("$2", &r)
            .unwrap_err()
            .contains("No group 2"));
        assert!(Replacement::parse("cost: $", &r).is_err());
        assert!(Replacement::parse("x\\", &r).is_err());
        assert!(Replacement::parse("${nope}", &r).is_err());
    }

    #[test]
    fn bodies_are_decoded_and_encoded_as_java_does() {
        // Invalid UTF-8 becomes U+FFFD (EF BF BD) once the body is re-encoded.
        assert_eq!(replace_all("a", "b", b"a\xff"), b"b\xef\xbf\xbd");
        assert_eq!(replace_all("z", "b", b"a\xff"), b"a\xef\xbf\xbd");
        let latin1 = |body: &[u8], rep: &str| {
            let search_pattern = JavaRegex::new("é").expect("compiles");
            let replace_string = Replacement::parse(rep, &search_pattern).expect("valid");
            let mut i = SearchReplaceSettings {
                search_pattern,
                replace_string,
                charset: Charset::Latin1,
            }
            .build();
            i.intercept(vec![Event::new(body.to_vec())])[0]
                .body
                .to_vec()
        };
        assert_eq!(latin1(b"caf\xe9", "e"), b"cafe");
        assert_eq!(latin1(b"caf\xe9", "€"), b"caf?", "unmappable in ISO-8859-1");
    }
}
