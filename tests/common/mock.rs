//! A three-broker Kafka cluster inside the test process: librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`), whose brokers listen on 127.0.0.1 ports that the `rflume`
//! child process reaches like any Kafka cluster.
//!
//! What it gives that one tansu broker cannot: distinct broker ids with replica lists, partition
//! leaders that move (`NOT_LEADER_OR_FOLLOWER` to a client that still writes to the old one),
//! brokers taken down and up, errors injected into Produce responses, and a round-trip delay.
//! What it is not: a real broker. It keeps at most ~5 MiB per partition (older data silently
//! dropped), so tests keep volumes small; it has no CreateTopics API (topics are made through it).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;

/// Broker ids of [`ThreeBrokers`]: librdkafka numbers mock brokers from 1.
pub const BROKER_IDS: [i32; 3] = [1, 2, 3];

/// Three mock brokers, ids 1, 2 and 3; dropped (listeners closed) with the guard.
pub struct ThreeBrokers {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

/// What the cluster's metadata says about a topic, as any client sees it.
#[derive(Debug)]
pub struct TopicLayout {
    /// (broker id, `host:port`)
    pub brokers: Vec<(i32, String)>,
    /// (partition, leader, replicas)
    pub partitions: Vec<(i32, i32, Vec<i32>)>,
}

impl ThreeBrokers {
    pub fn start() -> ThreeBrokers {
        let cluster = MockCluster::new(BROKER_IDS.len() as i32)
            .unwrap_or_else(|e| panic!("cannot create librdkafka's mock cluster: {e}"));
        ThreeBrokers { cluster }
    }

    /// The three `host:port` listeners, comma-separated: the broker list to give the agent.
    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates `name` with `partitions` partitions replicated on all three brokers and makes
    /// broker `p % 3 + 1` the leader of partition `p`, so every broker leads one partition of a
    /// three-partition topic (the mock would otherwise pick leaders at random).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.cluster
            .create_topic(name, partitions, BROKER_IDS.len() as i32)
            .unwrap_or_else(|e| panic!("cannot create topic {name} on the mock cluster: {e}"));
        for p in 0..partitions {
            self.move_leader(name, p, BROKER_IDS[p as usize % BROKER_IDS.len()]);
        }
    }

    /// Makes `broker` the leader of `topic`/`partition` (a leader election, as after a broker
    /// failure or a preferred-replica election). Clients writing to the old leader get
    /// `NOT_LEADER_OR_FOLLOWER` and refresh their metadata.
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) {
        self.cluster
            .partition_leader(topic, partition, Some(broker))
            .unwrap_or_else(|e| panic!("cannot move {topic}/{partition} to broker {broker}: {e}"));
    }

    /// Closes `broker`'s connections and refuses new ones. Leadership does not move by itself.
    pub fn broker_down(&self, broker: i32) {
        self.cluster
            .broker_down(broker)
            .unwrap_or_else(|e| panic!("cannot take broker {broker} down: {e}"));
    }

    pub fn broker_up(&self, broker: i32) {
        self.cluster
            .broker_up(broker)
            .unwrap_or_else(|e| panic!("cannot bring broker {broker} up: {e}"));
    }

    /// Delays every response of `broker` (`None`: every broker) by `rtt`.
    pub fn round_trip_time(&self, broker: Option<i32>, rtt: Duration) {
        self.cluster
            .broker_round_trip_time(broker.unwrap_or(-1), rtt)
            .unwrap_or_else(|e| panic!("cannot set the round-trip time: {e}"));
    }

    /// The next `errors.len()` Produce requests (to any broker) fail with these errors, one each.
    pub fn fail_produce_requests(&self, errors: &[RDKafkaRespErr]) {
        self.cluster.request_errors(RDKafkaApiKey::Produce, errors);
    }

    /// The cluster's metadata for `topic`, read by a separate client.
    pub fn layout(&self, topic: &str) -> TopicLayout {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("allow.auto.create.topics", "false")
            .create()
            .expect("cannot create an rdkafka consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("no metadata for {topic} from the mock cluster: {e}"));
        let mut brokers: Vec<(i32, String)> = metadata
            .brokers()
            .iter()
            .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
            .collect();
        brokers.sort();
        let partitions = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
            .map(|p| (p.id(), p.leader(), p.replicas().to_vec()))
            .collect();
        TopicLayout {
            brokers,
            partitions,
        }
    }
}
