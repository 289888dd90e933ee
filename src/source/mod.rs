//! Sources and the source side of a transaction: Flume's `SourceRunner` → `Source` →
//! `ChannelProcessor` (interceptors, then the channel selector) → channel put transactions.
//!
//! Each source runs on its own OS thread (see `agent/mod.rs`) and hands batches to its
//! [`ChannelProcessor`]. [`ChannelProcessor::put_blocking`] is the backpressure point: when a
//! required channel is full it keeps the batch and retries until the put commits or the agent
//! stops, so a source never drops what it read.
//!
//! This file is also the source registry: [`TYPES`] maps Flume's type names to a parser, and
//! [`SourceSettings`] holds one variant per source type. Adding a source = its file, a `pub mod`
//! line, one row in [`TYPES`] and one variant; the compiler points at the rest.

pub mod avro;
pub mod exec;
pub mod framer;
pub mod http;
pub mod kafka;
pub mod listener;
pub mod net;
pub mod netcat;
pub mod netcat_udp;
pub mod processor;
pub mod rpc_put;
pub mod runtime;
pub mod selector;
pub mod seq;
pub mod spooldir;
pub mod supervisor;
pub mod syslog;
pub mod taildir;
pub mod thrift;
pub mod tls;

pub use processor::{BatchCounts, ChannelProcessor, PutOutcome};

use thiserror::Error;

use crate::config::registry::{Describe, TypeEntry, NOT_PLANNED};
use crate::shutdown::Shutdown;
use avro::AvroSourceSettings;
use exec::ExecSettings;
use http::HttpSettings;
use kafka::KafkaSourceSettings;
use netcat::NetcatSettings;
use netcat_udp::NetcatUdpSettings;
use seq::SeqSettings;
use spooldir::SpoolDirSettings;
use syslog::{MultiportSyslogSettings, SyslogTcpSettings, SyslogUdpSettings};
use taildir::TaildirSettings;
use thrift::ThriftSourceSettings;

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
    TypeEntry::yes(
        "netcatudp",
        "org.apache.flume.source.NetcatUdpSource",
        |r| NetcatUdpSettings::parse(r).map(SourceSettings::NetcatUdp),
    ),
    TypeEntry::yes(
        "spooldir",
        "org.apache.flume.source.SpoolDirectorySource",
        |r| SpoolDirSettings::parse(r).map(SourceSettings::SpoolDir),
    ),
    TypeEntry::yes(
        "syslogtcp",
        "org.apache.flume.source.SyslogTcpSource",
        |r| SyslogTcpSettings::parse(r).map(SourceSettings::SyslogTcp),
    ),
    TypeEntry::yes(
        "multiport_syslogtcp",
        "org.apache.flume.source.MultiportSyslogTCPSource",
        |r| MultiportSyslogSettings::parse(r).map(SourceSettings::MultiportSyslogTcp),
    ),
    TypeEntry::yes(
        "syslogudp",
        "org.apache.flume.source.SyslogUDPSource",
        |r| SyslogUdpSettings::parse(r).map(SourceSettings::SyslogUdp),
    ),
    TypeEntry::yes("http", "org.apache.flume.source.http.HTTPSource", |r| {
        HttpSettings::parse(r).map(SourceSettings::Http)
    }),
    TypeEntry::yes("avro", "org.apache.flume.source.AvroSource", |r| {
        AvroSourceSettings::parse(r).map(SourceSettings::Avro)
    }),
    TypeEntry::yes("thrift", "org.apache.flume.source.ThriftSource", |r| {
        ThriftSourceSettings::parse(r).map(SourceSettings::Thrift)
    }),
    TypeEntry::no("jms", "org.apache.flume.source.jms.JMSSource", NOT_PLANNED),
    TypeEntry::yes("kafka", "org.apache.flume.source.kafka.KafkaSource", |r| {
        KafkaSourceSettings::parse(r).map(|s| SourceSettings::Kafka(Box::new(s)))
    })
    .class_only(),
];

/// A configured source's settings, one variant per supported type.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSettings {
    Avro(AvroSourceSettings),
    Exec(ExecSettings),
    Http(HttpSettings),
    Kafka(Box<KafkaSourceSettings>),
    Netcat(NetcatSettings),
    NetcatUdp(NetcatUdpSettings),
    SyslogTcp(SyslogTcpSettings),
    MultiportSyslogTcp(MultiportSyslogSettings),
    SyslogUdp(SyslogUdpSettings),
    Seq(SeqSettings),
    SpoolDir(SpoolDirSettings),
    Taildir(TaildirSettings),
    Thrift(ThriftSourceSettings),
}

impl SourceSettings {
    pub fn spec(&self) -> &dyn SourceSpec {
        match self {
            SourceSettings::Avro(s) => s,
            SourceSettings::Exec(s) => s,
            SourceSettings::Http(s) => s,
            SourceSettings::Kafka(s) => s.as_ref(),
            SourceSettings::Netcat(s) => s,
            SourceSettings::NetcatUdp(s) => s,
            SourceSettings::SyslogTcp(s) => s,
            SourceSettings::MultiportSyslogTcp(s) => s,
            SourceSettings::SyslogUdp(s) => s,
            SourceSettings::Seq(s) => s,
            SourceSettings::SpoolDir(s) => s,
            SourceSettings::Taildir(s) => s,
            SourceSettings::Thrift(s) => s,
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
