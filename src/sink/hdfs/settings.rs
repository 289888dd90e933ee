//! The HDFS sink's properties, read as Flume's `HDFSEventSink.configure` reads them: every key
//! under `hdfs.`, Flume's defaults, Flume's checks (batchSize > 0, roundValue ranges, codeC with
//! DataStream refused, CompressedStream without codeC refused) and Flume's silent fallbacks said
//! aloud (an unknown roundUnit disables rounding; closeTries ≤ 0 means "forever").

use std::time::Duration;

use chrono::FixedOffset;

use super::path::{BucketPath, Rounding, TimeUnit, Zone};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;

/// Flume's `defaultFileName`.
pub const DEFAULT_FILE_PREFIX: &str = "FlumeData";
/// Flume's `defaultInUseSuffix`.
pub const DEFAULT_IN_USE_SUFFIX: &str = ".tmp";
/// Flume's `defaultRollInterval` (seconds).
pub const DEFAULT_ROLL_INTERVAL: u64 = 30;
/// Flume's `defaultRollSize` (bytes of event bodies).
pub const DEFAULT_ROLL_SIZE: u64 = 1024;
/// Flume's `defaultRollCount` (events).
pub const DEFAULT_ROLL_COUNT: u64 = 10;
/// Flume's `defaultBatchSize`.
pub const DEFAULT_BATCH_SIZE: u64 = 100;
/// Flume's `defaultMaxOpenFiles`.
pub const DEFAULT_MAX_OPEN_FILES: u64 = 5000;
/// Flume's `defaultCallTimeout` (ms).
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 30000;
/// Flume's `defaultRetryInterval` (seconds between close attempts).
pub const DEFAULT_RETRY_INTERVAL: u64 = 180;
/// Flume's `defaultTryCount` (`Integer.MAX_VALUE`: try to close forever).
pub const DEFAULT_CLOSE_TRIES: u64 = i32::MAX as u64;

/// `hdfs.fileType`: how events become bytes in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Flume's default: a Hadoop SequenceFile of (LongWritable timestamp, value) records.
    SequenceFile,
    /// The serializer's bytes as they are.
    DataStream,
    /// The serializer's bytes through `codeC` (gzip).
    CompressedStream,
}

/// `hdfs.writeFormat`: the SequenceFile value class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFormat {
    /// Flume's default: `BytesWritable` values.
    Writable,
    /// `Text` values.
    Text,
}

/// `serializer` of a DataStream or CompressedStream file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serializer {
    /// Flume's `TEXT` (`BodyTextEventSerializer`): the body, then `\n` if `appendNewline`.
    Text,
    /// Flume's `HEADER_AND_TEXT`: the headers as Java's `Map.toString`, a space, the body.
    HeaderAndText,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HdfsSettings {
    pub path: String,
    pub file_prefix: String,
    pub file_suffix: String,
    pub in_use_prefix: String,
    pub in_use_suffix: String,
    pub time_zone: Option<String>,
    pub zone: Zone,
    pub roll_interval: u64,
    pub roll_size: u64,
    pub roll_count: u64,
    pub batch_size: u64,
    pub idle_timeout: u64,
    pub file_type: FileType,
    pub codec: Option<String>,
    pub write_format: WriteFormat,
    pub serializer: Serializer,
    pub append_newline: bool,
    pub max_open_files: u64,
    pub call_timeout: Duration,
    pub close_tries: u64,
    pub retry_interval: u64,
    pub min_block_replicas: Option<u64>,
    pub rounding: Option<Rounding>,
    pub use_local_time_stamp: bool,
}

