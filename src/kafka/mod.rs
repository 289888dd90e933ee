//! What the Kafka channel, the Kafka source and the Kafka sink share: how Flume's Kafka
//! properties become librdkafka's, and the bytes of Flume's Avro event.
//!
//! * [`brokers`]: the broker list (`kafka.bootstrap.servers`, Kafka's default port);
//! * [`producer_props`]: `kafka.producer.*` → librdkafka producer settings (the table of Java
//!   producer settings, TLS stores, JAAS lines), also the security settings every client shares;
//! * [`consumer_props`]: `kafka.consumer.*` → librdkafka consumer settings, the Java consumer's
//!   own names on top of the shared ones;
//! * [`avro`]: `AvroFlumeEvent` bytes (`useFlumeEventFormat`, `parseAsFlumeEvent`), both ways.
//! * [`zookeeper`]: the Kafka source's `zookeeperConnect` broker lookup (Flume 1.9/1.10).

pub mod avro;
pub mod brokers;
pub mod consumer_props;
pub mod producer_props;
pub mod zookeeper;
