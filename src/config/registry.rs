//! The alias table: every component type Flume knows, by alias and class name, and whether rflume
//! runs it. Flume matches aliases case-insensitively and otherwise treats the value as a class
//! name; rflume also matches Flume's own class names case-insensitively, so `type = exec`,
//! `type = EXEC` and `type = org.apache.flume.source.ExecSource` are the same component.
//!
//! Adding a component is adding its file and one line here.

/// What rflume does with a component type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// Known Flume type that rflume does not run (yet); the text says what to use instead.
    No(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeEntry {
    /// Flume's alias, or a short name for types that have none in Flume.
    pub alias: &'static str,
    /// Flume's fully-qualified class name.
    pub class: &'static str,
    /// Whether the alias is accepted by Flume itself (the Kafka sink has no alias in Flume).
    pub flume_alias: bool,
    pub support: Support,
}

const fn yes(alias: &'static str, class: &'static str) -> TypeEntry {
    TypeEntry {
        alias,
        class,
        flume_alias: true,
        support: Support::Yes,
    }
}

const fn no(alias: &'static str, class: &'static str, hint: &'static str) -> TypeEntry {
    TypeEntry {
        alias,
        class,
        flume_alias: true,
        support: Support::No(hint),
    }
}

const PLANNED: &str = "planned; not available in this version of rflume";
const NOT_PLANNED: &str =
    "not planned: keep this component on a Flume agent, or send to Kafka and consume from there";

pub const SOURCES: &[TypeEntry] = &[
    yes("exec", "org.apache.flume.source.ExecSource"),
    yes("seq", "org.apache.flume.source.SequenceGeneratorSource"),
    yes("taildir", "org.apache.flume.source.taildir.TaildirSource"),
    yes("netcat", "org.apache.flume.source.NetcatSource"),
    no(
        "netcatudp",
        "org.apache.flume.source.NetcatUdpSource",
        PLANNED,
    ),
    no(
        "spooldir",
        "org.apache.flume.source.SpoolDirectorySource",
        PLANNED,
    ),
    no(
        "syslogtcp",
        "org.apache.flume.source.SyslogTcpSource",
        PLANNED,
    ),
    no(
        "multiport_syslogtcp",
        "org.apache.flume.source.MultiportSyslogTCPSource",
        PLANNED,
    ),
    no(
        "syslogudp",
        "org.apache.flume.source.SyslogUDPSource",
        PLANNED,
    ),
    no("http", "org.apache.flume.source.http.HTTPSource", PLANNED),
    no("avro", "org.apache.flume.source.AvroSource", NOT_PLANNED),
    no(
        "thrift",
        "org.apache.flume.source.ThriftSource",
        NOT_PLANNED,
    ),
    no("jms", "org.apache.flume.source.jms.JMSSource", NOT_PLANNED),
    TypeEntry {
        alias: "kafka",
        class: "org.apache.flume.source.kafka.KafkaSource",
        flume_alias: false,
        support: Support::No(NOT_PLANNED),
    },
];

pub const CHANNELS: &[TypeEntry] = &[
    yes("memory", "org.apache.flume.channel.MemoryChannel"),
    no(
        "file",
        "org.apache.flume.channel.file.FileChannel",
        "a durable file channel is on rflume's roadmap; until then use type = memory (events in the channel are lost if the agent dies)",
    ),
    no(
        "spillablememory",
        "org.apache.flume.channel.SpillableMemoryChannel",
        "use type = memory",
    ),
    no("jdbc", "org.apache.flume.channel.jdbc.JdbcChannel", NOT_PLANNED),
    TypeEntry {
        alias: "kafka",
        class: "org.apache.flume.channel.kafka.KafkaChannel",
        flume_alias: false,
        support: Support::No(NOT_PLANNED),
    },
];

pub const SINKS: &[TypeEntry] = &[
    TypeEntry {
        alias: "kafka",
        class: "org.apache.flume.sink.kafka.KafkaSink",
        flume_alias: false,
        support: Support::Yes,
    },
    yes("logger", "org.apache.flume.sink.LoggerSink"),
    yes("null", "org.apache.flume.sink.NullSink"),
    no(
        "file_roll",
        "org.apache.flume.sink.RollingFileSink",
        PLANNED,
    ),
    no(
        "hdfs",
        "org.apache.flume.sink.hdfs.HDFSEventSink",
        NOT_PLANNED,
    ),
    no("avro", "org.apache.flume.sink.AvroSink", NOT_PLANNED),
    no("thrift", "org.apache.flume.sink.ThriftSink", NOT_PLANNED),
    no("irc", "org.apache.flume.sink.irc.IRCSink", NOT_PLANNED),
    no(
        "elasticsearch",
        "org.apache.flume.sink.elasticsearch.ElasticSearchSink",
        NOT_PLANNED,
    ),
    no(
        "hbase",
        "org.apache.flume.sink.hbase.HBaseSink",
        NOT_PLANNED,
    ),
    no(
        "hbase2",
        "org.apache.flume.sink.hbase2.HBase2Sink",
        NOT_PLANNED,
    ),
    no(
        "asynchbase",
        "org.apache.flume.sink.hbase.AsyncHBaseSink",
        NOT_PLANNED,
    ),
    no(
        "morphline_solr",
        "org.apache.flume.sink.solr.morphline.MorphlineSolrSink",
        NOT_PLANNED,
    ),
    no("hive", "org.apache.flume.sink.hive.HiveSink", NOT_PLANNED),
    no("http", "org.apache.flume.sink.http.HttpSink", NOT_PLANNED),
];

/// Finds a type by alias or class name, ignoring case.
pub fn resolve(table: &'static [TypeEntry], name: &str) -> Option<&'static TypeEntry> {
    table
        .iter()
        .find(|t| t.alias.eq_ignore_ascii_case(name) || t.class.eq_ignore_ascii_case(name))
}

/// The names a user may write for the supported types of a table, for "what would be valid".
pub fn supported_names(table: &'static [TypeEntry]) -> String {
    table
        .iter()
        .filter(|t| t.support == Support::Yes)
        .map(|t| {
            if t.flume_alias {
                t.alias.to_string()
            } else {
                t.class.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_class_names_resolve_case_insensitively() {
        assert_eq!(resolve(SOURCES, "EXEC").map(|t| t.alias), Some("exec"));
        assert_eq!(
            resolve(SINKS, "org.apache.flume.sink.kafka.KafkaSink").map(|t| t.alias),
            Some("kafka")
        );
        assert_eq!(
            resolve(SOURCES, "TAILDIR").map(|t| t.alias),
            Some("taildir")
        );
        assert!(resolve(SOURCES, "com.example.MySource").is_none());
        assert_eq!(
            supported_names(SINKS),
            "org.apache.flume.sink.kafka.KafkaSink, logger, null"
        );
    }
}