impl HdfsSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let path = r.required(
            "hdfs.path",
            "the folder to write to, e.g. hdfs://namenode:8020/flume/%Y%m%d",
        )?;
        let file_prefix = r.string("hdfs.filePrefix", DEFAULT_FILE_PREFIX);
        let file_suffix = r.string("hdfs.fileSuffix", "");
        let in_use_prefix = r.string("hdfs.inUsePrefix", "");
        let empty_in_use_suffix = r.bool("hdfs.emptyInUseSuffix", false);
        let in_use_suffix = if empty_in_use_suffix {
            if let Some((_, line)) = r.ignored("hdfs.inUseSuffix") {
                r.warn(
                    "hdfs.inUseSuffix",
                    Some(line),
                    "ignored because hdfs.emptyInUseSuffix = true, as Flume does",
                    None,
                );
            }
            String::new()
        } else {
            r.string("hdfs.inUseSuffix", DEFAULT_IN_USE_SUFFIX)
        };
        let time_zone = r.opt_string("hdfs.timeZone");
        let zone = match &time_zone {
            None => Zone::Local,
            Some(name) => zone_of(r, name),
        };
        let roll_interval = r.non_negative("hdfs.rollInterval", DEFAULT_ROLL_INTERVAL);
        let roll_size = r.non_negative("hdfs.rollSize", DEFAULT_ROLL_SIZE);
        let roll_count = r.non_negative("hdfs.rollCount", DEFAULT_ROLL_COUNT);
        let batch_size = r.positive("hdfs.batchSize", DEFAULT_BATCH_SIZE);
        let idle_timeout = r.non_negative("hdfs.idleTimeout", 0);
        let codec = r.opt_string("hdfs.codeC");
        let file_type = file_type(r, codec.as_deref());
        let write_format = write_format(r);
        let (serializer, append_newline) = serializer(r);
        let max_open_files = r.positive_int("hdfs.maxOpenFiles", DEFAULT_MAX_OPEN_FILES);
        let call_timeout =
            Duration::from_millis(r.non_negative("hdfs.callTimeout", DEFAULT_CALL_TIMEOUT_MS));
        let mut close_tries = match r.parse::<i64>("hdfs.closeTries", "an integer") {
            Some(n) if n > 0 => n as u64,
            Some(n) => {
                let line = r.line("hdfs.closeTries");
                r.warn(
                    "hdfs.closeTries",
                    line,
                    format!("{n} is not valid: the sink will try to close a file until it is closed, as Flume does"),
                    Some("give a positive number of attempts".into()),
                );
                DEFAULT_CLOSE_TRIES
            }
            None => DEFAULT_CLOSE_TRIES,
        };
        let retry_interval = match r.parse::<i64>("hdfs.retryInterval", "an integer") {
            Some(n) if n > 0 => n as u64,
            Some(n) => {
                let line = r.line("hdfs.retryInterval");
                r.warn(
                    "hdfs.retryInterval",
                    line,
                    format!("{n} is not valid: a file whose first close fails stays open and is not renamed, as in Flume"),
                    Some(format!("Flume's default is {DEFAULT_RETRY_INTERVAL} seconds")),
                );
                close_tries = 1;
                DEFAULT_RETRY_INTERVAL
            }
            None => DEFAULT_RETRY_INTERVAL,
        };
        let min_block_replicas = r.parse::<u64>("hdfs.minBlockReplicas", "a whole number");
        if let Some(n) = min_block_replicas {
            // Flume rolls a file whose block pipeline fell below this many replicas; the HDFS
            // client rflume uses (hdfs-native) does not tell a writer its pipeline's size.
            let line = r.line("hdfs.minBlockReplicas");
            r.warn(
                "hdfs.minBlockReplicas",
                line,
                format!("{n} has no effect in rflume: a file is not rolled when its block has fewer replicas"),
                Some("HDFS re-replicates the block after the file is closed; remove the line to silence this".into()),
            );
        }
        let rounding = rounding(r);
        let use_local_time_stamp = r.bool("hdfs.useLocalTimeStamp", false);
        for key in [
            "hdfs.kerberosPrincipal",
            "hdfs.kerberosKeytab",
            "hdfs.proxyUser",
        ] {
            if let Some((_, line)) = r.ignored(key) {
                r.unsupported(
                    key,
                    Some(line),
                    "Kerberos and proxy users are not supported by rflume's HDFS sink yet",
                    Some("run this sink on Flume, or write to an HDFS without Kerberos".into()),
                );
            }
        }
        // Flume's sink pools and the under-replication rotation cap: rflume writes from the
        // sink's own thread and rolls by timers it checks itself, so these change nothing.
        for key in [
            "hdfs.threadsPoolSize",
            "hdfs.rollTimerPoolSize",
            "hdfs.maxConsecUnderReplRotations",
            "hdfs.useRawLocalFileSystem",
        ] {
            r.ignored(key);
        }
        if r.failed() {
            return None;
        }
        Some(HdfsSettings {
            path,
            file_prefix,
            file_suffix,
            in_use_prefix,
            in_use_suffix,
            time_zone,
            zone,
            roll_interval,
            roll_size,
            roll_count,
            batch_size,
            idle_timeout,
            file_type,
            codec,
            write_format,
            serializer,
            append_newline,
            max_open_files,
            call_timeout,
            close_tries,
            retry_interval,
            min_block_replicas,
            rounding,
            use_local_time_stamp,
        })
    }

    /// The path and file-name templates with this sink's time settings.
    pub fn templates(&self) -> (BucketPath, BucketPath) {
        let mk = |s: &str| {
            BucketPath::new(
                s,
                self.zone.clone(),
                self.rounding,
                self.use_local_time_stamp,
            )
        };
        (mk(&self.path), mk(&self.file_prefix))
    }
}

