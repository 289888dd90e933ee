//! Interceptors: rewrite a source's batch before the channel selector sees it (Flume's
//! `org.apache.flume.interceptor`). Configured per source, applied in the order listed:
//! `a1.sources.r1.interceptors = i1 i2`, `a1.sources.r1.interceptors.i1.type = timestamp`.
//!
//! Each type is one file with its settings and its [`Interceptor`] implementation; this file is
//! the trait and the registry. Adding an interceptor = its file, a `pub mod` line, one row in
//! [`TYPES`] and one variant of [`InterceptorSettings`].

pub mod host;
pub mod java_regex;
pub mod joda_time;
pub mod regex_extractor;
pub mod regex_filter;
pub mod remove_header;
pub mod search_replace;
pub mod static_header;
pub mod timestamp;
pub mod uuid_header;

use crate::config::reader::PropReader;
use crate::config::registry::{Describe, TypeEntry};
use crate::event::Event;

pub use host::HostSettings;
use java_regex::{JavaRegex, JavaRegexError};
pub use regex_extractor::RegexExtractorSettings;
pub use regex_filter::RegexFilterSettings;
pub use remove_header::RemoveHeaderSettings;
pub use search_replace::SearchReplaceSettings;
pub use static_header::StaticSettings;
pub use timestamp::TimestampSettings;
pub use uuid_header::UuidSettings;

/// Rewrites a batch before channel selection (timestamp, host, static, …). An interceptor may
/// drop events (Flume's filtering interceptors); it never sees events of another source.
pub trait Interceptor: Send {
    fn intercept(&mut self, events: Vec<Event>) -> Vec<Event>;
}

/// Every interceptor type Flume ships, by alias and `Builder` class name (Flume's
/// `InterceptorType`; the class is what Flume instantiates for a non-alias value).
pub const TYPES: &[TypeEntry<InterceptorSettings>] = &[
    TypeEntry::yes(
        "timestamp",
        "org.apache.flume.interceptor.TimestampInterceptor$Builder",
        |r| TimestampSettings::parse(r).map(InterceptorSettings::Timestamp),
    ),
    TypeEntry::yes(
        "host",
        "org.apache.flume.interceptor.HostInterceptor$Builder",
        |r| HostSettings::parse(r).map(InterceptorSettings::Host),
    ),
    TypeEntry::yes(
        "static",
        "org.apache.flume.interceptor.StaticInterceptor$Builder",
        |r| StaticSettings::parse(r).map(InterceptorSettings::Static),
    ),
    TypeEntry::yes(
        "remove_header",
        "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
        |r| RemoveHeaderSettings::parse(r).map(InterceptorSettings::RemoveHeader),
    ),
    TypeEntry::yes(
        "regex_filter",
        "org.apache.flume.interceptor.RegexFilteringInterceptor$Builder",
        |r| RegexFilterSettings::parse(r).map(InterceptorSettings::RegexFilter),
    ),
    TypeEntry::yes(
        "regex_extractor",
        "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
        |r| RegexExtractorSettings::parse(r).map(InterceptorSettings::RegexExtractor),
    ),
    TypeEntry::yes(
        "search_replace",
        "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
        |r| SearchReplaceSettings::parse(r).map(InterceptorSettings::SearchReplace),
    ),
    // Flume has no alias for it: only the class name is accepted by Flume.
    TypeEntry::yes(
        "uuid",
        "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
        |r| UuidSettings::parse(r).map(InterceptorSettings::Uuid),
    )
    .class_only(),
];

/// A configured interceptor's settings, one variant per supported type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterceptorSettings {
    Timestamp(TimestampSettings),
    Host(HostSettings),
    Static(StaticSettings),
    RemoveHeader(RemoveHeaderSettings),
    RegexFilter(RegexFilterSettings),
    RegexExtractor(RegexExtractorSettings),
    SearchReplace(SearchReplaceSettings),
    Uuid(UuidSettings),
}

impl InterceptorSettings {
    pub fn spec(&self) -> &dyn InterceptorSpec {
        match self {
            Self::Timestamp(s) => s,
            Self::Host(s) => s,
            Self::Static(s) => s,
            Self::RemoveHeader(s) => s,
            Self::RegexFilter(s) => s,
            Self::RegexExtractor(s) => s,
            Self::SearchReplace(s) => s,
            Self::Uuid(s) => s,
        }
    }
}

/// What every interceptor type's settings provide.
pub trait InterceptorSpec: Describe {
    fn build(&self) -> Box<dyn Interceptor>;
}

/// Reads the Java regex `value` of `key` (`whole`: for `Matcher.matches()`). A pattern Java
/// rejects is a configuration error (Flume's `Pattern.compile` throws and the source is removed);
/// one Java accepts and rflume's engine cannot run is unsupported.
pub(crate) fn read_regex(
    r: &mut PropReader,
    key: &str,
    value: &str,
    line: usize,
    whole: bool,
) -> Option<JavaRegex> {
    let compiled = if whole {
        JavaRegex::whole(value)
    } else {
        JavaRegex::new(value)
    };
    match compiled {
        Ok(regex) => Some(regex),
        Err(e @ JavaRegexError::Unsupported { .. }) => {
            r.unsupported(
                key,
                Some(line),
                format!("'{value}': {e}; the source is dropped rather than run without it"),
                Some("rewrite the pattern without look-around, back-references or possessive quantifiers".to_string()),
            );
            None
        }
        Err(e) => {
            r.error(
                key,
                Some(line),
                format!("'{value}': {e} (Java's Pattern.compile rejects it too); Flume removes the source"),
                None,
            );
            None
        }
    }
}
