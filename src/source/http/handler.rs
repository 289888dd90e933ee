//! Flume's HTTP handlers: how a request becomes events.
//!
//! * `JSONHandler` (the default): the body is a JSON array of `{"headers": {…}, "body": "…"}`.
//!   As Gson reads it into Flume's `JSONEvent`, a number or boolean where a string is expected is
//!   taken as its text, a missing or null body is empty, unknown fields are ignored. The request
//!   charset (`Content-Type: …; charset=`) may be UTF-8 (the default), UTF-16 or UTF-32, and each
//!   body is encoded back in it, as Flume's `body.getBytes(charset)` does (Java's UTF-16 encoder
//!   writes a byte-order mark first). Differences: Gson's lenient syntax (comments, single
//!   quotes, unquoted names) is a 400 here, strict JSON is not.
//! * `BLOBHandler`: the whole body is one event; the query parameters (and, for a form post,
//!   the form's) are its headers; `handler.mandatoryParameters` (comma-separated) must be present
//!   or the request fails.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use crate::event::{Event, Headers};

/// What a handler says about a request it cannot turn into events: Flume's status codes.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// 400 (`HTTPBadRequestException`).
    BadRequest(String),
    /// 500 (any other exception of the handler).
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    Json,
    Blob { mandatory: Vec<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Utf {
    Eight,
    Sixteen,
    ThirtyTwo,
}

fn request_charset(content_type: Option<&str>) -> Result<Utf, Rejected> {
    let Some(ct) = content_type else {
        return Ok(Utf::Eight);
    };
    let charset = ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    match charset.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf-8") => Ok(Utf::Eight),
        Some("utf-16") => Ok(Utf::Sixteen),
        Some("utf-32") => Ok(Utf::ThirtyTwo),
        Some(other) => Err(Rejected::Failed(format!(
            "Unsupported character set in request {other}. JSON handler supports UTF-8, UTF-16 and UTF-32 only."
        ))),
    }
}

fn decode(body: &[u8], utf: Utf) -> Result<String, Rejected> {
    let bad = |what: &str| Rejected::BadRequest(format!("Request body is not valid {what}"));
    match utf {
        Utf::Eight => String::from_utf8(body.to_vec()).map_err(|_| bad("UTF-8")),
        Utf::Sixteen => {
            // Java's UTF-16 decoder: a byte-order mark decides, big-endian without one.
            let (le, rest) = match body {
                [0xFF, 0xFE, rest @ ..] => (true, rest),
                [0xFE, 0xFF, rest @ ..] => (false, rest),
                _ => (false, body),
            };
            if rest.len() % 2 != 0 {
                return Err(bad("UTF-16"));
            }
            let units = rest.chunks_exact(2).map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            });
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| bad("UTF-16"))
        }
        Utf::ThirtyTwo => {
            let rest = body.strip_prefix(&[0, 0, 0xFE, 0xFF]).unwrap_or(body);
            if rest.len() % 4 != 0 {
                return Err(bad("UTF-32"));
            }
            rest.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or_else(|| bad("UTF-32"))
        }
    }
}

fn encode(text: &str, utf: Utf) -> Vec<u8> {
    match utf {
        Utf::Eight => text.as_bytes().to_vec(),
        Utf::Sixteen => {
            let mut out = vec![0xFE, 0xFF];
            for u in text.encode_utf16() {
                out.extend_from_slice(&u.to_be_bytes());
            }
            out
        }
        Utf::ThirtyTwo => text
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect(),
    }
}

/// Gson's string adapter: strings, numbers and booleans are text, null is absent.
fn as_text(v: &Value, what: &str) -> Result<Option<String>, Rejected> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(Rejected::BadRequest(format!(
            "Request has invalid JSON Syntax: expected a string for {what}"
        ))),
    }
}

impl Handler {
    pub fn events(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        query: Option<&str>,
    ) -> Result<Vec<Event>, Rejected> {
        match self {
            Handler::Json => json_events(body, content_type),
            Handler::Blob { mandatory } => blob_event(body, content_type, query, mandatory),
        }
    }
}

