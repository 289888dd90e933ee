//! Sinks and the runner that drives them: Flume's `SinkRunner` → `SinkProcessor` → `Sink`.
//!
//! Each sink runner is one OS thread (see `agent/mod.rs` and [`runner`]). It calls
//! [`SinkProcessor::process`] in a loop; a sink's `process` takes a batch from its channel in a
//! [`TakeTransaction`], hands it to the downstream and commits only after the downstream
//! acknowledged every event — or rolls back, returning the events to the head of the channel.
//! `Status::Backoff` means "nothing to do"; an error means "delivery failed, events rolled back":
//! the runner waits (growing up to Flume's 5 s) and tries again, so a broker outage turns into a
//! full channel and source backpressure, never into loss.
//!
//! This file is also the sink registry: [`TYPES`] maps Flume's type names to a parser, and
//! [`SinkSettings`] holds one variant per sink type. Adding a sink = its file, a `pub mod` line,
//! one row in [`TYPES`] and one variant; the compiler points at the rest.

pub mod avro;
pub mod file_roll;
pub mod group;
pub mod hdfs;
pub mod kafka;
pub mod logger;
pub mod null;
mod rpc_sink;
pub mod runner;
pub mod thrift;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::channel::{Channel, TakeTransaction};
use crate::config::registry::{Describe, TypeEntry, NOT_PLANNED};
use crate::metrics::SinkCounter;
use avro::AvroSinkSettings;
use file_roll::FileRollSettings;
use hdfs::HdfsSettings;
use kafka::KafkaSettings;
use logger::LoggerSettings;
use null::NullSettings;
use thrift::ThriftSinkSettings;

pub use runner::{DefaultSinkProcessor, SinkProcessor};

/// Every sink type Flume knows, by alias and class name.
pub const TYPES: &[TypeEntry<SinkSettings>] = &[
    TypeEntry::yes("kafka", "org.apache.flume.sink.kafka.KafkaSink", |r| {
        KafkaSettings::parse(r).map(|s| SinkSettings::Kafka(Box::new(s)))
    })
    .class_only(),
    TypeEntry::yes("logger", "org.apache.flume.sink.LoggerSink", |r| {
        LoggerSettings::parse(r).map(SinkSettings::Logger)
    }),
    TypeEntry::yes("null", "org.apache.flume.sink.NullSink", |r| {
        NullSettings::parse(r).map(SinkSettings::Null)
    }),
    TypeEntry::yes("file_roll", "org.apache.flume.sink.RollingFileSink", |r| {
        FileRollSettings::parse(r).map(SinkSettings::FileRoll)
    }),
    TypeEntry::yes("hdfs", "org.apache.flume.sink.hdfs.HDFSEventSink", |r| {
        HdfsSettings::parse(r).map(|s| SinkSettings::Hdfs(Box::new(s)))
    }),
    TypeEntry::yes("avro", "org.apache.flume.sink.AvroSink", |r| {
        AvroSinkSettings::parse(r).map(SinkSettings::Avro)
    }),
    TypeEntry::yes("thrift", "org.apache.flume.sink.ThriftSink", |r| {
        ThriftSinkSettings::parse(r).map(SinkSettings::Thrift)
    }),
    TypeEntry::no("irc", "org.apache.flume.sink.irc.IRCSink", NOT_PLANNED),
    TypeEntry::no(
        "elasticsearch",
        "org.apache.flume.sink.elasticsearch.ElasticSearchSink",
        NOT_PLANNED,
    ),
    TypeEntry::no(
        "hbase",
        "org.apache.flume.sink.hbase.HBaseSink",
        NOT_PLANNED,
    ),
    TypeEntry::no(
        "hbase2",
        "org.apache.flume.sink.hbase2.HBase2Sink",
        NOT_PLANNED,
    ),
    TypeEntry::no(
        "asynchbase",
        "org.apache.flume.sink.hbase.AsyncHBaseSink",
        NOT_PLANNED,
    ),
    TypeEntry::no(
        "morphline_solr",
        "org.apache.flume.sink.solr.morphline.MorphlineSolrSink",
        NOT_PLANNED,
    ),
    TypeEntry::no("hive", "org.apache.flume.sink.hive.HiveSink", NOT_PLANNED),
    TypeEntry::no("http", "org.apache.flume.sink.http.HttpSink", NOT_PLANNED),
    TypeEntry::no(
        "spark",
        "org.apache.spark.streaming.flume.sink.SparkSink",
        SPARK_SINK,
    )
    .class_only(),
];