/// Java's `TimeZone.getTimeZone`: an ID it does not know silently becomes GMT; rflume does the
/// same and warns.
fn zone_of(r: &mut PropReader, name: &str) -> Zone {
    if let Some(z) = Zone::parse(name) {
        return z;
    }
    let line = r.line("hdfs.timeZone");
    r.warn(
        "hdfs.timeZone",
        line,
        format!("'{name}' is not a time zone Java knows: times are written in GMT, as Flume does"),
        Some("use an ID such as UTC, GMT+08:00 or Europe/Berlin".into()),
    );
    Zone::Fixed(FixedOffset::east_opt(0).unwrap_or(FixedOffset::west_opt(0).expect("zero offset")))
}

fn file_type(r: &mut PropReader, codec: Option<&str>) -> FileType {
    let raw = r.raw("hdfs.fileType");
    let ty = match raw.map(|(v, _)| v) {
        None => FileType::SequenceFile,
        Some(v) if v.eq_ignore_ascii_case("SequenceFile") => FileType::SequenceFile,
        Some(v) if v.eq_ignore_ascii_case("DataStream") => FileType::DataStream,
        Some(v) if v.eq_ignore_ascii_case("CompressedStream") => FileType::CompressedStream,
        Some(v) => {
            // Flume's HDFSWriterFactory throws for any other name: the sink is dropped.
            let line = raw.map(|(_, l)| l);
            r.error(
                "hdfs.fileType",
                line,
                format!("'{v}' is not a file type"),
                Some("use SequenceFile (Flume's default), DataStream or CompressedStream".into()),
            );
            return FileType::SequenceFile;
        }
    };
    match (ty, codec) {
        (FileType::DataStream, Some(_)) => {
            let line = r.line("hdfs.codeC");
            r.error(
                "hdfs.codeC",
                line,
                "fileType DataStream does NOT support compressed output",
                Some("remove codeC, or set hdfs.fileType = CompressedStream".into()),
            );
        }
        (FileType::CompressedStream, None) => {
            let line = raw.map(|(_, l)| l);
            r.error(
                "hdfs.fileType",
                line,
                "CompressedStream needs a compression codec",
                Some("set hdfs.codeC = gzip".into()),
            );
        }
        (_, Some(c)) if !is_gzip(c) => {
            let line = r.line("hdfs.codeC");
            r.unsupported(
                "hdfs.codeC",
                line,
                format!("codec '{c}' is not supported by rflume yet"),
                Some("use gzip (GzipCodec)".into()),
            );
        }
        (FileType::SequenceFile, Some(_)) => {
            let line = r.line("hdfs.codeC");
            r.unsupported(
                "hdfs.codeC",
                line,
                "compressed SequenceFiles are not supported by rflume yet",
                Some("use hdfs.fileType = CompressedStream with gzip, or no codec".into()),
            );
        }
        _ => {}
    }
    ty
}

/// Flume's codec names for gzip: the short name, the class's simple or full name.
pub fn is_gzip(codec: &str) -> bool {
    [
        "gzip",
        "gzipcodec",
        "org.apache.hadoop.io.compress.gzipcodec",
    ]
    .contains(&codec.trim().to_ascii_lowercase().as_str())
}

fn write_format(r: &mut PropReader) -> WriteFormat {
    let raw = r.raw("hdfs.writeFormat");
    match raw.map(|(v, _)| v) {
        None => WriteFormat::Writable,
        Some(v) if v.eq_ignore_ascii_case("Writable") => WriteFormat::Writable,
        Some(v) if v.eq_ignore_ascii_case("Text") => WriteFormat::Text,
        Some(v) => {
            let line = raw.map(|(_, l)| l);
            r.error(
                "hdfs.writeFormat",
                line,
                format!("'{v}' is not a write format"),
                Some("use Writable (Flume's default) or Text".into()),
            );
            WriteFormat::Writable
        }
    }
}

/// `serializer` and `serializer.appendNewline` (Flume reads them without the `hdfs.` prefix).
fn serializer(r: &mut PropReader) -> (Serializer, bool) {
    let append_newline = r.bool("serializer.appendNewline", true);
    let raw = r.raw("serializer");
    let s = match raw.map(|(v, _)| v.trim()) {
        None => Serializer::Text,
        Some(v)
            if v.eq_ignore_ascii_case("TEXT")
                || v == "org.apache.flume.serialization.BodyTextEventSerializer$Builder" =>
        {
            Serializer::Text
        }
        Some(v)
            if v.eq_ignore_ascii_case("HEADER_AND_TEXT")
                || v == "org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder" =>
        {
            Serializer::HeaderAndText
        }
        Some(v) => {
            let line = raw.map(|(_, l)| l);
            r.unsupported(
                "serializer",
                line,
                format!("serializer '{v}' is not supported by rflume's HDFS sink"),
                Some("use TEXT or HEADER_AND_TEXT, or run this sink on Flume".into()),
            );
            Serializer::Text
        }
    };
    (s, append_newline)
}

