//! Flume's `GET /metrics` JSON, byte for byte (`HTTPMetricsServer` + `JMXPollUtil`).
//!
//! Flume polls every `org.apache.flume.*` MBean and writes, with Gson,
//! `{"SOURCE.r1":{"AppendAcceptedCount":"0",…},"CHANNEL.c1":{…},"SINK.k1":{…}}`: one object per
//! component keyed `TYPE.name`, every attribute of the component's MBean interface
//! (`SourceCounterMBean`, `ChannelCounterMBean`, `SinkCounterMBean`, and the Kafka source's,
//! channel's and sink's `KafkaSourceCounterMBean`, `KafkaChannelCounterMBean`,
//! `KafkaSinkCounterMBean`, the file channel's `FileChannelCounterMBean`),
//! every value a string (`long.toString()`, `Double.toString()` for `ChannelFillPercentage`).
//! Both levels are `HashMap`s, written in `java.util.HashMap`'s iteration order, which
//! [`crate::java::java_hashmap_order`] reproduces. Names that share a hash bucket keep their
//! insertion order, which in Flume is the order the JVM's MBean introspector lists attributes
//! (`Class.getMethods()`, unspecified and different between JVM builds); rflume inserts them
//! sorted by name. So the names, values and bucket order are Flume's, and the order inside a
//! shared bucket may differ (`tests/flume_metrics.rs` compares against Flume 1.9 and 1.11).
//!
//! Components whose Flume class registers no counter group (the netcat source, the logger and
//! null sinks) are absent from Flume's JSON, and so from this one; Prometheus and `rflume top`
//! show them.

use super::{ChannelCounter, Group, Registry, SinkCounter, SourceCounter};
use crate::java::{java_double_to_string, java_hashmap_order};

/// Flume types whose component registers no MBean (their counters are rflume's own).
/// (Flume's NetcatSource and NetcatUdpSource keep a plain `CounterGroup`, which is no MBean.)
const WITHOUT_FLUME_COUNTERS: &[&str] = &["netcat", "netcatudp", "logger", "null"];

/// The attributes Flume's MBean of `group` reports, sorted by name (the introspector's order).
pub fn attributes(group: &Group) -> Vec<(&'static str, String)> {
    let mut a = match group {
        Group::Source(_, c) => source(c),
        Group::Channel(_, c) => channel(c),
        Group::Sink(_, c) => sink(c),
    };
    a.push(("Type", group.flume_type().to_string()));
    a.sort_by(|x, y| x.0.cmp(y.0));
    a
}

/// Whether Flume would list this component in `/metrics`.
pub fn in_flume_json(group: &Group) -> bool {
    let alias = match group {
        Group::Source(_, c) => c.meta.type_alias(),
        Group::Channel(_, c) => c.meta.type_alias(),
        Group::Sink(_, c) => c.meta.type_alias(),
    };
    !WITHOUT_FLUME_COUNTERS.contains(&alias)
}

/// The whole `/metrics` document.
pub fn render(registry: &Registry) -> String {
    let groups: Vec<Group> = registry
        .groups()
        .into_iter()
        .filter(in_flume_json)
        .collect();
    let keys: Vec<String> = groups.iter().map(Group::key).collect();
    let mut out = String::with_capacity(512 * groups.len() + 2);
    out.push('{');
    for (n, i) in java_hashmap_order(&keys).into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_string(&mut out, &keys[i]);
        out.push(':');
        let attrs = attributes(&groups[i]);
        let names: Vec<&str> = attrs.iter().map(|(k, _)| *k).collect();
        out.push('{');
        for (m, j) in java_hashmap_order(&names).into_iter().enumerate() {
            if m > 0 {
                out.push(',');
            }
            push_string(&mut out, attrs[j].0);
            out.push(':');
            push_string(&mut out, &attrs[j].1);
        }
        out.push('}');
    }
    out.push('}');
    out
}

