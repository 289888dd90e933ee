//! Flume's validation rules as specifications: each test is a configuration and what rflume says.

use std::path::Path;

use super::*;

pub(super) fn check(text: &str) -> Loaded {
    load_str(text, Path::new("test.conf"), "a1").expect("parses")
}

pub(super) fn messages(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .sorted()
        .iter()
        .map(|d| d.to_string())
        .collect()
}

fn has(l: &Loaded, needle: &str) -> bool {
    messages(l).iter().any(|m| m.contains(needle))
}

const SEED: &str = "\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
#tail -F 根据文件名进行追踪
a1.sources.r1.command = tail -F /root/hadoop-3.2.1/testdata/testflume.log
a1.sources.r1.channels = c1
a1.channels.c1.type=memory
a1.channels.c1.capacity=10000
a1.channels.c1.transactionCapacity=100
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
";

#[test]
fn seed_shape_is_valid_and_resolved() {
    let l = check(SEED);
    assert!(!l.diagnostics.has_errors(), "{:?}", messages(&l));
    let c = &l.config;
    assert!(c.is_runnable());
    assert_eq!(c.sources[0].channels, vec!["c1"]);
    let SourceSettings::Exec(e) = &c.sources[0].settings else {
        panic!("exec expected")
    };
    assert_eq!(
        e.command,
        "tail -F /root/hadoop-3.2.1/testdata/testflume.log"
    );
    assert_eq!(e.batch_size, 20);
    let ChannelSettings::Memory(m) = &c.channels[0].settings else {
        panic!("memory expected")
    };
    assert_eq!((m.capacity, m.transaction_capacity), (10000, 100));
    assert!(c.render().contains("source r1 [exec] -> channels: c1"));
}

#[test]
fn missing_channels_list_invalidates_the_agent() {
    let l = check("a1.sources = r1\na1.sources.r1.type = exec\na1.sources.r1.command = x\n");
    assert!(!l.config.is_runnable());
    assert!(has(
        &l,
        "a1.channels: agent 'a1' does not contain any channels"
    ));
}

#[test]
fn component_without_type_is_dropped_with_file_and_line() {
    let l = check(&SEED.replace("a1.channels.c1.type=memory\n", ""));
    assert!(
        has(
            &l,
            "test.conf:8: a1.channels.c1.type: Component has no type"
        ),
        "{:?}",
        messages(&l)
    );
    assert!(!l.config.is_runnable());
}

#[test]
fn source_with_only_an_unknown_channel_is_reported_and_dropped() {
    let l = check(&SEED.replace("a1.sources.r1.channels = c1", "a1.sources.r1.channels = c9"));
    assert!(
        has(
            &l,
            "test.conf:7: a1.sources.r1.channels: channel c9 is not a channel of this agent"
        ),
        "{:?}",
        messages(&l)
    );
    assert!(has(
        &l,
        "test.conf:7: a1.sources.r1.channels: No Channels configured for r1; the source is dropped"
    ));
    assert!(l.config.sources.is_empty());
}

/// Flume: `channels.retainAll(channelSet)` — the source runs on the channels that exist.
#[test]
fn an_unknown_channel_in_the_list_is_dropped_and_the_source_runs_on_the_rest() {
    let l = check(&SEED.replace(
        "a1.sources.r1.channels = c1",
        "a1.sources.r1.channels = c1 c9",
    ));
    assert!(
        has(
            &l,
            "test.conf:7: a1.sources.r1.channels: channel c9 is not a channel of this agent; r1 runs without it (Flume drops it silently) (valid channels: c1)"
        ),
        "{:?}",
        messages(&l)
    );
    assert_eq!(l.config.sources.len(), 1);
    assert_eq!(l.config.sources[0].channels, ["c1"]);
    assert!(
        l.diagnostics.has_errors(),
        "reported as an error: Flume dropped part of the file"
    );
}

