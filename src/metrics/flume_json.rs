//! Flume's `GET /metrics` JSON, byte for byte (`HTTPMetricsServer` + `JMXPollUtil`).
//!
//! Flume polls every `org.apache.flume.*` MBean and writes, with Gson,
//! `{"SOURCE.r1":{"AppendAcceptedCount":"0",…},"CHANNEL.c1":{…},"SINK.k1":{…}}`: one object per
//! component keyed `TYPE.name`, every attribute of the component's MBean interface
//! (`SourceCounterMBean`, `ChannelCounterMBean`, `SinkCounterMBean`, `KafkaSinkCounterMBean`),
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
const WITHOUT_FLUME_COUNTERS: &[&str] = &["netcat", "logger", "null"];

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
    vec![
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
        ("ChannelWriteFail", c.channel_write_fail.get().to_string()),
        ("EventAcceptedCount", c.event_accepted.get().to_string()),
        ("EventReadFail", c.event_read_fail.get().to_string()),
        ("EventReceivedCount", c.event_received.get().to_string()),
        (
            "GenericProcessingFail",
            c.generic_processing_fail.get().to_string(),
        ),
        ("OpenConnectionCount", c.open_connections.get().to_string()),
        ("StartTime", c.lifecycle.start_ms().to_string()),
        ("StopTime", c.lifecycle.stop_ms().to_string()),
    ]
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

    #[test]
    fn gson_escapes_html_characters() {
        let mut s = String::new();
        push_string(&mut s, "a<b>&'=\"\\\n");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\u0027\u003d\"\\\n""#);
    }
}