fn json_events(body: &[u8], content_type: Option<&str>) -> Result<Vec<Event>, Rejected> {
    let utf = request_charset(content_type)?;
    let text = decode(body, utf)?;
    if text.trim().is_empty() {
        // Gson reads an empty document as null and Flume's handler then fails (500).
        return Err(Rejected::Failed("empty request body".into()));
    }
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| Rejected::BadRequest(format!("Request has invalid JSON Syntax: {e}")))?;
    let list = match doc {
        Value::Array(a) => a,
        Value::Null => return Err(Rejected::Failed("the JSON document is null".into())),
        _ => {
            return Err(Rejected::BadRequest(
                "Request has invalid JSON Syntax: expected an array of events".into(),
            ))
        }
    };
    let mut events = Vec::with_capacity(list.len());
    for item in list {
        let obj = match item {
            Value::Object(o) => o,
            Value::Null => {
                // Gson puts a null element in the list; Flume's handler then fails on it.
                return Err(Rejected::Failed("a null event in the array".into()));
            }
            _ => {
                return Err(Rejected::BadRequest(
                    "Request has invalid JSON Syntax: an event must be an object".into(),
                ))
            }
        };
        let mut headers = Headers::new();
        match obj.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    if let Some(v) = as_text(v, "a header value")? {
                        headers.insert(k.clone(), v);
                    }
                }
            }
            Some(_) => {
                return Err(Rejected::BadRequest(
                    "Request has invalid JSON Syntax: headers must be an object".into(),
                ))
            }
        }
        let body = match obj.get("body") {
            Some(v) => as_text(v, "the body")?,
            None => None,
        };
        let bytes = body.map(|b| encode(&b, utf)).unwrap_or_default();
        events.push(Event::with_headers(headers, Bytes::from(bytes)));
    }
    Ok(events)
}

/// `application/x-www-form-urlencoded` text to (name, value) pairs, first value of a name wins
/// (Flume takes `getParameterMap().get(name)[0]`).
fn form_pairs(text: &str, out: &mut BTreeMap<String, String>) {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (url_decode(k), url_decode(v));
        out.entry(k).or_insert(v);
    }
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn blob_event(
    body: &[u8],
    content_type: Option<&str>,
    query: Option<&str>,
    mandatory: &[String],
) -> Result<Vec<Event>, Rejected> {
    let mut params = BTreeMap::new();
    if let Some(q) = query {
        form_pairs(q, &mut params);
    }
    let form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    // A servlet reads a form post's body for its parameters; the event body is then empty.
    let body = if form {
        form_pairs(&String::from_utf8_lossy(body), &mut params);
        Bytes::new()
    } else {
        Bytes::copy_from_slice(body)
    };
    for m in mandatory {
        if !params.contains_key(m) {
            return Err(Rejected::Failed(format!(
                "Please specify {m} parameter in the request."
            )));
        }
    }
    let headers: Headers = params.into_iter().collect();
    Ok(vec![Event::with_headers(headers, body)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_as_gson_reads_them() {
        let body =
            br#"[{"headers":{"a":"1","n":2,"t":true,"z":null},"body":"hello"},{"body":7},{}]"#;
        let e = Handler::Json.events(body, None, None).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].headers.get("a"), Some("1"));
        assert_eq!(e[0].headers.get("n"), Some("2"));
        assert_eq!(e[0].headers.get("t"), Some("true"));
        assert_eq!(e[0].headers.get("z"), None);
        assert_eq!(&e[0].body[..], b"hello");
        assert_eq!(&e[1].body[..], b"7");
        assert!(e[2].body.is_empty());
    }

    #[test]
    fn bad_json_is_400_and_other_failures_500() {
        assert!(matches!(
            Handler::Json.events(b"[{\"body\":", None, None),
            Err(Rejected::BadRequest(_))
        ));
        assert!(matches!(
            Handler::Json.events(b"{\"body\":\"x\"}", None, None),
            Err(Rejected::BadRequest(_))
        ));
        assert!(matches!(
            Handler::Json.events(b"[{\"body\":{\"x\":1}}]", None, None),
            Err(Rejected::BadRequest(_))
        ));
        assert!(matches!(
            Handler::Json.events(b"", None, None),
            Err(Rejected::Failed(_))
        ));
        assert!(matches!(
            Handler::Json.events(b"[]", Some("application/json; charset=ISO-8859-1"), None),
            Err(Rejected::Failed(_))
        ));
    }

    #[test]
    fn utf16_requests_give_utf16_bodies_with_a_bom_as_java() {
        let json = r#"[{"body":"hé"}]"#;
        let mut req = vec![0xFE, 0xFF];
        for u in json.encode_utf16() {
            req.extend_from_slice(&u.to_be_bytes());
        }
        let e = Handler::Json
            .events(&req, Some("application/json;charset=UTF-16"), None)
            .unwrap();
        assert_eq!(&e[0].body[..], &[0xFE, 0xFF, 0, b'h', 0, 0xE9]);
    }

    #[test]
    fn blob_takes_the_body_and_the_query_parameters() {
        let h = Handler::Blob {
            mandatory: vec!["id".into()],
        };
        let e = h
            .events(
                b"\x00binary",
                Some("application/octet-stream"),
                Some("id=7&x=a%20b&x=2"),
            )
            .unwrap();
        assert_eq!(&e[0].body[..], b"\x00binary");
        assert_eq!(e[0].headers.get("id"), Some("7"));
        assert_eq!(e[0].headers.get("x"), Some("a b"));
        assert!(matches!(
            h.events(b"x", None, None),
            Err(Rejected::Failed(_))
        ));
    }
}