#[test]
fn sink_channel_not_in_active_set() {
    let l = check(&SEED.replace("a1.sinks.k1.channel = c1", "a1.sinks.k1.channel = c2"));
    assert!(
        has(
            &l,
            "test.conf:12: a1.sinks.k1.channel: Channel c2 not in active set"
        ),
        "{:?}",
        messages(&l)
    );
    assert!(l.config.sinks.is_empty());
}

#[test]
fn batch_size_over_transaction_capacity_drops_the_source() {
    let l = check(&format!("{SEED}a1.sources.r1.batchSize = 500\n"));
    assert!(has(
        &l,
        "test.conf:13: a1.sources.r1.batchSize: Incompatible source and channel settings defined. source's batch size is greater than the channels transaction capacity"
    ), "{:?}", messages(&l));
    assert!(l.config.sources.is_empty());
    assert!(l.diagnostics.has_errors());
}

#[test]
fn transaction_capacity_over_capacity_drops_the_channel() {
    let l = check(&SEED.replace("capacity=10000", "capacity=10"));
    assert!(has(&l, "test.conf:10: a1.channels.c1.transactionCapacity: Transaction Capacity of Memory Channel cannot be higher than the capacity"), "{:?}", messages(&l));
    assert!(l.config.channels.is_empty());
}

#[test]
fn singular_section_typo_is_reported_with_the_fix() {
    let l = check(&format!("{SEED}a1.sink.k1.batchSize = 5\n"));
    assert!(has(&l, "test.conf:13: a1.sink.k1.batchSize: Invalid property specified; ignored (as in Flume) (did you mean a1.sinks.k1.batchSize?)"), "{:?}", messages(&l));
}

#[test]
fn unknown_and_unsupported_types_are_errors() {
    let l = check(&SEED.replace("type = exec", "type = com.example.TwitterSource"));
    assert!(has(
        &l,
        "test.conf:4: a1.sources.r1.type: unknown source type 'com.example.TwitterSource': a custom class rflume cannot load; it is dropped"
    ), "{:?}", messages(&l));
    assert_eq!(
        l.config.unsupported().count(),
        1,
        "Flume would load the class: unsupported, not a config error"
    );
    let l = check(&SEED.replace("type = exec", "type = JMS"));
    assert!(has(
        &l,
        "source type jms (org.apache.flume.source.jms.JMSSource) is not supported"
    ));
    let l = check(&SEED.replace("type=memory", "type=jdbc"));
    assert!(has(&l, "channel type jdbc"));
}

#[test]
fn sparks_pull_sink_is_unsupported_with_the_push_route_named() {
    // A corpus config (026-flafka-flume.conf) uses Spark's SparkSink; rflume must not call it
    // an unknown custom class, but say what it is and what works instead.
    let l = check(&SEED.replace(
        "a1.sinks.k1.type = logger",
        "a1.sinks.k1.type = org.apache.spark.streaming.flume.sink.SparkSink\n\
         a1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = 8672",
    ));
    let m = messages(&l);
    assert!(
        has(&l, "test.conf:11: a1.sinks.k1.type: sink type spark (org.apache.spark.streaming.flume.sink.SparkSink) is not supported by rflume; it is dropped"),
        "{m:?}"
    );
    assert!(
        has(&l, "SparkFlumeProtocol") && has(&l, "FlumeUtils.createStream"),
        "{m:?}"
    );
    assert!(l.config.sinks.is_empty());
    // Flume would run it (with Spark's jar): unsupported, not a configuration error.
    assert_eq!(l.diagnostics.count(Severity::Error), 0, "{m:?}");
    assert!(l.diagnostics.count(Severity::Unsupported) >= 1, "{m:?}");
}

#[test]
fn unknown_component_key_is_a_warning_naming_valid_keys() {
    let l = check(&format!("{SEED}a1.sources.r1.batchsize = 5\n"));
    let m = messages(&l);
    assert!(
        m.iter().any(|m| m.contains("a1.sources.r1.batchsize: unknown property for the exec source; ignored (did you mean batchSize?")),
        "{m:?}"
    );
    assert!(!l.diagnostics.has_errors());
}

