//! Interceptors: rewrite a source's batch before the channel selector sees it (Flume's
//! `org.apache.flume.interceptor`). Configured per source, applied in the order listed:
//! `a1.sources.r1.interceptors = i1 i2`, `a1.sources.r1.interceptors.i1.type = timestamp`.
//!
//! Each type is one file with its settings and its [`Interceptor`] implementation; this file is
//! the alias table and the dispatch.

pub mod host;
pub mod static_header;
pub mod timestamp;

use crate::config::reader::PropReader;
use crate::source::processor::Interceptor;

pub use host::HostSettings;
pub use static_header::StaticSettings;
pub use timestamp::TimestampSettings;

/// (alias, Flume builder class, supported)
const TYPES: &[(&str, &str, bool)] = &[
    (
        "timestamp",
        "org.apache.flume.interceptor.TimestampInterceptor$Builder",
        true,
    ),
    (
        "host",
        "org.apache.flume.interceptor.HostInterceptor$Builder",
        true,
    ),
    (
        "static",
        "org.apache.flume.interceptor.StaticInterceptor$Builder",
        true,
    ),
    (
        "remove_header",
        "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
        false,
    ),
    (
        "regex_filter",
        "org.apache.flume.interceptor.RegexFilteringInterceptor$Builder",
        false,
    ),
    (
        "regex_extractor",
        "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
        false,
    ),
    (
        "search_replace",
        "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
        false,
    ),
    (
        "uuid",
        "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
        false,
    ),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterceptorSettings {
    Timestamp(TimestampSettings),
    Host(HostSettings),
    Static(StaticSettings),
}

impl InterceptorSettings {
    /// Parses one interceptor's properties (the reader is scoped to `interceptors.<name>.`).
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let Some((written, line)) = r.raw("type") else {
            let name = r.component().to_string();
            r.error(
                "type",
                None,
                format!("Interceptor.Type not specified for {name}; the source is dropped"),
                Some(format!("supported: {}", supported())),
            );
            return None;
        };
        let found = TYPES.iter().find(|(alias, class, _)| {
            alias.eq_ignore_ascii_case(written) || class.eq_ignore_ascii_case(written)
        });
        let settings = match found {
            Some(("timestamp", _, _)) => TimestampSettings::parse(r).map(Self::Timestamp),
            Some(("host", _, _)) => HostSettings::parse(r).map(Self::Host),
            Some(("static", _, _)) => StaticSettings::parse(r).map(Self::Static),
            Some((alias, _, _)) => {
                r.error(
                    "type",
                    Some(line),
                    format!("interceptor type {alias} is not supported yet; the source is dropped rather than run without it"),
                    Some(format!("supported: {}", supported())),
                );
                None
            }
            None => {
                r.error(
                    "type",
                    Some(line),
                    format!("unknown interceptor type '{written}' (a custom class rflume cannot load); the source is dropped"),
                    Some(format!("supported: {}", supported())),
                );
                None
            }
        };
        if r.failed() {
            None
        } else {
            settings
        }
    }

    pub fn alias(&self) -> &'static str {
        match self {
            Self::Timestamp(_) => "timestamp",
            Self::Host(_) => "host",
            Self::Static(_) => "static",
        }
    }

    pub fn describe(&self) -> Vec<(String, String)> {
        match self {
            Self::Timestamp(s) => s.describe(),
            Self::Host(s) => s.describe(),
            Self::Static(s) => s.describe(),
        }
    }

    pub fn build(&self) -> Box<dyn Interceptor> {
        match self {
            Self::Timestamp(s) => Box::new(timestamp::TimestampInterceptor::new(s.clone())),
            Self::Host(s) => Box::new(host::HostInterceptor::new(s)),
            Self::Static(s) => Box::new(static_header::StaticInterceptor::new(s.clone())),
        }
    }
}

fn supported() -> String {
    TYPES
        .iter()
        .filter(|t| t.2)
        .map(|t| t.0)
        .collect::<Vec<_>>()
        .join(", ")
}