/// Spark's pull-based sink (spark-streaming-flume-sink): read from Spark's
/// external/flume-sink. Small on the wire (SparkFlumeProtocol over Avro IPC: `getEventBatch(n)`
/// returns a batch and a sequence number, `ack`/`nack` of that number), but a sink that is a
/// server: each batch is a channel transaction held open across RPC calls until Spark acks it
/// (commit), nacks it or lets `timeout` pass (rollback), several at once (`threads`). rflume's
/// sinks take, send and commit in one loop; the push route already works.
const SPARK_SINK: &str = "not implemented: Spark's SparkSink is a server that Spark Streaming's FlumeUtils.createPollingStream polls over Spark's own Avro RPC protocol (SparkFlumeProtocol: getEventBatch, then ack or nack, each batch a channel transaction held open until Spark answers); keep this sink on a Flume agent with Spark's spark-streaming-flume-sink jar, or let Spark receive pushed events instead: type = avro with the hostname and port of FlumeUtils.createStream's receiver (tested against Spark 2.4), or through Kafka";

/// A configured sink's settings, one variant per supported type.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkSettings {
    Avro(AvroSinkSettings),
    FileRoll(FileRollSettings),
    Hdfs(Box<HdfsSettings>),
    Kafka(Box<KafkaSettings>),
    Logger(LoggerSettings),
    Null(NullSettings),
    Thrift(ThriftSinkSettings),
}

impl SinkSettings {
    pub fn spec(&self) -> &dyn SinkSpec {
        match self {
            SinkSettings::Avro(s) => s,
            SinkSettings::FileRoll(s) => s,
            SinkSettings::Hdfs(s) => &**s,
            SinkSettings::Kafka(s) => &**s,
            SinkSettings::Logger(s) => s,
            SinkSettings::Null(s) => s,
            SinkSettings::Thrift(s) => s,
        }
    }
}

/// What every sink type's settings provide to the agent graph and the agent.
pub trait SinkSpec: Describe {
    /// Events the sink takes in one transaction, checked against its channel's
    /// `transactionCapacity` (Flume 1.9+ drops the sink otherwise).
    fn batch_size(&self) -> usize;
    /// The key that set [`SinkSpec::batch_size`], for the message when it is too large; `lines`
    /// holds the keys the file wrote for this sink.
    fn batch_size_key(&self, _lines: &BTreeMap<String, usize>) -> &'static str {
        "batchSize"
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError>;
}

/// How long a sink waits on an empty channel before returning `Backoff`. A put wakes it at once
/// and so does its stop (the agent registers `Channel::wake_takers` with the sink's shutdown),
/// so this only bounds how often an idle sink wakes (Flume's SinkRunner backs off 1–5 s) and
/// how stale the runner's heartbeat gets.
pub const EMPTY_CHANNEL_WAIT: Duration = Duration::from_millis(1000);

/// Result of one `process` round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Work was done; call again at once.
    Ready,
    /// Nothing to do right now.
    Backoff,
}

/// What kind of delivery failure a sink met: an outage passes, a rejection does not, and the
/// runner and the metrics tell them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// May succeed when retried: the downstream is unreachable, slow, moving leaders, short of
    /// replicas, or the attempt timed out.
    Retriable,
    /// The downstream refused the events and will refuse them again (e.g. Kafka's
    /// `MessageSizeTooLarge`); `code` is the downstream's name for the error.
    Rejected { code: String },
}

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("sink {sink}: failed to start: {message}")]
    Start { sink: String, message: String },
    /// The batch was rolled back and will be delivered again.
    #[error("sink {sink}: Failed to publish events: {message}")]
    Delivery {
        sink: String,
        failure: Failure,
        message: String,
    },
}