#[test]
fn unlisted_component_is_reported() {
    let l = check(&format!("{SEED}a1.sinks.sasl.jaas.config = x\n"));
    assert!(has(
        &l,
        "a1.sinks.sasl: sasl has properties but is not listed in a1.sinks"
    ));
}

#[test]
fn unknown_agent_name_lists_defined_agents() {
    let l = load_str(SEED, Path::new("test.conf"), "agent").expect("parses");
    assert!(has(&l, "No configuration found for agent 'agent'"));
    assert!(has(&l, "this file defines agent(s): a1"));
}

#[test]
fn case_insensitive_aliases_and_class_names() {
    let l = check(
        &SEED
            .replace("type = exec", "type = org.apache.flume.source.ExecSource")
            .replace("type=memory", "type=MEMORY"),
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", messages(&l));
}

#[test]
fn custom_interceptors_and_selectors_are_reported_not_ignored() {
    let l = check(&format!(
        "{SEED}a1.sources.r1.interceptors = i1\na1.sources.r1.interceptors.i1.type = com.example.Mine$Builder\n"
    ));
    assert!(
        has(
            &l,
            "test.conf:14: a1.sources.r1.interceptors.i1.type: unknown interceptor type 'com.example.Mine$Builder': a custom class rflume cannot load; the source is dropped rather than run without it"
        ),
        "{:?}",
        messages(&l)
    );
    assert!(l.config.sources.is_empty());
    let l = check(&format!(
        "{SEED}a1.sources.r1.selector.type = load_balancing\n"
    ));
    assert!(has(
        &l,
        "the load_balancing channel selector (Flume 1.10+) is not supported yet"
    ));
}

#[test]
fn unconnected_channel_is_removed_with_warning() {
    let l = check(
        &(SEED.replace("a1.channels = c1", "a1.channels = c1 c2")
            + "a1.channels.c2.type = memory\n"),
    );
    assert!(has(
        &l,
        "Channel c2 has no components connected and has been removed"
    ));
    assert_eq!(l.config.channels.len(), 1);
}

#[test]
fn exec_settings_errors_name_line_and_fix() {
    let l = check(&SEED.replace(
        "a1.sources.r1.command = tail -F /root/hadoop-3.2.1/testdata/testflume.log\n",
        "a1.sources.r1.restart = yes\n",
    ));
    assert!(has(
        &l,
        "a1.sources.r1.command: required property is missing"
    ));
    assert!(
        has(
            &l,
            "test.conf:6: a1.sources.r1.restart: 'yes' is read as false, as Flume does (write true or false)"
        ),
        "{:?}",
        messages(&l)
    );
}

#[test]
fn interceptors_are_parsed_in_listed_order_with_their_keys() {
    let l = check(&format!(
        "{SEED}a1.sources.r1.interceptors = i2 i1\na1.sources.r1.interceptors.i1.type = timestamp\na1.sources.r1.interceptors.i2.type = org.apache.flume.interceptor.StaticInterceptor$Builder\na1.sources.r1.interceptors.i2.key = dc\na1.sources.r1.interceptors.i2.vaule = eu\n"
    ));
    let names: Vec<&str> = l.config.sources[0]
        .interceptors
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["i2", "i1"]);
    assert!(
        has(
            &l,
            "test.conf:17: a1.sources.r1.interceptors.i2.vaule: unknown property for the static interceptor"
        ),
        "{:?}",
        messages(&l)
    );
}

