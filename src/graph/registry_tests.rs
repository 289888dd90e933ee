//! Every supported type of every registry, as a specification: it parses from a minimal
//! configuration, it builds into a running component, and its `describe()` (what `rflume check`
//! prints) reports exactly the settings its parser read — one definition per property.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use crate::channel::{self, memory::MemorySettings, ChannelSettings};
use crate::config::reader::{ComponentProps, PropReader};
use crate::config::registry::{Describe, ParseFn, Support, TypeEntry};
use crate::config::Diagnostics;
use crate::metrics::{ChannelCounter, SinkCounter};
use crate::sink::{self, SinkCore};
use crate::{interceptor, source};

/// Key-value pairs of one component, without the `a1.sources.x1.` prefix.
type Properties = &'static [(&'static str, &'static str)];

/// The smallest valid properties of each supported type: (kind, alias, properties). A type added
/// to a registry without a row here fails [`every_supported_type_has_a_minimal_config`].
pub(super) const MINIMAL: &[(&str, &str, Properties)] = &[
    ("source", "exec", &[("command", "tail -F /var/log/app.log")]),
    ("source", "seq", &[]),
    (
        "source",
        "taildir",
        &[
            ("filegroups", "f1"),
            ("filegroups.f1", "/var/log/app.log"),
            ("positionFile", "/var/lib/rflume/taildir_position.json"),
        ],
    ),
    (
        "source",
        "netcat",
        &[("bind", "127.0.0.1"), ("port", "44444")],
    ),
    (
        "source",
        "avro",
        &[("bind", "127.0.0.1"), ("port", "41414")],
    ),
    (
        "source",
        "thrift",
        &[("bind", "127.0.0.1"), ("port", "4353")],
    ),
    ("source", "spooldir", &[("spoolDir", "/var/spool/flume")]),
    (
        "source",
        "netcatudp",
        &[("bind", "127.0.0.1"), ("port", "44444")],
    ),
    (
        "source",
        "syslogtcp",
        &[("host", "127.0.0.1"), ("port", "5140")],
    ),
    (
        "source",
        "multiport_syslogtcp",
        &[("host", "127.0.0.1"), ("ports", "5140 5141")],
    ),
    ("source", "http", &[("bind", "127.0.0.1"), ("port", "8080")]),
    (
        "source",
        "syslogudp",
        &[("host", "127.0.0.1"), ("port", "5140")],
    ),
    (
        "source",
        "kafka",
        &[
            ("kafka.bootstrap.servers", "127.0.0.1:9092"),
            ("kafka.topics", "logs"),
        ],
    ),
    ("channel", "memory", &[]),
    (
        "channel",
        "kafka",
        &[("kafka.bootstrap.servers", "127.0.0.1:9092")],
    ),
    // `@TMP@` is a fresh temporary directory per build (see `with_temp_dirs`): a test never
    // writes under the user's home, and parallel tests never share (and lock) a directory.
    (
        "channel",
        "file",
        &[
            ("checkpointDir", "@TMP@/checkpoint"),
            ("dataDirs", "@TMP@/data"),
            // Small enough for any test machine's disk.
            ("minimumRequiredSpace", "1048576"),
        ],
    ),
    (
        "channel",
        "spillablememory",
        &[
            ("checkpointDir", "@TMP@/checkpoint"),
            ("dataDirs", "@TMP@/data"),
            ("minimumRequiredSpace", "1048576"),
        ],
    ),
    (
        "sink",
        "kafka",
        &[
            ("kafka.bootstrap.servers", "127.0.0.1:9092"),
            ("kafka.topic", "t"),
        ],
    ),
    (
        "sink",
        "hdfs",
        &[
            ("hdfs.path", "file://@TMP@/hdfs"),
            ("hdfs.fileType", "DataStream"),
        ],
    ),
    (
        "sink",
        "avro",
        &[("hostname", "127.0.0.1"), ("port", "41414")],
    ),
    (
        "sink",
        "thrift",
        &[("hostname", "127.0.0.1"), ("port", "4353")],
    ),
    ("sink", "logger", &[]),
    ("sink", "file_roll", &[("sink.directory", "/var/log/flume")]),
    ("sink", "null", &[]),
    ("interceptor", "timestamp", &[]),
    ("interceptor", "host", &[]),
    ("interceptor", "static", &[("key", "dc"), ("value", "eu")]),
    ("interceptor", "remove_header", &[("withName", "password")]),
    ("interceptor", "regex_filter", &[]),
    (
        "interceptor",
        "regex_extractor",
        &[
            ("regex", "^(\\d+)"),
            ("serializers", "s1"),
            ("serializers.s1.name", "n"),
        ],
    ),
    (
        "interceptor",
        "search_replace",
        &[
            ("searchPattern", "secret=\\w+"),
            ("replaceString", "secret=***"),
        ],
    ),
    ("interceptor", "uuid", &[]),
];

