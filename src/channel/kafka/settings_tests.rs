//! The Kafka channel's settings, read as Flume's `KafkaChannel.configure` reads them.

use super::KafkaChannelSettings;

use crate::config::reader::parse_for_test;

fn parse(pairs: &[(&str, &str)]) -> (Option<KafkaChannelSettings>, Vec<String>) {
    let (s, d) = parse_for_test(
        pairs,
        Some("the Kafka channel"),
        KafkaChannelSettings::parse,
    );
    (s, d.lines())
}

#[test]
fn flume_defaults() {
    let (s, diags) = parse(&[("kafka.bootstrap.servers", "b1,b2:9093")]);
    let s = s.expect("parses");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(s.bootstrap_servers, ["b1:9092", "b2:9093"]);
    assert_eq!(s.topic, "flume-channel");
    assert_eq!(s.group_id, "flume");
    assert!(s.parse_as_flume_event);
    assert_eq!(s.poll_timeout_ms, 500);
    assert_eq!((s.static_partition, s.partition_header), (None, None));
    assert_eq!(s.producer.get("acks"), Some("all"));
    assert_eq!(s.producer.get("linger.ms"), Some("0"));
    assert_eq!(s.consumer.get("auto.offset.reset"), Some("earliest"));
    assert_eq!(s.consumer.get("enable.auto.commit"), Some("false"));
    assert_eq!(s.consumer.get("group.id"), Some("flume"));
}

#[test]
fn deprecated_names_are_used_when_the_new_ones_are_absent() {
    let (s, diags) = parse(&[
        ("brokerList", "old:9092"),
        ("topic", "t-old"),
        ("groupId", "g-old"),
        ("readSmallestOffset", "false"),
    ]);
    let s = s.expect("parses");
    assert_eq!(s.bootstrap_servers, ["old:9092"]);
    assert_eq!((s.topic.as_str(), s.group_id.as_str()), ("t-old", "g-old"));
    assert_eq!(s.consumer.get("auto.offset.reset"), Some("latest"));
    for old in ["brokerList", "topic", "groupId", "readSmallestOffset"] {
        assert!(
            diags
                .iter()
                .any(|d| d.contains(&format!("{old} is deprecated"))),
            "{old}: {diags:?}"
        );
    }
    // The new names win.
    let (s, _) = parse(&[
        ("kafka.bootstrap.servers", "new"),
        ("brokerList", "old"),
        ("kafka.topic", "t"),
        ("topic", "t-old"),
        ("kafka.consumer.auto.offset.reset", "latest"),
        ("readSmallestOffset", "true"),
    ]);
    let s = s.expect("parses");
    assert_eq!(s.bootstrap_servers, ["new:9092"]);
    assert_eq!(s.topic, "t");
    assert_eq!(s.consumer.get("auto.offset.reset"), Some("latest"));
}

#[test]
fn producer_and_consumer_settings_pass_through() {
    let (s, diags) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.producer.acks", "1"),
        ("kafka.producer.compression.type", "lz4"),
        ("kafka.consumer.fetch.max.wait.ms", "10"),
        ("kafka.consumer.group.id", "g"),
    ]);
    let s = s.expect("parses");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(s.producer.get("acks"), Some("1"));
    assert_eq!(s.producer.get("compression.type"), Some("lz4"));
    assert_eq!(s.consumer.get("fetch.wait.max.ms"), Some("10"));
    assert_eq!(s.group_id, "g");
    assert_eq!(s.consumer.get("group.id"), Some("g"));
}

#[test]
fn problems_are_named() {
    let (s, diags) = parse(&[("kafka.topic", "t")]);
    assert!(s.is_none());
    assert!(
        diags
            .iter()
            .any(|d| d.contains("Bootstrap Servers must be specified")),
        "{diags:?}"
    );
    let (s, diags) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("defaultPartitionId", "x"),
    ]);
    assert!(s.is_none(), "{diags:?}");
    let (s, diags) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("defaultPartitionId", "-1"),
    ]);
    assert!(s.is_none(), "{diags:?}");
    let (s, diags) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.pollTimeout", "soon"),
    ]);
    assert!(s.is_none(), "{diags:?}");
}

#[test]
fn lenient_where_flume_is_and_says_so() {
    let (s, diags) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("parseAsFlumeEvent", "false"),
        ("pollTimeout", "100"),
        ("kafka.pollTimeout", "-5"),
        ("zookeeperConnect", "zk:2181"),
        ("defaultPartitionId", "2"),
        ("partitionIdHeader", "p"),
    ]);
    let s = s.expect("parses");
    assert!(!s.parse_as_flume_event);
    assert_eq!(s.poll_timeout_ms, 0);
    assert_eq!(s.static_partition, Some(2));
    assert_eq!(s.partition_header.as_deref(), Some("p"));
    for needle in [
        "every header except `key`",
        "Flume reads kafka.pollTimeout",
        "negative poll timeout",
        "not applicable",
    ] {
        assert!(
            diags.iter().any(|d| d.contains(needle)),
            "{needle}: {diags:?}"
        );
    }
}
