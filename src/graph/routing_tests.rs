//! Routing as specifications: channel selectors and sink groups, each a configuration and what
//! rflume makes of it (Flume's rules, reported).

use std::path::Path;

use super::*;
use crate::source::selector::{MultiplexingSettings, SelectorSettings};

fn check(text: &str) -> Loaded {
    load_str(text, Path::new("test.conf"), "a1").expect("parses")
}

fn messages(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .sorted()
        .iter()
        .map(|d| d.to_string())
        .collect()
}

#[track_caller]
fn assert_has(l: &Loaded, needle: &str) {
    assert!(
        messages(l).iter().any(|m| m.contains(needle)),
        "no message contains {needle:?}: {:#?}",
        messages(l)
    );
}

/// One source feeding three channels, each read by a logger sink.
fn three_channels(selector: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1 c2 c3
a1.sinks = k1 k2 k3
a1.sources.r1.type = seq
a1.sources.r1.channels = c1 c2 c3
{selector}
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.channels.c3.type = memory
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
a1.sinks.k2.type = logger
a1.sinks.k2.channel = c2
a1.sinks.k3.type = logger
a1.sinks.k3.channel = c3
"
    )
}

#[test]
fn multiplexing_is_parsed_with_flumes_keys() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.header = state
a1.sources.r1.selector.mapping.CZ = c1
a1.sources.r1.selector.mapping.US = c2 c3
a1.sources.r1.selector.optional.CZ = c1 c2
a1.sources.r1.selector.default = c3",
    ));
    assert!(!l.diagnostics.has_errors(), "{:#?}", messages(&l));
    assert_eq!(
        l.config.sources[0].selector,
        SelectorSettings::Multiplexing(MultiplexingSettings {
            header: "state".into(),
            mapping: vec![
                ("CZ".into(), vec!["c1".into()]),
                ("US".into(), vec!["c2".into(), "c3".into()]),
            ],
            // Flume removes a value's required channels from its optional ones.
            optional: vec![("CZ".into(), vec!["c2".into()])],
            default: vec!["c3".into()],
        })
    );
    let rendered = l.config.render();
    assert!(
        rendered.contains("selector.mapping.US = c2 c3"),
        "{rendered}"
    );
    assert!(rendered.contains("selector.header = state"), "{rendered}");
}

#[test]
fn multiplexing_defaults_to_flumes_header_name() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = org.apache.flume.channel.MultiplexingChannelSelector
a1.sources.r1.selector.default = c1 c2 c3",
    ));
    let SelectorSettings::Multiplexing(m) = &l.config.sources[0].selector else {
        panic!("multiplexing expected: {:#?}", messages(&l));
    };
    assert_eq!(m.header, "flume.selector.header");
}

#[test]
fn a_mapping_to_a_channel_the_source_does_not_feed_drops_the_source() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.mapping.x = c1 c9
a1.sources.r1.selector.default = c2 c3",
    ));
    assert_has(
        &l,
        "test.conf:7: a1.sources.r1.selector.mapping.x: Selector channel not found: c9",
    );
    assert!(l.config.sources.is_empty());
    assert!(l
        .config
        .dropped
        .iter()
        .any(|d| d.what == "source r1" && d.cause == DropCause::ConfigError));
}

#[test]
fn no_default_is_a_warning_that_events_are_dropped() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.header = dc
a1.sources.r1.selector.mapping.eu = c1
a1.sources.r1.selector.mapping.us = c2 c3",
    ));
    assert!(!l.diagnostics.has_errors(), "{:#?}", messages(&l));
    assert_has(
        &l,
        "no selector.default: events whose header dc is missing or not one of [eu, us] are dropped",
    );
    assert_eq!(l.config.sources.len(), 1);
}

#[test]
fn flumes_single_space_split_of_selector_lists_is_kept() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.default = c1  c2 c3",
    ));
    assert_has(&l, "Flume splits selector channel lists on single spaces");
    assert!(l.config.sources.is_empty());
}

#[test]
fn a_channel_no_mapping_names_is_reported() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.mapping.x = c1
a1.sources.r1.selector.default = c2",
    ));
    assert_has(
        &l,
        "channel c3 is one of the source's channels, but no selector.mapping, selector.optional or selector.default names it",
    );
}

#[test]
fn replicating_optional_stays_as_it_was() {
    let l = check(&three_channels("a1.sources.r1.selector.optional = c3 c9"));
    assert_eq!(
        l.config.sources[0].selector,
        SelectorSettings::Replicating {
            optional: vec!["c3".into()]
        }
    );
    assert_has(
        &l,
        "optional channel c9 is not one of the source's channels; ignored",
    );
    assert!(l
        .config
        .render()
        .contains("-> channels: c1, c2, c3 (optional: c3)"));
}

#[test]
fn selector_keys_of_the_other_selector_are_reported() {
    let l = check(&three_channels(
        "a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.optional = c3
a1.sources.r1.selector.default = c1 c2 c3",
    ));
    assert_has(
        &l,
        "the multiplexing selector reads selector.optional.<header value>, not selector.optional",
    );
    let l = check(&three_channels("a1.sources.r1.selector.header = dc"));
    assert_has(
        &l,
        "a1.sources.r1.selector.header: unknown property for the seq source",
    );
}