fn source(c: &SourceCounter) -> Vec<(&'static str, String)> {
    let mut a = vec![
        ("AppendAcceptedCount", c.append_accepted.get().to_string()),
        (
            "AppendBatchAcceptedCount",
            c.append_batch_accepted.get().to_string(),
        ),
        (
            "AppendBatchReceivedCount",
            c.append_batch_received.get().to_string(),
        ),
        ("AppendReceivedCount", c.append_received.get().to_string()),
        ("EventAcceptedCount", c.event_accepted.get().to_string()),
        ("EventReceivedCount", c.event_received.get().to_string()),
        ("OpenConnectionCount", c.open_connections.get().to_string()),
        ("StartTime", c.lifecycle.start_ms().to_string()),
        ("StopTime", c.lifecycle.stop_ms().to_string()),
    ];
    // Events the multiplexing selector had no channel for: Flume drops them without a count, so
    // this is rflume's own, present once non-zero (as the long lines below). Any source type can
    // have a selector, the Kafka source included, so it comes before the Kafka source's own list.
    push_nonzero(&mut a, "Unrouted", c.unrouted.get());
    if c.meta.type_alias() == "kafka" {
        // KafkaSourceCounterMBean declares its own list, which the JMX introspector reads
        // instead of SourceCounterMBean's: the three Kafka counters, and not EventReadFail,
        // ChannelWriteFail, GenericProcessingFail (which Flume's Kafka source still counts, but
        // no reader of the MBean sees; rflume's are in Prometheus).
        a.extend([
            (
                "KafkaCommitTimer",
                c.kafka_commit_timer_ms.get().to_string(),
            ),
            ("KafkaEmptyCount", c.kafka_empty.get().to_string()),
            (
                "KafkaEventGetTimer",
                c.kafka_event_get_timer_ms.get().to_string(),
            ),
        ]);
        return a;
    }
    a.extend([
        ("ChannelWriteFail", c.channel_write_fail.get().to_string()),
        ("EventReadFail", c.event_read_fail.get().to_string()),
        (
            "GenericProcessingFail",
            c.generic_processing_fail.get().to_string(),
        ),
    ]);
    // rflume's own counters of what Flume has no such behaviour for: present once non-zero, so
    // that until then the document is Flume's byte for byte.
    push_nonzero(&mut a, "LongLinesSplit", c.long_line_split.get());
    push_nonzero(&mut a, "LongLinesTruncated", c.long_line_truncated.get());
    a
}