/// `hdfs.round`, `roundUnit`, `roundValue`: the unit and value are read (and shown by `check`)
/// even without rounding, but checked only with it, as Flume reads them only then.
fn rounding(r: &mut PropReader) -> Option<Rounding> {
    let round = r.bool("hdfs.round", false);
    let unit_raw = r.raw("hdfs.roundUnit");
    let value_raw = r.raw("hdfs.roundValue");
    if !round {
        return None;
    }
    let unit = match unit_raw.map(|(v, _)| v.to_ascii_lowercase()) {
        None => TimeUnit::Second,
        Some(v) if v == "hour" => TimeUnit::Hour,
        Some(v) if v == "minute" => TimeUnit::Minute,
        Some(v) if v == "second" => TimeUnit::Second,
        Some(v) => {
            let line = unit_raw.map(|(_, l)| l);
            r.warn(
                "hdfs.roundUnit",
                line,
                format!("'{v}' is not a rounding unit: rounding is disabled, as Flume does"),
                Some("use hour, minute or second".into()),
            );
            return None;
        }
    };
    let value = match value_raw {
        None => 1,
        Some(_) => r.parse::<i64>("hdfs.roundValue", "an integer")?,
    };
    let max = if unit == TimeUnit::Hour { 24 } else { 60 };
    if value <= 0 || value > max {
        let line = r.line("hdfs.roundValue");
        r.error(
            "hdfs.roundValue",
            line,
            format!("must be > 0 and <= {max}, got {value}"),
            None,
        );
        return None;
    }
    Some(Rounding {
        unit,
        value: value as u32,
    })
}

impl Describe for HdfsSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = vec![
            ("hdfs.path".into(), self.path.clone()),
            ("hdfs.filePrefix".into(), self.file_prefix.clone()),
            ("hdfs.fileSuffix".into(), self.file_suffix.clone()),
            ("hdfs.inUsePrefix".into(), self.in_use_prefix.clone()),
            ("hdfs.inUseSuffix".into(), self.in_use_suffix.clone()),
            ("hdfs.rollInterval".into(), self.roll_interval.to_string()),
            ("hdfs.rollSize".into(), self.roll_size.to_string()),
            ("hdfs.rollCount".into(), self.roll_count.to_string()),
            ("hdfs.batchSize".into(), self.batch_size.to_string()),
            ("hdfs.idleTimeout".into(), self.idle_timeout.to_string()),
            ("hdfs.fileType".into(), format!("{:?}", self.file_type)),
            (
                "hdfs.writeFormat".into(),
                format!("{:?}", self.write_format),
            ),
            (
                "serializer".into(),
                match self.serializer {
                    Serializer::Text => "TEXT".into(),
                    Serializer::HeaderAndText => "HEADER_AND_TEXT".into(),
                },
            ),
            (
                "serializer.appendNewline".into(),
                self.append_newline.to_string(),
            ),
            ("hdfs.maxOpenFiles".into(), self.max_open_files.to_string()),
            (
                "hdfs.callTimeout".into(),
                self.call_timeout.as_millis().to_string(),
            ),
            ("hdfs.closeTries".into(), self.close_tries.to_string()),
            ("hdfs.retryInterval".into(), self.retry_interval.to_string()),
            ("hdfs.round".into(), self.rounding.is_some().to_string()),
            (
                "hdfs.useLocalTimeStamp".into(),
                self.use_local_time_stamp.to_string(),
            ),
            (
                "hdfs.emptyInUseSuffix".into(),
                self.in_use_suffix.is_empty().to_string(),
            ),
        ];
        let unset = || "(not set)".to_string();
        v.push((
            "hdfs.timeZone".into(),
            self.time_zone
                .clone()
                .unwrap_or_else(|| "(the machine's)".into()),
        ));
        v.push((
            "hdfs.codeC".into(),
            self.codec.clone().unwrap_or_else(unset),
        ));
        v.push((
            "hdfs.minBlockReplicas".into(),
            self.min_block_replicas
                .map(|n| n.to_string())
                .unwrap_or_else(|| "(the HDFS replication)".into()),
        ));
        let (unit, value) = match &self.rounding {
            Some(rd) => (
                format!("{:?}", rd.unit).to_lowercase(),
                rd.value.to_string(),
            ),
            None => (unset(), unset()),
        };
        v.push(("hdfs.roundUnit".into(), unit));
        v.push(("hdfs.roundValue".into(), value));
        v
    }
}
