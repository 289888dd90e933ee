//! Kafka sink: Flume's `org.apache.flume.sink.kafka.KafkaSink` (no short alias in Flume), on
//! librdkafka instead of Java's `KafkaProducer`.
//!
//! **Delivery guarantee** (Flume's): at least once. A take transaction is committed only after
//! librdkafka acknowledged every record of it (per `acks`, Flume's default `1`); any failure —
//! a record that cannot be built or enqueued, a delivery error, `message.timeout.ms` passing while
//! brokers are down — rolls the batch back to the head of the channel and returns
//! `SinkError::Delivery`, so the runner backs off and retries. Records of a failed batch that were
//! acknowledged are sent again (duplicates, as in Flume); nothing is counted as sent before its
//! acknowledgement, and nothing is dropped. The exception is an event Kafka will never accept
//! (`errors.rs`): it is written to the dead-letter file (fsynced before the take commits) or,
//! with `rflume.onRejected = drop`, dropped and counted — in both cases logged — and the rest of
//! its batch commits, where Flume would retry the batch forever and wedge the channel.
//!
//! Where rflume differs from Flume, on purpose:
//! * **Pipelining** (`rflume.maxInFlightBatches`, by default enough batches for 10,000 events and
//!   at least 8): Flume sends one batch, flushes and waits; rflume keeps several take transactions
//!   in flight and commits them in order as their acknowledgements arrive. After a failure it
//!   takes nothing new, lets the others resolve, commits those fully acknowledged and rolls back
//!   the failed ones last-first, so the channel head keeps their original order.
//! * Producer defaults that keep Flume's observable behaviour on librdkafka: `acks = 1`,
//!   `partitioner = murmur2_random` (Java's key hashing, so keyed records land on the same
//!   partitions as with Flume), `message.timeout.ms = 120000` (Kafka's `delivery.timeout.ms`).
//! * Settings Flume accepts and then ignores or misapplies (`kafka.flumeBatchSize`, a Java class
//!   name librdkafka cannot load, a JKS trust store, a topic Kafka would refuse, `%Y` escapes in
//!   `kafka.topic`) are reported by `rflume check` — see `settings.rs` and
//!   `crate::kafka::producer_props`.
//! * A negative or unparsable `timestampHeader` value is logged and the record gets the send time
//!   (Java's `ProducerRecord` throws on a negative one, failing that batch on every retry).
//!
//! Layout, one question per file (this file: what the sink is, and how the registry builds it):
//! * `settings.rs`: what the sink's properties say — [`KafkaSettings`], read as Flume reads
//!   them, with Flume's property names and defaults, and its rows for `rflume check`;
//! * `topic.rs`: which topic an event goes to (`kafka.topic` templates) and which topic names
//!   Kafka accepts;
//! * `brokers.rs`: which brokers librdkafka is given (the broker list, Kafka's default port),
//!   and what is wrong with each of them at run time;
//! * `crate::kafka::producer_props` (shared with the Kafka source and channel): what librdkafka
//!   configuration the `kafka.producer.*` lines become —
//!   `mod.rs` (the configuration, each value with its origin, and `translate`, the entry point),
//!   `java_settings.rs` (the table of Java producer settings), `tls_stores.rs` (JKS, PKCS#12 and
//!   PEM stores), `jaas.rs` (`sasl.jaas.config`), `probe.rs` (what librdkafka itself says about
//!   a setting or the whole configuration);
//! * `record.rs`: which record an event becomes; `crate::kafka::avro`: the bytes of Flume's Avro
//!   event (`useFlumeEventFormat`);
//! * `sink.rs`: the sink at run time — [`KafkaSink`]: its rounds (`process`, `flush`, `stop`);
//! * `send.rs`: how a take's records reach librdkafka — a batch taken into a free slot, its
//!   records built and enqueued, a full queue waited out;
//! * `settle.rs`: when a batch ends — committed in take order once acknowledged, its refused
//!   records diverted first, and after a failure every batch settled and the failure reported;
//! * `delivery.rs`: which in-flight batch a delivery report belongs to, and what of it is still
//!   pending (the bookkeeping shared with librdkafka's callbacks);
//! * `health.rs`: whether delivery is stuck, why (a missing topic, no broker, no leader), and
//!   the line that says it flows again;
//! * `tls_probe.rs`: why a TLS handshake failed, when librdkafka only says "certificate verify
//!   failed";
//! * [`errors`]: whether a failed delivery can succeed on retry; [`dead_letter`]: where an event
//!   goes that can never succeed (`rflume.onRejected`); `ratelimit.rs`: how often a repeated log
//!   line is written;
//! * `settings_tests.rs`, `sink_tests.rs`: the tests of `settings.rs`, and of `sink.rs` against
//!   librdkafka's mock cluster.

mod brokers;
pub mod dead_letter;
mod delivery;
pub mod errors;
mod health;
mod ratelimit;
mod record;
mod send;
mod settings;
#[cfg(test)]
mod settings_tests;
mod settle;
mod sink;
#[cfg(test)]
mod sink_tests;
mod tls_probe;
mod topic;
mod wakeup;

use std::collections::BTreeMap;

pub use settings::KafkaSettings;
pub use sink::{KafkaSink, KafkaSinkError};

use crate::sink::{Sink, SinkCore, SinkError, SinkSpec};

impl SinkSpec for KafkaSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// `flumeBatchSize`, unless only the deprecated `batchSize` was written.
    fn batch_size_key(&self, lines: &BTreeMap<String, usize>) -> &'static str {
        if !lines.contains_key("flumeBatchSize") && lines.contains_key("batchSize") {
            "batchSize"
        } else {
            "flumeBatchSize"
        }
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        let name = core.name.clone();
        KafkaSink::new(core, self)
            .map(|k| Box::new(k) as Box<dyn Sink>)
            .map_err(|e| SinkError::Start {
                sink: name,
                message: e.to_string(),
            })
    }
}
