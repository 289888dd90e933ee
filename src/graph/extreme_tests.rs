//! Bad values never panic: every numeric property of every supported component, given extreme
//! values (zero, negatives, the edges of Java's int and long, numbers beyond them, garbage, and
//! random integers from proptest), is rejected or accepted with a diagnostic — and whatever is
//! accepted builds and runs a first round without overflowing a deadline or allocating without
//! bound.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::registry_tests::{parse_minimal, MINIMAL};
use crate::channel::{self, memory::MemorySettings, ChannelSettings, TakeTransaction};
use crate::config::registry::{ParseFn, Support, TypeEntry};
use crate::event::Event;
use crate::metrics::{ChannelCounter, SinkCounter};
use crate::sink::{self, SinkCore};
use crate::{interceptor, source};

/// Values every numeric property is tried with.
const EDGES: &[&str] = &[
    "0",
    "-1",
    "1",
    " 7 ",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "99999999999999999999999",
    "1e3",
    "0x10",
    "lots",
];

/// Parses a component of `kind`/`alias` from its minimal properties with `key = value` added;
/// `Some` only when it parsed without errors. The directory is where its files may go (see
/// `with_temp_dirs`); it must outlive what is built.
fn parse_with<S>(
    parse: ParseFn<S>,
    kind: &str,
    alias: &str,
    extra: Option<(&str, &str)>,
) -> (Option<S>, tempfile::TempDir) {
    let p = parse_minimal(parse, kind, alias, extra);
    let ok = !p.diags.has_errors();
    (p.settings.filter(|_| ok), p.dirs)
}

/// The numeric properties of each supported type: those its `describe()` shows as a number (or
/// as `unlimited`) for its minimal configuration.
fn numeric_keys<S>(
    kind: &'static str,
    table: &'static [TypeEntry<S>],
    describe: impl Fn(&S) -> Vec<(String, String)>,
) -> Vec<(&'static str, ParseFn<S>, String)> {
    let mut out = Vec::new();
    for entry in table {
        let Support::Yes(parse) = entry.support else {
            continue;
        };
        let alias = entry.name.alias;
        let settings = parse_with(parse, kind, alias, None)
            .0
            .unwrap_or_else(|| panic!("{kind} {alias}: its minimal config parses"));
        let keys: BTreeSet<String> = describe(&settings)
            .into_iter()
            .filter(|(_, v)| v.trim().parse::<i128>().is_ok() || v == "unlimited")
            .map(|(k, _)| k)
            .collect();
        out.extend(keys.into_iter().map(|k| (alias, parse, k)));
    }
    out
}

/// Builds what parsed and runs a first round of it, catching a panic.
fn exercise(kind: &str, alias: &str, key: &str, value: &str, run: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(run)) {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{kind} {alias}: {key} = {value:?} panicked: {msg}");
    }
}

fn try_channel(value: &str) {
    for (alias, parse, key) in numeric_keys("channel", channel::TYPES, |s: &ChannelSettings| {
        s.spec().describe()
    }) {
        exercise("channel", alias, &key, value, || {
            let (parsed, _dirs) = parse_with(parse, "channel", alias, Some((&key, value)));
            if let Some(s) = parsed {
                let c = s
                    .spec()
                    .build("c1", Arc::new(ChannelCounter::default()))
                    .unwrap_or_else(|e| {
                        panic!("channel {alias} with {key} = {value} did not open: {e}")
                    });
                if c.kind() == "kafka" {
                    // Its put waits for a broker's acknowledgement (up to message.timeout.ms,
                    // 0 = forever); its put and take run against a broker in
                    // tests/kafka_channel.rs.
                    return;
                }
                let mut batch = vec![Event::new("a"), Event::new("b")];
                let _ = c.put(&mut batch);
                let txn = TakeTransaction::begin(&c, 2, Duration::ZERO);
                txn.commit();
            }
        });
    }
}

fn try_source(value: &str) {
    for (alias, parse, key) in
        numeric_keys("source", source::TYPES, |s: &source::SourceSettings| {
            s.spec().describe()
        })
    {
        exercise("source", alias, &key, value, || {
            if let (Some(s), _dirs) = parse_with(parse, "source", alias, Some((&key, value))) {
                let _ = s.spec().batch_size();
                let _running = s.spec().build("r1");
            }
        });
    }
}

fn try_sink(value: &str, build: bool) {
    let memory = ChannelSettings::Memory(MemorySettings::default());
    for (alias, parse, key) in numeric_keys("sink", sink::TYPES, |s: &sink::SinkSettings| {
        s.spec().describe()
    }) {
        exercise("sink", alias, &key, value, || {
            if let (Some(s), _dirs) = parse_with(parse, "sink", alias, Some((&key, value))) {
                if build {
                    let channel = memory
                        .spec()
                        .build("c1", Arc::new(ChannelCounter::default()))
                        .expect("a memory channel opens");
                    let core = SinkCore::new("k1", channel, Arc::new(SinkCounter::default()));
                    let _ = s.spec().build(core);
                }
            }
        });
    }
}

fn try_interceptor(value: &str) {
    for (alias, parse, key) in numeric_keys(
        "interceptor",
        interceptor::TYPES,
        |s: &interceptor::InterceptorSettings| s.spec().describe(),
    ) {
        exercise("interceptor", alias, &key, value, || {
            if let (Some(s), _dirs) = parse_with(parse, "interceptor", alias, Some((&key, value))) {
                let mut i = s.spec().build();
                let _ = i.intercept(vec![Event::new("x")]);
            }
        });
    }
}

#[test]
fn every_numeric_property_survives_the_edges() {
    assert!(!MINIMAL.is_empty());
    for value in EDGES {
        try_channel(value);
        try_source(value);
        // Building a Kafka sink starts a librdkafka client: the edges are enough for it.
        try_sink(value, true);
        try_interceptor(value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_numeric_property_survives_random_integers(v in any::<i64>(), u in any::<u64>()) {
        for value in [v.to_string(), u.to_string()] {
            try_channel(&value);
            try_source(&value);
            try_sink(&value, false);
            try_interceptor(&value);
        }
    }
}
