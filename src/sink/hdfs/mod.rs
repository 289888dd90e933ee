//! HDFS sink — replaces Flume's `hdfs` (`org.apache.flume.sink.hdfs.HDFSEventSink`).
//!
//! Writes events into files under `hdfs.path`, bucketed by the path's escapes (time, headers,
//! host), rolled by count, size, interval and idleness, named and renamed as Flume names them,
//! as a DataStream, a gzip CompressedStream or a SequenceFile. HDFS is reached through the
//! native-protocol client `hdfs-native` (RPC to the NameNode, the data-transfer protocol to the
//! DataNodes, as Hadoop's Java client); `file:` paths, and paths without a scheme when no
//! Hadoop configuration names an `fs.defaultFS`, go to the local disk as with Flume.
//!
//! **Delivery guarantee**: a take commits only after every byte of its batch was written and
//! `hsync`ed (stronger than Flume's `hflush`: on the DataNodes' disks, not only in their memory);
//! any failure rolls the take back and the batch is written again into new files — at least
//! once, never lost. Files being written carry `inUsePrefix`/`inUseSuffix` (`.tmp`) and are
//! renamed when closed; a file left `.tmp` by a crash keeps every committed event.
//!
//! Differences from Flume, on purpose: a `%[name]` escape other than localhost/IP/FQDN is a
//! start-up error (Flume fails every event); Kerberos (`kerberosPrincipal`, `kerberosKeytab`,
//! `proxyUser`), codecs other than gzip, compressed SequenceFiles and third-party serializers are
//! reported as unsupported; a file whose close fails is renamed at once and not closed again
//! `closeTries` times.
//!
//! One concern per file: [`settings`] (the properties), [`path`] (the escapes), [`format`] (the
//! bytes per file type), [`bucket`] (one file's rolling and naming), [`fs`] (HDFS and local
//! disk), [`sink`] (the take loop).

pub mod bucket;
pub mod format;
pub mod fs;
pub mod path;
pub mod settings;
pub mod sink;

pub use settings::HdfsSettings;

use super::{Sink, SinkCore, SinkError, SinkSpec};

impl SinkSpec for HdfsSettings {
    fn batch_size(&self) -> usize {
        self.batch_size as usize
    }
    fn batch_size_key(&self, _lines: &std::collections::BTreeMap<String, usize>) -> &'static str {
        "hdfs.batchSize"
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(sink::HdfsSink::new(core, self.clone())?))
    }
}