/// What every sink has: its name, the channel it takes from and its counters (Flume's
/// `AbstractSink` + `SinkCounter`), with the take that keeps Flume's batch counters the same for
/// every sink.
pub struct SinkCore {
    pub name: String,
    pub channel: Arc<dyn Channel>,
    pub counter: Arc<SinkCounter>,
}

impl SinkCore {
    pub fn new(name: &str, channel: Arc<dyn Channel>, counter: Arc<SinkCounter>) -> Self {
        SinkCore {
            name: name.to_string(),
            channel,
            counter,
        }
    }

    /// Takes up to `batch_size` events, waiting up to `wait` for the first; `None` when the
    /// channel had nothing. Counts `EventDrainAttemptCount` and `BatchCompleteCount` /
    /// `BatchUnderflowCount` as Flume's sinks do.
    pub fn take(&self, batch_size: usize, wait: Duration) -> Option<TakeTransaction> {
        let txn = TakeTransaction::begin(&self.channel, batch_size, wait);
        if txn.is_empty() {
            return None;
        }
        self.counter.event_drain_attempt.add(txn.len() as u64);
        if txn.len() >= batch_size {
            self.counter.batch_complete.inc();
        } else {
            self.counter.batch_underflow.inc();
        }
        Some(txn)
    }

    /// A round that found the channel empty: counts `BatchEmptyCount`.
    pub fn empty(&self) -> Result<Status, SinkError> {
        self.counter.batch_empty.inc();
        Ok(Status::Backoff)
    }

    /// Commits a take the downstream acknowledged: counts `EventDrainSuccessCount`.
    pub fn delivered(&self, txn: TakeTransaction) {
        let n = txn.len() as u64;
        txn.commit();
        self.counter.event_drain_success.add(n);
    }

    /// Ends a take sent as one call to a next hop that answers for the whole batch (the avro
    /// and thrift sinks): committed when it answered OK; otherwise rolled back (the batch is
    /// sent again), counted as a write failure and reported as a retriable delivery error.
    pub fn settle_call(
        &self,
        txn: TakeTransaction,
        answer: Result<(), String>,
    ) -> Result<Status, SinkError> {
        match answer {
            Ok(()) => {
                self.delivered(txn);
                Ok(Status::Ready)
            }
            Err(message) => {
                txn.rollback();
                self.counter.event_write_fail.inc();
                Err(SinkError::Delivery {
                    sink: self.name.clone(),
                    failure: Failure::Retriable,
                    message,
                })
            }
        }
    }
}

/// A sink bound to its channel. Lifecycle counters are kept by the processor, so a sink only
/// writes what differs: its `process` and, when it has any, its start-up and drain.
pub trait Sink: Send {
    fn core(&self) -> &SinkCore;
    fn name(&self) -> &str {
        &self.core().name
    }
    fn start(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// One round: take a batch, deliver it, commit after acknowledgement or roll back.
    fn process(&mut self) -> Result<Status, SinkError>;
    /// Whether taken events still wait for an acknowledgement (pipelined sinks).
    fn has_in_flight(&self) -> bool {
        false
    }
    /// Settles what is in flight without taking new events: commits what was acknowledged, and
    /// once a failed batch and everything else in flight resolved, rolls the failed ones back and
    /// returns the error. Never blocks for long. Sink groups call it on the sinks that are not
    /// the active one (see `group`).
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Whether the sink logs, itself, that delivery works again after a failure (with more
    /// than the runner knows: what was wrong, how long events waited); the runner then does
    /// not add its own "delivery recovered" line.
    fn reports_recovery(&self) -> bool {
        false
    }
    /// Stops the sink: waits for outstanding acknowledgements until `deadline`, committing what
    /// was acknowledged and rolling back the rest.
    fn stop(&mut self, _deadline: Instant) {}
}
