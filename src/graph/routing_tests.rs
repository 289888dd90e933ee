//! Routing as specifications: channel selectors and sink groups, each a configuration and what
//! rflume makes of it (Flume's rules, reported).

use super::tests::{check, messages};
use super::*;
use crate::source::selector::{MultiplexingSettings, SelectorSettings};

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

/// Two logger sinks k1, k2 on c1 (and k3 on c1 when listed), plus `groups`.
fn grouped(sinks: &str, groups: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = {sinks}
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
a1.sinks.k2.type = logger
a1.sinks.k2.channel = c1
a1.sinks.k3.type = logger
a1.sinks.k3.channel = c1
{groups}
"
    )
}

fn group<'a>(l: &'a Loaded, name: &str) -> &'a SinkGroupConfig {
    l.config
        .sinkgroups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}: {:#?}", messages(l)))
}

fn sink_names(l: &Loaded) -> Vec<&str> {
    l.config.sinks.iter().map(|k| k.name.as_str()).collect()
}

#[test]
fn failover_group_with_priorities() {
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g1.processor.priority.k1 = 5
a1.sinkgroups.g1.processor.priority.k2 = 10
a1.sinkgroups.g1.processor.maxpenalty = 10000",
    ));
    assert!(!l.diagnostics.has_errors(), "{:#?}", messages(&l));
    let g = group(&l, "g1");
    let crate::sink::group::ProcessorSettings::Failover(f) = &g.processor else {
        panic!("failover expected")
    };
    assert_eq!(f.sinks, [("k1".to_string(), 5), ("k2".to_string(), 10)]);
    assert_eq!(f.max_penalty, 10000);
    assert_eq!(
        sink_names(&l),
        ["k1", "k2"],
        "the sinks are built, the group runs them"
    );
    let rendered = l.config.render();
    assert!(
        rendered.contains("sinkgroup g1 [failover] sinks: k1, k2"),
        "{rendered}"
    );
    assert!(
        rendered.contains("processor.priority.k2 = 10"),
        "{rendered}"
    );
}

#[test]
fn failover_default_priorities_follow_javas_hash_order() {
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k2 k1
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g1.processor.maxpenalty = lots",
    ));
    let crate::sink::group::ProcessorSettings::Failover(f) = &group(&l, "g1").processor else {
        panic!("failover expected")
    };
    // "k1".hashCode() lands in an earlier bucket than "k2": k1 gets -1, the higher priority.
    assert_eq!(f.sinks, [("k1".to_string(), -1), ("k2".to_string(), -2)]);
    assert_eq!(f.max_penalty, 30000);
    assert_has(
        &l,
        "lots is not a valid value for maxpenalty; Flume uses 30000",
    );
    assert_has(&l, "no priority for k1, k2");
}

#[test]
fn a_duplicate_failover_priority_leaves_the_sink_out() {
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g1.processor.priority.k1 = 5
a1.sinkgroups.g1.processor.priority.k2 = 5",
    ));
    assert_has(&l, "priority 5 of sink k2 duplicates that of sink k1: Flume does not add k2 to the failover group, and it never runs");
    assert_eq!(group(&l, "g1").sinks, ["k1"]);
    assert_eq!(sink_names(&l), ["k1"]);
}

#[test]
fn a_group_without_processor_type_takes_its_sinks_down_with_it() {
    let l = check(&grouped(
        "k1 k2 k3",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2",
    ));
    assert_has(
        &l,
        "processor.type is missing: Flume cannot create the group's processor",
    );
    assert!(l.config.sinkgroups.is_empty());
    assert_eq!(
        sink_names(&l),
        ["k3"],
        "k1 and k2 do not run in Flume either"
    );
}

#[test]
fn load_balance_needs_two_sinks_and_default_exactly_one() {
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1
a1.sinkgroups.g1.processor.type = load_balance",
    ));
    assert_has(
        &l,
        "The LoadBalancingSinkProcessor cannot be used for a single sink",
    );
    assert_eq!(sink_names(&l), ["k2"]);
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = default",
    ));
    assert_has(&l, "the default processor can only handle one sink");
    assert!(sink_names(&l).is_empty());
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1
a1.sinkgroups.g1.processor.type = default",
    ));
    assert!(!l.diagnostics.has_errors(), "{:#?}", messages(&l));
    assert_eq!(group(&l, "g1").sinks, ["k1"]);
}

#[test]
fn load_balance_settings() {
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = load_balance
a1.sinkgroups.g1.processor.backoff = true
a1.sinkgroups.g1.processor.selector = random
a1.sinkgroups.g1.processor.selector.maxTimeOut = 10000",
    ));
    assert!(!l.diagnostics.has_errors(), "{:#?}", messages(&l));
    assert!(l
        .config
        .render()
        .contains("processor.selector.maxTimeOut = 10000"));
    let l = check(&grouped(
        "k1 k2",
        "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = load_balance
a1.sinkgroups.g1.processor.selector = com.example.MySelector",
    ));
    assert!(l.config.unsupported().any(|d| d.what == "sink group g1"));
    assert_eq!(
        sink_names(&l),
        ["k1", "k2"],
        "with --allow-unsupported they run on their own"
    );
}

#[test]
fn a_sink_in_two_groups_and_an_unknown_sink() {
    let l = check(&grouped(
        "k1 k2 k3",
        "a1.sinkgroups = g1 g2
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g2.sinks = k2 k3 k9
a1.sinkgroups.g2.processor.type = failover",
    ));
    // Flume takes g1 first (Java HashSet order of "g1", "g2").
    assert_has(
        &l,
        "sink k2 is in use by another group (g1): Flume does not add it to g2",
    );
    assert_has(&l, "sink k9 not found (it is not in the agent's sinks list); Flume does not add it to the group");
    assert_eq!(group(&l, "g1").sinks, ["k1", "k2"]);
    assert_eq!(group(&l, "g2").sinks, ["k3"]);
}

#[test]
fn a_group_sink_that_fails_when_created_loses_the_whole_configuration() {
    let l = check(&format!(
        "{}a1.sinks.k2.batchSize = 500\na1.channels.c1.transactionCapacity = 100\n",
        grouped(
            "k1 k2",
            "a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover",
        )
        .replace("a1.sinks.k2.type = logger", "a1.sinks.k2.type = null")
    ));
    assert_has(&l, "Flume then abandons the whole configuration");
    assert!(!l.config.is_runnable());
    assert!(l.config.sources.is_empty() && l.config.sinks.is_empty());
}