/// `props` with `@TMP@` replaced by a new temporary directory, which must outlive whatever is
/// built from them. On tmpfs when there is one: hundreds of builds with a put each, and a
/// file channel's fsyncs cost nothing there.
pub(super) fn with_temp_dirs(props: &[(&str, &str)]) -> (Vec<(String, String)>, tempfile::TempDir) {
    let shm = Path::new("/dev/shm");
    let tmp = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten()
        .unwrap_or_else(|| tempfile::tempdir().expect("a temporary directory"));
    let dir = tmp.path().display().to_string();
    let props = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.replace("@TMP@", &dir)))
        .collect();
    (props, tmp)
}

/// The minimal properties of `kind` `alias`.
pub(super) fn minimal(kind: &str, alias: &str) -> Properties {
    MINIMAL
        .iter()
        .find(|(k, a, _)| *k == kind && *a == alias)
        .map(|(_, _, p)| *p)
        .unwrap_or_else(|| panic!("{kind} type {alias} has no row in MINIMAL"))
}

/// What parsing a component from its minimal properties gave.
pub(super) struct ParsedMinimal<S> {
    pub settings: Option<S>,
    pub diags: Diagnostics,
    /// The settings the parser read (keys, prefixes).
    pub keys: BTreeSet<String>,
    pub prefixes: BTreeSet<String>,
    /// The temporary directory `@TMP@` stands for: keep it while the component is used.
    pub dirs: tempfile::TempDir,
}

/// Parses `kind`/`alias` from its MINIMAL properties, with `extra` replacing or adding one key.
pub(super) fn parse_minimal<S>(
    parse: ParseFn<S>,
    kind: &str,
    alias: &str,
    extra: Option<(&str, &str)>,
) -> ParsedMinimal<S> {
    parse_props(parse, kind, alias, minimal(kind, alias), extra)
}

/// Parses `kind`/`alias` from `props` (`@TMP@` standing for a new temporary directory), with
/// `extra` replacing or adding one key.
pub(super) fn parse_props<S>(
    parse: ParseFn<S>,
    kind: &str,
    alias: &str,
    props: &[(&str, &str)],
    extra: Option<(&str, &str)>,
) -> ParsedMinimal<S> {
    let mut props = props.to_vec();
    if let Some((key, value)) = extra {
        props.retain(|(k, _)| *k != key);
        props.push((key, value));
    }
    let (props, dirs) = with_temp_dirs(&props);
    let comp = ComponentProps {
        name: "x1".into(),
        prefix: format!("a1.{kind}s.x1."),
        props: props
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| (k, (v, i + 1)))
            .collect(),
    };
    let mut diags = Diagnostics::new(Arc::from(Path::new("minimal.conf")));
    let mut r = PropReader::new(&comp, &mut diags);
    r.known("type");
    let settings = parse(&mut r);
    let (keys, prefixes) = r.settings_read();
    r.finish(alias);
    ParsedMinimal {
        settings,
        diags,
        keys,
        prefixes,
        dirs,
    }
}

/// A parsed minimal component: its alias, settings, and the settings its parser read
/// (keys, prefixes).
struct Parsed<S> {
    alias: &'static str,
    settings: S,
    keys: BTreeSet<String>,
    prefixes: BTreeSet<String>,
    _dirs: tempfile::TempDir,
}

