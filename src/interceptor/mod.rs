//! Interceptors: rewrite a source's batch before the channel selector sees it (Flume's
//! `org.apache.flume.interceptor`). Configured per source, applied in the order listed:
//! `a1.sources.r1.interceptors = i1 i2`, `a1.sources.r1.interceptors.i1.type = timestamp`.
//!
//! Each type is one file with its settings and its [`Interceptor`] implementation; this file is
//! the trait and the registry. Adding an interceptor = its file, a `pub mod` line, one row in
//! [`TYPES`] and one variant of [`InterceptorSettings`].

pub mod host;
pub mod static_header;
pub mod timestamp;

use crate::config::registry::{Describe, TypeEntry, PLANNED};
use crate::event::Event;

pub use host::HostSettings;
pub use static_header::StaticSettings;
pub use timestamp::TimestampSettings;

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
    TypeEntry::no(
        "remove_header",
        "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
        PLANNED,
    ),
    TypeEntry::no(
        "regex_filter",
        "org.apache.flume.interceptor.RegexFilteringInterceptor$Builder",
        PLANNED,
    ),
    TypeEntry::no(
        "regex_extractor",
        "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
        PLANNED,
    ),
    TypeEntry::no(
        "search_replace",
        "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
        PLANNED,
    ),
    TypeEntry::no(
        "uuid",
        "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
        PLANNED,
    ),
];

/// A configured interceptor's settings, one variant per supported type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterceptorSettings {
    Timestamp(TimestampSettings),
    Host(HostSettings),
    Static(StaticSettings),
}

impl InterceptorSettings {
    pub fn spec(&self) -> &dyn InterceptorSpec {
        match self {
            Self::Timestamp(s) => s,
            Self::Host(s) => s,
            Self::Static(s) => s,
        }
    }
}

/// What every interceptor type's settings provide.
pub trait InterceptorSpec: Describe {
    fn build(&self) -> Box<dyn Interceptor>;
}