/// Adds an rflume-only attribute when it has counted something (see `source` and `sink`).
fn push_nonzero(a: &mut Vec<(&'static str, String)>, name: &'static str, value: u64) {
    if value > 0 {
        a.push((name, value.to_string()));
    }
}

/// Flume's `ChannelCounter.getChannelFillPercentage`: size / capacity × 100, and
/// `Double.MAX_VALUE` for a capacity of 0.
pub fn fill_percentage(c: &ChannelCounter) -> f64 {
    let capacity = c.channel_capacity.get();
    if capacity == 0 {
        return f64::MAX;
    }
    (c.channel_size.get() as f64 / capacity as f64) * 100.0
}

fn channel(c: &ChannelCounter) -> Vec<(&'static str, String)> {
    let mut a = vec![
        ("ChannelCapacity", c.channel_capacity.get().to_string()),
        (
            "ChannelFillPercentage",
            java_double_to_string(fill_percentage(c)),
        ),
        ("ChannelSize", c.channel_size.get().to_string()),
        (
            "EventPutAttemptCount",
            c.event_put_attempt.get().to_string(),
        ),
        (
            "EventPutSuccessCount",
            c.event_put_success.get().to_string(),
        ),
        (
            "EventTakeAttemptCount",
            c.event_take_attempt.get().to_string(),
        ),
        (
            "EventTakeSuccessCount",
            c.event_take_success.get().to_string(),
        ),
        ("StartTime", c.lifecycle.start_ms().to_string()),
        ("StopTime", c.lifecycle.stop_ms().to_string()),
    ];
    if c.meta.type_alias() == "file" {
        // FileChannelCounterMBean's getters: `isOpen` is a boolean, `getClosed` its negation.
        let open = c.open.get() != 0;
        a.extend([
            (
                "CheckpointBackupWriteErrorCount",
                c.checkpoint_backup_write_error.get().to_string(),
            ),
            (
                "CheckpointWriteErrorCount",
                c.checkpoint_write_error.get().to_string(),
            ),
            ("Closed", if open { "0" } else { "1" }.to_string()),
            ("EventPutErrorCount", c.event_put_error.get().to_string()),
            ("EventTakeErrorCount", c.event_take_error.get().to_string()),
            ("Open", open.to_string()),
            ("Unhealthy", c.unhealthy.get().to_string()),
        ]);
    }
    if c.meta.type_alias() == "kafka" {
        // KafkaChannelCounterMBean: ChannelCounterMBean's list and these four.
        a.extend([
            (
                "KafkaCommitTimer",
                c.kafka_commit_timer_ms.get().to_string(),
            ),
            (
                "KafkaEventGetTimer",
                c.kafka_event_get_timer_ms.get().to_string(),
            ),
            (
                "KafkaEventSendTimer",
                c.kafka_event_send_timer_ms.get().to_string(),
            ),
            ("RollbackCount", c.rollback.get().to_string()),
        ]);
    }
    a
}

fn sink(c: &SinkCounter) -> Vec<(&'static str, String)> {
    let mut a = vec![
        ("BatchCompleteCount", c.batch_complete.get().to_string()),
        ("BatchEmptyCount", c.batch_empty.get().to_string()),
        ("BatchUnderflowCount", c.batch_underflow.get().to_string()),
        (
            "ConnectionClosedCount",
            c.connection_closed.get().to_string(),
        ),
        (
            "ConnectionCreatedCount",
            c.connection_created.get().to_string(),
        ),
        (
            "ConnectionFailedCount",
            c.connection_failed.get().to_string(),
        ),
        (
            "EventDrainAttemptCount",
            c.event_drain_attempt.get().to_string(),
        ),
        (
            "EventDrainSuccessCount",
            c.event_drain_success.get().to_string(),
        ),
        ("StartTime", c.lifecycle.start_ms().to_string()),
        ("StopTime", c.lifecycle.stop_ms().to_string()),
    ];
    if c.is_kafka() {
        // KafkaSinkCounterMBean declares its own list: the timer and rollbacks instead of
        // EventWriteFail and ChannelReadFail.
        a.push((
            "KafkaEventSendTimer",
            c.kafka_event_send_timer_ms.get().to_string(),
        ));
        a.push(("RollbackCount", c.rollback.get().to_string()));
        // Records Kafka refused for good (Flume retries them forever): as for the sources'
        // long lines, present once non-zero.
        push_nonzero(&mut a, "DeadLetteredCount", c.event_dead_lettered.get());
        push_nonzero(
            &mut a,
            "RejectedDroppedCount",
            c.event_rejected_dropped.get(),
        );
    } else {
        a.push(("ChannelReadFail", c.channel_read_fail.get().to_string()));
        a.push(("EventWriteFail", c.event_write_fail.get().to_string()));
    }
    a
}

/// A JSON string as Gson writes it (Gson escapes `<`, `>`, `&`, `=`, `'` as `\u003c`… by
/// default, HTML-safe mode).
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '=' | '\'' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", ch as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_a_string_and_every_flume_name_is_there() {
        let r = Registry::default();
        let s = r.source("r1");
        s.meta.set_type("exec");
        s.event_received.add(7);
        let c = r.channel("c1");
        c.channel_capacity.set(200);
        c.channel_size.set(50);
        let k = r.sink("k1");
        k.client.mark_kafka();
        k.rollback.add(2);
        let json: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        let obj = json.as_object().expect("object");
        assert_eq!(obj.len(), 3);
        for (_, attrs) in obj {
            for (k, v) in attrs.as_object().expect("object") {
                assert!(v.is_string(), "{k} is not a string: {v}");
            }
        }
        assert_eq!(json["SOURCE.r1"]["EventReceivedCount"], "7");
        assert_eq!(json["SOURCE.r1"]["Type"], "SOURCE");
        assert_eq!(json["SOURCE.r1"].as_object().map(|o| o.len()), Some(13));
        assert_eq!(json["CHANNEL.c1"]["ChannelFillPercentage"], "25.0");
        assert_eq!(json["CHANNEL.c1"].as_object().map(|o| o.len()), Some(10));
        assert_eq!(json["SINK.k1"]["RollbackCount"], "2");
        assert_eq!(json["SINK.k1"]["KafkaEventSendTimer"], "0");
        assert!(json["SINK.k1"].get("EventWriteFail").is_none());
        assert_eq!(json["SINK.k1"].as_object().map(|o| o.len()), Some(13));
    }

    #[test]
    fn rflume_only_counters_appear_once_they_count() {
        let r = Registry::default();
        let s = r.source("r1");
        s.meta.set_type("TAILDIR");
        let k = r.sink("k1");
        k.client.mark_kafka();
        let before: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        for key in ["LongLinesSplit", "LongLinesTruncated"] {
            assert!(before["SOURCE.r1"].get(key).is_none(), "{key} at 0");
        }
        for key in ["DeadLetteredCount", "RejectedDroppedCount"] {
            assert!(before["SINK.k1"].get(key).is_none(), "{key} at 0");
        }
        assert!(
            before["SOURCE.r1"].get("Unrouted").is_none(),
            "Unrouted at 0"
        );
        s.long_line_split.add(1);
        s.long_line_truncated.add(2);
        s.unrouted.add(5);
        k.event_dead_lettered.add(3);
        k.event_rejected_dropped.add(4);
        let after: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        assert_eq!(after["SOURCE.r1"]["LongLinesSplit"], "1");
        assert_eq!(after["SOURCE.r1"]["LongLinesTruncated"], "2");
        assert_eq!(after["SOURCE.r1"]["Unrouted"], "5");
        assert_eq!(after["SINK.k1"]["DeadLetteredCount"], "3");
        assert_eq!(after["SINK.k1"]["RejectedDroppedCount"], "4");
    }

    #[test]
    fn key_order_is_java_hashmap_order() {
        let r = Registry::default();
        r.channel("c1");
        let out = render(&r);
        // Java: new HashMap<>() filled with ChannelCounterMBean's attributes, Gson-serialized
        // (order worked out with String.hashCode over a 16-bucket table).
        let keys: Vec<&str> = out
            .split('"')
            .skip(3)
            .step_by(4)
            .take_while(|k| !k.is_empty())
            .collect();
        let names = [
            "ChannelCapacity",
            "ChannelFillPercentage",
            "ChannelSize",
            "EventPutAttemptCount",
            "EventPutSuccessCount",
            "EventTakeAttemptCount",
            "EventTakeSuccessCount",
            "StartTime",
            "StopTime",
            "Type",
        ];
        let expected: Vec<&str> = java_hashmap_order(&names)
            .into_iter()
            .map(|i| names[i])
            .collect();
        assert_eq!(keys, expected);
        assert_ne!(keys, names, "not merely alphabetical");
    }

    #[test]
    fn components_flume_does_not_count_are_left_out() {
        let r = Registry::default();
        r.source("r1").meta.set_type("netcat");
        r.source("r2").meta.set_type("netcatudp");
        r.sink("k1").meta.set_type("logger");
        r.channel("c1").meta.set_type("memory");
        let json: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["CHANNEL.c1"]);
    }

    #[test]
    fn a_file_channel_adds_flumes_file_channel_counters() {
        let r = Registry::default();
        let file = r.channel("c1");
        file.meta.set_type("file");
        file.open.set(1);
        file.checkpoint_write_error.inc();
        r.channel("c2").meta.set_type("memory");
        let json: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        let c1 = &json["CHANNEL.c1"];
        assert_eq!(c1["Open"], "true");
        assert_eq!(c1["Closed"], "0");
        assert_eq!(c1["Unhealthy"], "0");
        assert_eq!(c1["CheckpointWriteErrorCount"], "1");
        assert_eq!(c1["EventPutErrorCount"], "0");
        assert_eq!(c1.as_object().map(|o| o.len()), Some(17));
        assert_eq!(json["CHANNEL.c2"].as_object().map(|o| o.len()), Some(10));
        file.open.set(0);
        let json: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        assert_eq!(json["CHANNEL.c1"]["Open"], "false");
        assert_eq!(json["CHANNEL.c1"]["Closed"], "1");
    }

    /// The names as KafkaSourceCounterMBean and KafkaChannelCounterMBean declare their getters
    /// (Flume 1.9 and 1.11 have the same), plus `Type`.
    #[test]
    fn kafka_source_and_channel_report_flumes_kafka_counter_mbeans() {
        let r = Registry::default();
        let s = r.source("r1");
        s.meta.set_type("kafka");
        s.event_received.add(5);
        s.event_read_fail.add(1);
        s.kafka_event_get_timer_ms.add(11);
        s.kafka_commit_timer_ms.add(12);
        s.kafka_empty.add(13);
        let c = r.channel("c1");
        c.meta.set_type("kafka");
        c.kafka_event_get_timer_ms.add(21);
        c.kafka_event_send_timer_ms.add(22);
        c.kafka_commit_timer_ms.add(23);
        c.rollback.add(24);
        r.source("r2").meta.set_type("exec");
        r.channel("c2").meta.set_type("memory");
        let json: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        let names = |key: &str| -> Vec<String> {
            let mut n: Vec<String> = json[key]
                .as_object()
                .expect("object")
                .keys()
                .cloned()
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names("SOURCE.r1"),
            [
                "AppendAcceptedCount",
                "AppendBatchAcceptedCount",
                "AppendBatchReceivedCount",
                "AppendReceivedCount",
                "EventAcceptedCount",
                "EventReceivedCount",
                "KafkaCommitTimer",
                "KafkaEmptyCount",
                "KafkaEventGetTimer",
                "OpenConnectionCount",
                "StartTime",
                "StopTime",
                "Type"
            ]
        );
        assert_eq!(
            names("CHANNEL.c1"),
            [
                "ChannelCapacity",
                "ChannelFillPercentage",
                "ChannelSize",
                "EventPutAttemptCount",
                "EventPutSuccessCount",
                "EventTakeAttemptCount",
                "EventTakeSuccessCount",
                "KafkaCommitTimer",
                "KafkaEventGetTimer",
                "KafkaEventSendTimer",
                "RollbackCount",
                "StartTime",
                "StopTime",
                "Type"
            ]
        );
        let r1 = &json["SOURCE.r1"];
        assert_eq!(r1["EventReceivedCount"], "5");
        assert_eq!(r1["KafkaEventGetTimer"], "11");
        assert_eq!(r1["KafkaCommitTimer"], "12");
        assert_eq!(r1["KafkaEmptyCount"], "13");
        let c1 = &json["CHANNEL.c1"];
        assert_eq!(c1["KafkaEventGetTimer"], "21");
        assert_eq!(c1["KafkaEventSendTimer"], "22");
        assert_eq!(c1["KafkaCommitTimer"], "23");
        assert_eq!(c1["RollbackCount"], "24");
        // Flume's Kafka channel never sets a capacity: 0, and Double.MAX_VALUE filled.
        assert_eq!(c1["ChannelFillPercentage"], "1.7976931348623157E308");
        // Other types keep their MBean's list.
        assert_eq!(json["SOURCE.r2"].as_object().map(|o| o.len()), Some(13));
        assert!(json["SOURCE.r2"].get("KafkaEmptyCount").is_none());
        assert!(json["SOURCE.r2"].get("EventReadFail").is_some());
        assert_eq!(json["CHANNEL.c2"].as_object().map(|o| o.len()), Some(10));
    }

    #[test]
    fn gson_escapes_html_characters() {
        let mut s = String::new();
        push_string(&mut s, "a<b>&'=\"\\\n");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\u0027\u003d\"\\\n""#);
    }
}