fn parse_all<S>(kind: &str, table: &'static [TypeEntry<S>]) -> Vec<Parsed<S>> {
    let mut out = Vec::new();
    for entry in table {
        let Support::Yes(parse) = entry.support else {
            continue;
        };
        let alias = entry.name.alias;
        let ParsedMinimal {
            settings,
            diags,
            keys,
            prefixes,
            dirs,
        } = parse_minimal(parse, kind, alias, None);
        let rendered: Vec<String> = diags.items.iter().map(|d| d.to_string()).collect();
        assert!(
            !diags.has_errors(),
            "{kind} {alias}: minimal config has errors: {rendered:?}"
        );
        let settings = settings.unwrap_or_else(|| panic!("{kind} {alias} did not parse"));
        out.push(Parsed {
            alias,
            settings,
            keys,
            prefixes,
            _dirs: dirs,
        });
    }
    out
}

/// `describe()` reports every setting the parser read, and nothing it did not read.
fn assert_one_definition(kind: &str, p: &Parsed<impl Sized>, described: &dyn Describe) {
    let described: BTreeSet<String> = described.describe().into_iter().map(|(k, _)| k).collect();
    let under_prefix = |k: &str| p.prefixes.iter().any(|pre| k.starts_with(pre.as_str()));
    let not_read: Vec<&String> = described
        .iter()
        .filter(|k| !p.keys.contains(*k) && !under_prefix(k))
        .collect();
    let not_described: Vec<&String> = p.keys.iter().filter(|k| !described.contains(*k)).collect();
    assert!(
        not_read.is_empty() && not_described.is_empty(),
        "{kind} {}: describe() reports keys the parser never reads: {not_read:?}; the parser reads \
         keys describe() does not report: {not_described:?}",
        p.alias
    );
}

#[test]
fn every_supported_type_has_a_minimal_config() {
    let supported =
        |kind: &'static str, names: Vec<&'static str>| names.into_iter().map(move |a| (kind, a));
    let all: Vec<(&str, &str)> = supported("source", names(source::TYPES))
        .chain(supported("channel", names(channel::TYPES)))
        .chain(supported("sink", names(sink::TYPES)))
        .chain(supported("interceptor", names(interceptor::TYPES)))
        .collect();
    for (kind, alias) in &all {
        assert!(
            MINIMAL.iter().any(|(k, a, _)| k == kind && a == alias),
            "{kind} {alias} has no minimal config"
        );
    }
    // And no stale rows for types that are gone or no longer supported.
    for (kind, alias, _) in MINIMAL {
        assert!(
            all.contains(&(*kind, *alias)),
            "MINIMAL names {kind} {alias}, which no registry supports"
        );
    }
}

fn names<S>(table: &'static [TypeEntry<S>]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|t| t.is_supported())
        .map(|t| t.name.alias)
        .collect()
}

#[test]
fn every_source_builds_and_describes_what_it_reads() {
    for p in parse_all("source", source::TYPES) {
        let spec = p.settings.spec();
        assert!(spec.batch_size() >= 1, "source {}", p.alias);
        let _running = spec.build("r1");
        assert_one_definition("source", &p, spec);
    }
}

#[test]
fn every_channel_builds_and_describes_what_it_reads() {
    for p in parse_all("channel", channel::TYPES) {
        let spec = p.settings.spec();
        let c = spec
            .build("c1", Arc::new(ChannelCounter::default()))
            .unwrap_or_else(|e| panic!("channel {} did not open: {e}", p.alias));
        assert_eq!(c.transaction_capacity(), spec.transaction_capacity());
        assert_one_definition("channel", &p, spec);
    }
}

#[test]
fn every_sink_builds_and_describes_what_it_reads() {
    let memory = ChannelSettings::Memory(MemorySettings::default());
    for p in parse_all("sink", sink::TYPES) {
        let spec = p.settings.spec();
        let channel = memory
            .spec()
            .build("c1", Arc::new(ChannelCounter::default()))
            .expect("a memory channel opens");
        let core = SinkCore::new("k1", channel, Arc::new(SinkCounter::default()));
        let built = spec.build(core);
        assert!(built.is_ok(), "sink {} did not build", p.alias);
        assert_one_definition("sink", &p, spec);
    }
}

#[test]
fn every_interceptor_builds_and_describes_what_it_reads() {
    for p in parse_all("interceptor", interceptor::TYPES) {
        let spec = p.settings.spec();
        let mut i = spec.build();
        assert_eq!(i.intercept(Vec::new()).len(), 0);
        assert_one_definition("interceptor", &p, spec);
    }
}
