//! Sources and the source side of a transaction: Flume's `SourceRunner` → `Source` →
//! `ChannelProcessor` (interceptors, then the channel selector) → channel put transactions.
//!
//! Each source runs on its own OS thread (see `agent.rs`) and hands batches to its
//! [`ChannelProcessor`]. [`ChannelProcessor::put_blocking`] is the backpressure point: when a
//! required channel is full it keeps the batch and retries until the put commits or the agent
//! stops, so a source never drops what it read.
//!
//! This file is also the source registry: [`TYPES`] maps Flume's type names to a parser, and
//! [`SourceSettings`] holds one variant per source type. Adding a source = its file, a `pub mod`
//! line, one row in [`TYPES`] and one variant; the compiler points at the rest.

pub mod avro;
pub mod exec;
pub mod exec_guard;
pub mod framer;
pub mod netcat;
pub mod processor;
pub mod selector;
pub mod seq;
pub mod taildir;

pub use processor::{ChannelProcessor, PutOutcome};

use thiserror::Error;

use crate::config::registry::{Describe, TypeEntry, NOT_PLANNED, PLANNED};
use crate::shutdown::Shutdown;
use avro::AvroSourceSettings;
use exec::ExecSettings;
use netcat::NetcatSettings;
use seq::SeqSettings;
use taildir::TaildirSettings;

/// Every source type Flume knows, by alias and class name.
pub const TYPES: &[TypeEntry<SourceSettings>] = &[
    TypeEntry::yes("exec", "org.apache.flume.source.ExecSource", |r| {
        ExecSettings::parse(r).map(SourceSettings::Exec)
    }),
    TypeEntry::yes(
        "seq",
        "org.apache.flume.source.SequenceGeneratorSource",
        |r| SeqSettings::parse(r).map(SourceSettings::Seq),
    ),
    TypeEntry::yes(
        "taildir",
        "org.apache.flume.source.taildir.TaildirSource",
        |r| TaildirSettings::parse(r).map(SourceSettings::Taildir),
    ),
    TypeEntry::yes("netcat", "org.apache.flume.source.NetcatSource", |r| {
        NetcatSettings::parse(r).map(SourceSettings::Netcat)
    }),
    TypeEntry::no(
        "netcatudp",
        "org.apache.flume.source.NetcatUdpSource",
        PLANNED,
    ),
    TypeEntry::no(
        "spooldir",
        "org.apache.flume.source.SpoolDirectorySource",
        PLANNED,
    ),
    TypeEntry::no(
        "syslogtcp",
        "org.apache.flume.source.SyslogTcpSource",
        PLANNED,
    ),
    TypeEntry::no(
        "multiport_syslogtcp",
        "org.apache.flume.source.MultiportSyslogTCPSource",
        PLANNED,
    ),
    TypeEntry::no(
        "syslogudp",
        "org.apache.flume.source.SyslogUDPSource",
        PLANNED,
    ),
    TypeEntry::no("http", "org.apache.flume.source.http.HTTPSource", PLANNED),
    TypeEntry::yes("avro", "org.apache.flume.source.AvroSource", |r| {
        AvroSourceSettings::parse(r).map(SourceSettings::Avro)
    }),
    TypeEntry::no(
        "thrift",
        "org.apache.flume.source.ThriftSource",
        NOT_PLANNED,
    ),
    TypeEntry::no("jms", "org.apache.flume.source.jms.JMSSource", NOT_PLANNED),
    TypeEntry::no(
        "kafka",
        "org.apache.flume.source.kafka.KafkaSource",
        NOT_PLANNED,
    )
    .class_only(),
];

/// A configured source's settings, one variant per supported type.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSettings {
    Avro(AvroSourceSettings),
    Exec(ExecSettings),
    Netcat(NetcatSettings),
    Seq(SeqSettings),
    Taildir(TaildirSettings),
}

impl SourceSettings {
    pub fn spec(&self) -> &dyn SourceSpec {
        match self {
            SourceSettings::Avro(s) => s,
            SourceSettings::Exec(s) => s,
            SourceSettings::Netcat(s) => s,
            SourceSettings::Seq(s) => s,
            SourceSettings::Taildir(s) => s,
        }
    }
}

/// What every source type's settings provide to the agent graph and the agent.
pub trait SourceSpec: Describe {
    /// Flume's `BatchSizeSupported`: the most events the source puts in one transaction, checked
    /// against the channels' `transactionCapacity` (Flume 1.9+ drops the source otherwise).
    fn batch_size(&self) -> usize;
    fn build(&self, name: &str) -> Box<dyn Source>;
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("source {source_name}: {message}")]
    Failed {
        source_name: String,
        message: String,
    },
}

/// A source: runs until `shutdown` fires, then flushes what it already read into the channel
/// (bounded by the shutdown deadline) and returns.
pub trait Source: Send {
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError>;
}
