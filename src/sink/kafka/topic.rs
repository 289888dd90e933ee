//! Kafka topic names: `kafka.topic` as a template (Flume's `%{header}` escapes, resolved per event)
//! and the names Kafka accepts, so that `rflume check` reports a topic Kafka would refuse instead
//! of the sink failing every batch at run time.

use crate::event::Headers;

/// Longest Kafka topic name (`Topic.MAX_NAME_LENGTH`).
const MAX_TOPIC_LENGTH: usize = 249;

/// A `kafka.topic` value: Flume runs it through `BucketPath.escapeString`, so `%{header}` is
/// replaced by the event's header (missing → empty). Precomputed so that the usual literal topic
/// costs nothing per event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicTemplate {
    Literal(String),
    Parts(Vec<TopicPart>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicPart {
    Text(String),
    Header(String),
}

impl TopicTemplate {
    /// Parses Flume's escapes with the precedence of `BucketPath.TAG_REGEX`
    /// (`%(\w|%)|%\{([\w\.-]+)\}|%\[(\w+)\]`). Only `%{header}` is supported; the time (`%Y`, `%%`)
    /// and host (`%[localhost]`) escapes are reported as errors rather than sent literally.
    pub(super) fn parse(topic: &str) -> Result<TopicTemplate, String> {
        let bytes = topic.as_bytes();
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut parts: Vec<TopicPart> = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' || i + 1 >= bytes.len() {
                let ch = topic[i..].chars().next().unwrap_or('%');
                text.push(ch);
                i += ch.len_utf8();
                continue;
            }
            let next = bytes[i + 1];
            if is_word(next) || next == b'%' {
                return Err(format!(
                    "the escape %{} needs the event time; rflume supports only %{{header}} in \
                     kafka.topic",
                    next as char
                ));
            }
            let close = match next {
                b'{' => b'}',
                b'[' => b']',
                _ => 0,
            };
            let name_ok = |b: u8| is_word(b) || (close == b'}' && (b == b'.' || b == b'-'));
            let end = if close == 0 {
                None
            } else {
                let start = i + 2;
                let mut j = start;
                while j < bytes.len() && name_ok(bytes[j]) {
                    j += 1;
                }
                (j > start && j < bytes.len() && bytes[j] == close).then_some((start, j))
            };
            match (close, end) {
                (b'}', Some((start, j))) => {
                    if !text.is_empty() {
                        parts.push(TopicPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(TopicPart::Header(topic[start..j].to_string()));
                    i = j + 1;
                }
                (b']', Some((start, j))) => {
                    return Err(format!(
                        "the escape %[{}] (host name/IP) is not supported in kafka.topic by rflume; \
                         only %{{header}} is",
                        &topic[start..j]
                    ));
                }
                _ => {
                    // Not a tag: Flume keeps the '%' as is.
                    text.push('%');
                    i += 1;
                }
            }
        }
        if parts.is_empty() {
            return Ok(TopicTemplate::Literal(text));
        }
        if !text.is_empty() {
            parts.push(TopicPart::Text(text));
        }
        Ok(TopicTemplate::Parts(parts))
    }

    /// Why Kafka would refuse the topics this template renders, as far as that is known before
    /// any event: a template's fixed parts can only be checked for characters, since the header
    /// values decide the length and whether the name is "." or "..".
    pub(super) fn invalid(&self) -> Option<String> {
        match self {
            TopicTemplate::Literal(s) => invalid_topic_name(s),
            TopicTemplate::Parts(parts) => parts.iter().find_map(|p| match p {
                TopicPart::Text(s) => invalid_topic_chars(s),
                TopicPart::Header(_) => None,
            }),
        }
    }

    /// Appends the topic for an event with `headers` to `out` (template case).
    pub(super) fn render_into(&self, headers: &Headers, out: &mut String) {
        match self {
            TopicTemplate::Literal(t) => out.push_str(t),
            TopicTemplate::Parts(parts) => {
                for p in parts {
                    match p {
                        TopicPart::Text(t) => out.push_str(t),
                        TopicPart::Header(h) => out.push_str(headers.get(h).unwrap_or("")),
                    }
                }
            }
        }
    }
}

/// Why a literal topic name would be refused by Kafka, if it would.
pub(super) fn invalid_topic_name(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        return Some("'.' and '..' are not valid Kafka topic names".into());
    }
    if name.len() > MAX_TOPIC_LENGTH {
        return Some(format!(
            "Kafka topic names are at most {MAX_TOPIC_LENGTH} characters"
        ));
    }
    invalid_topic_chars(name)
}

/// Why `text` cannot be part of a Kafka topic name, if it cannot.
fn invalid_topic_chars(text: &str) -> Option<String> {
    let bad: String = text
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '-'))
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "Kafka topic names may contain only ASCII letters, digits, '.', '_' and '-', \
             not {bad:?}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_templates() {
        assert_eq!(
            TopicTemplate::parse("logs").unwrap(),
            TopicTemplate::Literal("logs".into())
        );
        assert_eq!(
            TopicTemplate::parse("logs-%{app.name}-x").unwrap(),
            TopicTemplate::Parts(vec![
                TopicPart::Text("logs-".into()),
                TopicPart::Header("app.name".into()),
                TopicPart::Text("-x".into()),
            ])
        );
        // Not tags: kept literally, as BucketPath's regex does not match them.
        assert_eq!(
            TopicTemplate::parse("a%{b c}").unwrap(),
            TopicTemplate::Literal("a%{b c}".into())
        );
        assert_eq!(
            TopicTemplate::parse("a%").unwrap(),
            TopicTemplate::Literal("a%".into())
        );
        assert!(TopicTemplate::parse("logs-%Y").unwrap_err().contains("%Y"));
        assert!(TopicTemplate::parse("logs-%%").is_err());
        assert!(TopicTemplate::parse("%[localhost]")
            .unwrap_err()
            .contains("localhost"));
        let t = TopicTemplate::parse("%{a}-%{b}").unwrap();
        let h: Headers = [("a", "x")].into_iter().collect();
        let mut out = String::new();
        t.render_into(&h, &mut out);
        assert_eq!(out, "x-");
    }
}
