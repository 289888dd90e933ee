//! `kafka.consumer.*` → librdkafka: Flume passes these to Java's `KafkaConsumer` (Kafka source,
//! Kafka channel); rflume's consumer is librdkafka.
//!
//! The Java consumer's own names are answered by the table below; every other name (the
//! connection, TLS, SASL and JAAS settings every Kafka client shares, and librdkafka-only tuning)
//! goes through the producer's table in [`super::producer_props`], so that a
//! `security.protocol`, a JKS store or a `sasl.jaas.config` line means the same for the source
//! and the channel as for the sink. Then each value is checked by librdkafka itself.
//!
//! Settings rflume always sets, as Flume does: `enable.auto.commit = false` (offsets are committed
//! only after the channel committed the batch) and the group id.

use std::collections::BTreeMap;

use super::producer_props::java_settings::translate_one;
use super::producer_props::{check_each, translate_each, ProducerProps, UserSetting};
use crate::config::reader::PropReader;

/// The Flume property prefix of consumer settings.
pub(crate) const CONSUMER_PREFIX: &str = "kafka.consumer.";
/// The consumer group's Flume key (the Kafka source and channel show it in their own rows).
pub(crate) const GROUP_ID: &str = "kafka.consumer.group.id";

/// What rflume does with a Java consumer setting.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// librdkafka has the same name with the same meaning and units.
    Same,
    /// librdkafka calls it something else; same units.
    Rename(&'static str),
    /// Harmless Java-only setting; the text says why it has no effect.
    NoEffect(&'static str),
    /// Flume's Java consumer runs with it and rflume cannot: the agent refuses to start unless
    /// the operator opts in. Text = why and what to do instead.
    Unsupported(&'static str),
    /// Needs a look at the value; handled in code.
    Special,
}

/// Kafka consumer settings (kafka-clients 2.0–2.7, as in Flume 1.9–1.11) that are not shared
/// with the producer, and how rflume maps each one.
const JAVA_CONSUMER_SETTINGS: &[(&str, Rule)] = &[
    ("allow.auto.create.topics", Rule::Same),
    ("check.crcs", Rule::Same),
    ("client.rack", Rule::Same),
    ("fetch.max.bytes", Rule::Same),
    ("fetch.min.bytes", Rule::Same),
    ("group.instance.id", Rule::Same),
    ("heartbeat.interval.ms", Rule::Same),
    ("isolation.level", Rule::Same),
    ("max.partition.fetch.bytes", Rule::Same),
    ("max.poll.interval.ms", Rule::Same),
    ("session.timeout.ms", Rule::Same),
    ("fetch.max.wait.ms", Rule::Rename("fetch.wait.max.ms")),
    ("max.poll.records", Rule::NoEffect(
        "rflume reads records one by one from librdkafka's prefetch queue; batchSize bounds a batch")),
    ("auto.commit.interval.ms", Rule::NoEffect(
        "offsets are committed after each batch the channel committed, never automatically (as in Flume)")),
    ("default.api.timeout.ms", Rule::NoEffect(
        "librdkafka has no such timeout; each call has its own")),
    ("exclude.internal.topics", Rule::NoEffect(
        "librdkafka never matches internal topics with a pattern subscription")),
    ("interceptor.classes", Rule::Unsupported(
        "rflume cannot run Java consumer interceptors; use a Flume interceptor on the source \
         instead, or remove the line")),
    ("auto.offset.reset", Rule::Special),
    ("enable.auto.commit", Rule::Special),
    ("group.id", Rule::Special),
    ("key.deserializer", Rule::Special),
    ("value.deserializer", Rule::Special),
    ("partition.assignment.strategy", Rule::Special),
];

/// Flume's consumer deserializers (`KafkaSourceConstants.DEFAULT_KEY_DESERIALIZER`, …).
const STRING_DESERIALIZER: &str = "org.apache.kafka.common.serialization.StringDeserializer";
const BYTE_ARRAY_DESERIALIZER: &str = "org.apache.kafka.common.serialization.ByteArrayDeserializer";

/// Java's assignors and librdkafka's names for them.
const ASSIGNORS: &[(&str, &str)] = &[
    ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
    (
        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
        "roundrobin",
    ),
    (
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
        "cooperative-sticky",
    ),
];

/// Java's producer default, set for the consumer as well (librdkafka's is 10 s): a broker that
/// comes back is used again within a second, as with Flume.
const DEFAULT_RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// Translates the user's consumer settings and adds what rflume always sets. `bootstrap_servers`
/// is the normalised broker list, `group_id` the group the component reads in. Problems are
/// recorded on `r`.
pub(crate) fn translate(
    r: &mut PropReader,
    settings: &[UserSetting],
    bootstrap_servers: &str,
    group_id: &str,
) -> ProducerProps {
    let by_key: BTreeMap<&str, &UserSetting> =
        settings.iter().map(|s| (s.key.as_str(), s)).collect();
    let mut out = ProducerProps::default();
    translate_each(r, settings, &mut out, |r, s, out| {
        let rule = JAVA_CONSUMER_SETTINGS
            .iter()
            .find(|(k, _)| *k == s.key)
            .map(|(_, rule)| *rule);
        let from = Some(s.flume_key.clone());
        match rule {
            Some(Rule::Same) => out.push(&s.key, &s.value, from, None),
            Some(Rule::Rename(to)) => out.push(to, &s.value, from, None),
            Some(Rule::NoEffect(why)) => r.warn(
                &s.flume_key,
                Some(s.line),
                format!("{} has no effect in rflume because {why}", s.key),
                Some("you may delete the line".to_string()),
            ),
            Some(Rule::Unsupported(why)) => r.unsupported(
                &s.flume_key,
                Some(s.line),
                format!(
                    "{} cannot be honoured by rflume's librdkafka consumer",
                    s.key
                ),
                Some(why.to_string()),
            ),
            Some(Rule::Special) => special(r, s, out),
            // Shared client settings (TLS, SASL, connections) and librdkafka's own names.
            None => translate_one(r, s, &by_key, out),
        }
    });
    // A rejected value is already an error on `r`: the component is not built.
    check_each(r, settings, &mut out, CONSUMER_PREFIX, "Kafka consumer");
    out.push(
        "enable.auto.commit",
        "false",
        None,
        Some("always, as in Flume: offsets are committed after the channel committed".into()),
    );
    if !out.contains("reconnect.backoff.max.ms") {
        out.push(
            "reconnect.backoff.max.ms",
            DEFAULT_RECONNECT_BACKOFF_MAX_MS,
            None,
            Some("Java's client default (librdkafka's is 10000)".into()),
        );
    }
    out.push(
        "group.id",
        group_id,
        Some(format!("{CONSUMER_PREFIX}group.id")),
        None,
    );
    out.push(
        "bootstrap.servers",
        bootstrap_servers,
        Some("kafka.bootstrap.servers".into()),
        None,
    );
    out
}

fn special(r: &mut PropReader, s: &UserSetting, out: &mut ProducerProps) {
    let from = Some(s.flume_key.clone());
    let v = s.value.as_str();
    match s.key.as_str() {
        // Read by the component itself (it is also Flume's own property).
        "group.id" => {}
        "enable.auto.commit" => {
            if !v.eq_ignore_ascii_case("false") {
                r.warn(
                    &s.flume_key,
                    Some(s.line),
                    format!(
                        "enable.auto.commit = {v} is overridden: Flume always sets it to false \
                         and commits offsets after the channel committed the batch (so does \
                         rflume)"
                    ),
                    Some("delete the line".to_string()),
                );
            }
        }
        "auto.offset.reset" => match v {
            "earliest" | "latest" => out.push("auto.offset.reset", v, from, None),
            "none" => out.push(
                "auto.offset.reset",
                "error",
                from,
                Some("Java's none is librdkafka's error".into()),
            ),
            _ => r.error(
                &s.flume_key,
                Some(s.line),
                format!(
                    "Invalid value {v} for configuration auto.offset.reset: String must be one \
                     of: latest, earliest, none (Java's consumer refuses it, so Flume would not \
                     start this component either)"
                ),
                None,
            ),
        },
        "key.deserializer" | "value.deserializer" => {
            let expected = if s.key == "key.deserializer" {
                STRING_DESERIALIZER
            } else {
                BYTE_ARRAY_DESERIALIZER
            };
            if v != expected {
                r.warn(
                    &s.flume_key,
                    Some(s.line),
                    format!(
                        "ignored: rflume reads the record {} as {} ({expected})",
                        if s.key == "key.deserializer" {
                            "key"
                        } else {
                            "value"
                        },
                        if s.key == "key.deserializer" {
                            "UTF-8 text"
                        } else {
                            "bytes"
                        }
                    ),
                    Some("delete the line".to_string()),
                );
            }
        }
        "partition.assignment.strategy" => {
            let mut names = Vec::new();
            for class in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                match ASSIGNORS.iter().find(|(java, _)| *java == class) {
                    Some((_, name)) => names.push(*name),
                    None => r.unsupported(
                        &s.flume_key,
                        Some(s.line),
                        format!("rflume's librdkafka consumer cannot load the assignor {class}"),
                        Some(
                            "use org.apache.kafka.clients.consumer.RangeAssignor, \
                             RoundRobinAssignor or CooperativeStickyAssignor"
                                .to_string(),
                        ),
                    ),
                }
            }
            if !names.is_empty() {
                out.push(
                    "partition.assignment.strategy",
                    names.join(","),
                    from,
                    Some("Java assignor classes as librdkafka names".into()),
                );
            }
        }
        _ => out.push(&s.key, v, from, None),
    }
}

// Here rather than in `producer_props`, so that module never imports this one (one-way imports:
// consumer settings are built on the producer's table, not the other way round).
impl ProducerProps {
    /// The rows of consumer settings (`kafka.consumer.*`), without the group id, which the
    /// Kafka source and channel show in their own rows.
    pub(crate) fn describe_consumer(&self) -> Vec<(String, String)> {
        let mut rows = self.describe_as(CONSUMER_PREFIX);
        rows.retain(|(k, _)| k != GROUP_ID);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reader::ComponentProps;
    use crate::config::Diagnostics;
    use std::path::Path;
    use std::sync::Arc;

    fn run(lines: &[(&str, &str)]) -> (ProducerProps, Vec<String>) {
        let c = ComponentProps::sink_for_test(lines);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        let user: Vec<UserSetting> = r
            .with_prefix(CONSUMER_PREFIX)
            .into_iter()
            .map(|(k, v, line)| UserSetting::under(CONSUMER_PREFIX, k, v, line))
            .collect();
        let out = translate(&mut r, &user, "127.0.0.1:9092", "flume");
        (out, d.items.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn java_names_become_librdkafka_names() {
        let (out, diags) = run(&[
            ("kafka.consumer.fetch.max.wait.ms", "10"),
            ("kafka.consumer.auto.offset.reset", "earliest"),
            (
                "kafka.consumer.partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            ),
            ("kafka.consumer.security.protocol", "PLAINTEXT"),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(out.get("fetch.wait.max.ms"), Some("10"));
        assert_eq!(out.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(out.get("partition.assignment.strategy"), Some("roundrobin"));
        assert_eq!(out.get("security.protocol"), Some("PLAINTEXT"));
        assert_eq!(out.get("enable.auto.commit"), Some("false"));
        assert_eq!(out.get("group.id"), Some("flume"));
    }

    #[test]
    fn auto_commit_is_always_off_and_says_so() {
        let (out, diags) = run(&[("kafka.consumer.enable.auto.commit", "true")]);
        assert_eq!(out.get("enable.auto.commit"), Some("false"));
        assert!(
            diags.iter().any(|d| d.contains("always sets it to false")),
            "{diags:?}"
        );
    }

    #[test]
    fn unknown_names_are_warned_and_dropped_bad_values_are_errors() {
        let (out, diags) = run(&[
            ("kafka.consumer.no.such.thing", "1"),
            ("kafka.consumer.auto.offset.reset", "smallest-ish"),
        ]);
        assert!(out.get("no.such.thing").is_none());
        assert!(
            diags
                .iter()
                .any(|d| d.contains("neither a Kafka consumer setting")),
            "{diags:?}"
        );
        assert!(
            diags.iter().any(|d| d.contains("auto.offset.reset")),
            "{diags:?}"
        );
    }
}