#[test]
fn taildir_groups_headers_and_defaults() {
    let l = check(&SEED.replace(
        "a1.sources.r1.type = exec\n",
        "a1.sources.r1.type = TAILDIR\na1.sources.r1.filegroups = f1 f2\na1.sources.r1.filegroups.f1 = /var/log/app/.*log\na1.sources.r1.filegroups.f2 = /var/log/other/x(\n a1.sources.r1.headers.f1.dc = eu\n",
    ));
    // f2's pattern is not a valid regex: the source is dropped with the reason.
    assert!(
        has(
            &l,
            "a1.sources.r1.filegroups.f2: 'x(' is not a supported regular expression"
        ),
        "{:?}",
        messages(&l)
    );
    let l = check(&SEED.replace(
        "a1.sources.r1.type = exec\n",
        "a1.sources.r1.type = TAILDIR\na1.sources.r1.filegroups = f1\na1.sources.r1.filegroups.f1 = /var/log/app/.*log\na1.sources.r1.headers.f1.dc = eu\n",
    ).replace("a1.sources.r1.command = tail -F /root/hadoop-3.2.1/testdata/testflume.log\n", ""));
    assert!(!l.diagnostics.has_errors(), "{:?}", messages(&l));
    let SourceSettings::Taildir(t) = &l.config.sources[0].settings else {
        panic!("taildir expected")
    };
    assert_eq!(t.groups[0].dir, std::path::PathBuf::from("/var/log/app"));
    assert!(t.groups[0].regex.is_match("a.log") && !t.groups[0].regex.is_match("a.log.1"));
    assert_eq!(
        t.groups[0].headers,
        vec![("dc".to_string(), "eu".to_string())]
    );
    assert_eq!(t.batch_size, 100);
    assert!(t.position_file.ends_with(".flume/taildir_position.json"));
}

/// Flume 1.10+ config filters: `env` and `external` resolve `${f[KEY]}` in component values;
/// the Hadoop credential store is reported as unsupported.
#[test]
fn config_filters_resolve_component_values() {
    let home = std::env::var("HOME").expect("HOME is set");
    let l = check(&format!(
        "a1.configfilters = e x\n\
         a1.configfilters.e.type = env\n\
         a1.configfilters.x.type = external\n\
         a1.configfilters.x.command = echo secret-for\n\
         {}\
         a1.sources.r1.command = tail -F ${{e['HOME']}}/app.log ${{x[db-password]}} ${{e[RFLUME_NO_SUCH_VAR]}}\n",
        SEED.replace("a1.sources.r1.command = tail -F /root/hadoop-3.2.1/testdata/testflume.log\n", "")
    ));
    let SourceSettings::Exec(e) = &l.config.sources[0].settings else {
        panic!("exec expected: {:?}", messages(&l))
    };
    assert_eq!(
        e.command,
        format!("tail -F {home}/app.log secret-for db-password ${{e[RFLUME_NO_SUCH_VAR]}}")
    );
    assert!(
        has(
            &l,
            "config filter e has no value for RFLUME_NO_SUCH_VAR; the text is kept as written"
        ),
        "{:?}",
        messages(&l)
    );
    assert!(!l.diagnostics.has_errors(), "{:?}", messages(&l));

    let l = check(&format!(
        "a1.configfilters = h\na1.configfilters.h.type = hadoop\na1.configfilters.h.credential.provider.path = jceks://file/x\n{SEED}"
    ));
    assert!(
        has(&l, "test.conf:2: a1.configfilters.h.type: the Hadoop credential-store config filter needs Hadoop's Java libraries"),
        "{:?}",
        messages(&l)
    );
    assert_eq!(l.diagnostics.count(Severity::Unsupported), 1);
}

/// Flume 1.11's MapResolver: nested references, and top-level `NAME = value` lines as variables.
#[test]
fn nested_substitution_with_top_level_variables() {
    let l = check(&format!(
        "STAGE = prod\nprod_CAPACITY = 5000\n{}",
        SEED.replace("capacity=10000", "capacity=${${STAGE}_CAPACITY}")
    ));
    let ChannelSettings::Memory(m) = &l.config.channels[0].settings else {
        panic!("memory expected")
    };
    assert_eq!(m.capacity, 5000, "{:?}", messages(&l));
}
