//! `kafka.producer.*` → librdkafka: Flume passes these to Java's `KafkaProducer`; rflume's producer
//! is librdkafka, whose settings mostly share the Java names but not always the meaning.
//!
//! Every key gets exactly one of four treatments, from the table in [`java_settings`]:
//! * **same name, same meaning** (`acks`, `linger.ms`, `compression.type`, …): passed through;
//! * **translated** (`buffer.memory` bytes → `queue.buffering.max.kbytes`, …): passed under the
//!   librdkafka name, and `rflume check` shows both;
//! * **no effect** (Java-only knobs that change nothing observable, e.g. `max.block.ms`): a warning
//!   that says why;
//! * **cannot be honoured** (a Java class to load, a JKS trust store): an error that drops the
//!   sink, with the way to express the same thing for librdkafka — never silently ignored, since
//!   the pipeline would then run with different partitioning or security than the file asks for.
//!
//! Names that are not Java producer settings are asked of librdkafka itself (`rd_kafka_conf_set`
//! through [`ClientConfig::create_native_config`]), so librdkafka-only tuning such as
//! `queue.buffering.max.messages` works and a typo is reported with librdkafka's own message,
//! where Java's producer would only log "supplied but isn't a known config" and go on.
//! After the per-key checks, a producer is created once (never connected: no broker list) so that
//! librdkafka's cross-setting checks and warnings also surface at `rflume check` time.
//!
//! Layout: this file holds what the others share — [`ProducerProps`] (the librdkafka
//! configuration, each value with the Flume property it came from), [`UserSetting`] (one line of
//! the file) — and [`translate`], the entry point. [`java_settings`]: what each Java producer
//! setting becomes (the table, and the settings that need a look at their value);
//! [`tls_stores`]: which librdkafka settings a JKS/PKCS#12/PEM store becomes; [`jaas`]: what a
//! `sasl.jaas.config` line becomes; [`probe`]: what librdkafka itself says about a setting or the
//! whole configuration.

mod jaas;
pub(crate) mod java_settings;
pub(crate) mod probe;
mod tls_stores;

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

use crate::config::reader::PropReader;
use crate::config::secret::{is_secret_key, Scrubber, Secret};
use java_settings::translate_one;
pub(crate) use probe::librdkafka_has_feature;
use probe::{check_with_librdkafka, probe};

/// The Flume property prefix of producer settings.
pub(crate) const PRODUCER_PREFIX: &str = "kafka.producer.";

/// One setting the librdkafka producer is created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerProp {
    /// librdkafka property name.
    pub name: String,
    /// Masked when printed if the property is a secret (passwords, keys, JAAS lines).
    pub value: PropValue,
    /// The Flume property it came from (`kafka.producer.buffer.memory`, `requiredAcks`); `None`
    /// for a value rflume chose.
    pub from: Option<String>,
    /// Why the value is not exactly what the file says, or why rflume sets it.
    pub note: Option<String>,
}

/// A producer setting's value. Secret ones are held in a [`Secret`]: `Debug` and `Display` print
/// `******`, so neither `rflume check`, a log line nor a panic message can show them.
#[derive(Clone, PartialEq, Eq)]
pub enum PropValue {
    Plain(String),
    Secret(Secret),
}

impl PropValue {
    /// A value for librdkafka's property `name`: secret if the name says so.
    fn for_property(name: &str, value: String) -> Self {
        if is_secret(name) {
            PropValue::Secret(Secret::new(value))
        } else {
            PropValue::Plain(value)
        }
    }

    /// The value itself, for librdkafka.
    pub fn expose(&self) -> &str {
        match self {
            PropValue::Plain(v) => v,
            PropValue::Secret(s) => s.expose(),
        }
    }

    /// The value, unless it is a secret.
    pub fn plain(&self) -> Option<&str> {
        match self {
            PropValue::Plain(v) => Some(v),
            PropValue::Secret(_) => None,
        }
    }
}

impl std::fmt::Display for PropValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropValue::Plain(v) => f.write_str(v),
            PropValue::Secret(s) => std::fmt::Display::fmt(s, f),
        }
    }
}

impl std::fmt::Debug for PropValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropValue::Plain(v) => std::fmt::Debug::fmt(v, f),
            PropValue::Secret(s) => std::fmt::Debug::fmt(s, f),
        }
    }
}

/// The librdkafka producer configuration derived from a Kafka sink's properties.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProducerProps {
    pub props: Vec<ProducerProp>,
}

impl ProducerProps {
    /// The value of a librdkafka property (any alias of it).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let canon = canonical(name);
        self.props
            .iter()
            .find(|p| canonical(&p.name) == canon)
            .map(|p| p.value.expose())
    }

    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for p in &self.props {
            c.set(p.name.as_str(), p.value.expose());
        }
        c
    }

    /// The property setting `name` (any alias of it), with its origin.
    pub(crate) fn find(&self, name: &str) -> Option<&ProducerProp> {
        let canon = canonical(name);
        self.props.iter().find(|p| canonical(&p.name) == canon)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn push(
        &mut self,
        name: &str,
        value: impl Into<String>,
        from: Option<String>,
        note: Option<String>,
    ) {
        self.props.push(ProducerProp {
            name: name.to_string(),
            value: PropValue::for_property(name, value.into()),
            from,
            note,
        });
    }

    /// Masks this configuration's secret values in text librdkafka wrote (its messages may quote
    /// a configuration value).
    pub(crate) fn scrubber(&self) -> Scrubber {
        Scrubber::new(self.props.iter().filter_map(|p| match &p.value {
            PropValue::Secret(s) => Some(s),
            PropValue::Plain(_) => None,
        }))
    }

    /// `(Flume property, effective value)` rows for `rflume check`, secrets masked.
    pub(crate) fn describe(&self) -> Vec<(String, String)> {
        self.describe_as(PRODUCER_PREFIX)
    }

    /// The same rows for settings read under `prefix` (`kafka.consumer.`).
    pub(crate) fn describe_as(&self, prefix: &str) -> Vec<(String, String)> {
        self.props
            .iter()
            // The broker list is shown as kafka.bootstrap.servers by the sink's own rows.
            .filter(|p| p.name != "bootstrap.servers")
            .map(|p| {
                // Display masks secrets.
                let value = p.value.to_string();
                let key = p
                    .from
                    .clone()
                    .unwrap_or_else(|| format!("{prefix}{}", p.name));
                let same_name = p.from.as_deref() == Some(&format!("{prefix}{}", p.name));
                let mut notes: Vec<String> = Vec::new();
                if !(same_name || p.from.is_none()) {
                    notes.push(format!("as librdkafka {}", p.name));
                }
                notes.extend(p.note.clone());
                let shown = if notes.is_empty() {
                    value
                } else {
                    format!("{value} ({})", notes.join("; "))
                };
                (key, shown)
            })
            .collect()
    }
}

/// Settings whose values must never be printed (passwords, private keys, JAAS lines, tokens).
fn is_secret(name: &str) -> bool {
    is_secret_key(name)
}

/// librdkafka aliases: two names that set one property. Setting both from one file is ambiguous
/// (`ClientConfig` is a hash map: which wins would be random), so it is reported.
const LIBRDKAFKA_ALIASES: &[(&str, &str)] = &[
    ("queue.buffering.max.ms", "linger.ms"),
    ("delivery.timeout.ms", "message.timeout.ms"),
    ("request.required.acks", "acks"),
    ("message.send.max.retries", "retries"),
    ("max.in.flight.requests.per.connection", "max.in.flight"),
    ("compression.codec", "compression.type"),
    ("sasl.mechanisms", "sasl.mechanism"),
    ("metadata.broker.list", "bootstrap.servers"),
];

fn canonical(name: &str) -> &str {
    LIBRDKAFKA_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, c)| *c)
        .unwrap_or(name)
}

/// Flume forces `acks = 1` (`KafkaSinkConstants.DEFAULT_ACKS`) unless the file says otherwise.
const DEFAULT_ACKS: &str = "1";
/// librdkafka's own default, set explicitly so `rflume check` shows it (Java's is 0).
const DEFAULT_LINGER_MS: &str = "5";
/// Kafka's `delivery.timeout.ms` default (kafka-clients 2.1+, Flume 1.11): how long a record may
/// wait for an acknowledgement before its batch is rolled back and retried.
const DEFAULT_MESSAGE_TIMEOUT_MS: &str = "120000";
/// Java's default partitioner hashes keys with murmur2; librdkafka's default (CRC32) would put
/// keyed records on other partitions than Flume did.
const DEFAULT_PARTITIONER_NAME: &str = "murmur2_random";
/// Java's producer default (librdkafka's is 10 s): a broker that comes back, or a leader that
/// moved to a broker the client had lost, is used again within a second, as with Flume.
const DEFAULT_RECONNECT_BACKOFF_MAX_MS: &str = "1000";
/// How long librdkafka waits for an answer to a metadata request before it goes back to the
/// broker list (KIP-1102; librdkafka's default is 5 minutes): a broker that hangs with its
/// connection open (SIGSTOP, a full disk, a network black hole) would otherwise hold up the
/// failover to another listed broker that long. The case where no request is sent at all (the
/// one broker librdkafka knows refuses connections) is the sink's own fallback
/// (`brokers::add_listed_brokers`).
const DEFAULT_REBOOTSTRAP_TRIGGER_MS: &str = "10000";

/// A value from the file: the Java key (without `kafka.producer.`), the value, the line, and the
/// Flume property that carried it (`requiredAcks` for the deprecated name).
#[derive(Clone, Debug)]
pub(crate) struct UserSetting {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
    pub(crate) flume_key: String,
}

impl UserSetting {
    pub(crate) fn from_prefixed(key: String, value: String, line: usize) -> Self {
        Self::under(PRODUCER_PREFIX, key, value, line)
    }

    /// A line `prefix` + `key` = `value` (`kafka.consumer.group.id`).
    pub(crate) fn under(prefix: &str, key: String, value: String, line: usize) -> Self {
        let flume_key = format!("{prefix}{key}");
        UserSetting {
            key,
            value: value.trim().to_string(),
            line,
            flume_key,
        }
    }
}

/// Translates the user's producer settings and adds rflume's defaults. `bootstrap_servers` is the
/// already-normalised broker list from `kafka.bootstrap.servers`. Problems are recorded on `r`.
pub(crate) fn translate(
    r: &mut PropReader,
    settings: &[UserSetting],
    bootstrap_servers: &str,
) -> ProducerProps {
    let by_key: BTreeMap<&str, &UserSetting> =
        settings.iter().map(|s| (s.key.as_str(), s)).collect();
    let mut out = ProducerProps::default();
    translate_each(r, settings, &mut out, |r, s, out| {
        translate_one(r, s, &by_key, out)
    });
    let rejected = check_each(r, settings, &mut out, PRODUCER_PREFIX, "Kafka producer");
    // rflume's defaults, unless the file set the same property (under any alias).
    if !out.contains("acks") {
        out.push(
            "acks",
            DEFAULT_ACKS,
            None,
            Some("Flume's default (librdkafka's is all)".into()),
        );
    }
    if !out.contains("linger.ms") {
        out.push(
            "linger.ms",
            DEFAULT_LINGER_MS,
            None,
            Some("rflume default".into()),
        );
    }
    if !out.contains("message.timeout.ms") {
        out.push(
            "message.timeout.ms",
            DEFAULT_MESSAGE_TIMEOUT_MS,
            None,
            Some(
                "Kafka's delivery.timeout.ms default; after it the batch is rolled back and \
                 retried"
                    .into(),
            ),
        );
    }
    if !out.contains("partitioner") {
        out.push(
            "partitioner",
            DEFAULT_PARTITIONER_NAME,
            None,
            Some("same key hashing as Flume's Java producer".into()),
        );
    }
    if !out.contains("reconnect.backoff.max.ms") {
        out.push(
            "reconnect.backoff.max.ms",
            DEFAULT_RECONNECT_BACKOFF_MAX_MS,
            None,
            Some("Java's producer default (librdkafka's is 10000)".into()),
        );
    }
    if !out.contains("metadata.recovery.rebootstrap.trigger.ms") {
        out.push(
            "metadata.recovery.rebootstrap.trigger.ms",
            DEFAULT_REBOOTSTRAP_TRIGGER_MS,
            None,
            Some(
                "rflume default (librdkafka's is 300000): the broker list is tried again after \
                 10 s without an answer to a metadata request"
                    .into(),
            ),
        );
    }
    cross_checks(r, settings, &out);
    out.push(
        "bootstrap.servers",
        bootstrap_servers,
        Some("kafka.bootstrap.servers".into()),
        None,
    );
    if !rejected && !r.failed() {
        probe(r, &out);
    }
    out
}

/// Applies `one` to every setting of the file, and reports two lines that set the same
/// librdkafka property (under any alias) on the second one.
pub(crate) fn translate_each(
    r: &mut PropReader,
    settings: &[UserSetting],
    out: &mut ProducerProps,
    mut one: impl FnMut(&mut PropReader, &UserSetting, &mut ProducerProps),
) {
    // Which user key produced each librdkafka property, to report alias clashes on the right line.
    let mut origin: Vec<(String, String, usize)> = Vec::new();
    for s in settings {
        let before = out.props.len();
        one(r, s, out);
        for p in &out.props[before..] {
            let canon = canonical(&p.name).to_string();
            if let Some((_, other, other_line)) = origin.iter().find(|(c, _, _)| *c == canon) {
                let full_other = r.full_key(other);
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!(
                        "sets librdkafka's {canon}, which {full_other} (line {other_line}) \
                         already sets"
                    ),
                    Some("keep only one of the two lines".to_string()),
                );
            }
            origin.push((canon, s.flume_key.clone(), s.line));
        }
    }
}

/// Each property alone must be acceptable to librdkafka; reports the user's key and line. A
/// name neither Java's client (`what`: "Kafka producer") nor librdkafka knows is what Java's
/// client logs as "supplied but isn't a known config" and ignores: rflume runs without it too,
/// and warns. Returns whether librdkafka rejected a value.
pub(crate) fn check_each(
    r: &mut PropReader,
    settings: &[UserSetting],
    out: &mut ProducerProps,
    prefix: &str,
    what: &str,
) -> bool {
    let mut rejected = false;
    let mut unknown: Vec<String> = Vec::new();
    for p in &out.props {
        if let Err(message) = check_with_librdkafka(&p.name, p.value.expose()) {
            let message = match &p.value {
                PropValue::Secret(s) => Scrubber::new([s]).scrub(&message).into_owned(),
                PropValue::Plain(_) => message,
            };
            let (key, line) = match &p.from {
                Some(from) => {
                    let s = settings.iter().find(|s| &s.flume_key == from);
                    (from.clone(), s.map(|s| s.line))
                }
                None => (format!("{prefix}{}", p.name), None),
            };
            if message.contains("No such configuration property") {
                unknown.push(p.name.clone());
                let hint = match java_settings::did_you_mean(&p.name) {
                    Some(name) => format!("did you mean {prefix}{name}?"),
                    None => "check the spelling".to_string(),
                };
                r.warn(
                    &key,
                    line,
                    format!(
                        "'{}' is neither a {what} setting nor a librdkafka property; \
                         ignored, as Flume's Java client ignores it ('supplied but isn't a \
                         known config')",
                        p.name
                    ),
                    Some(hint),
                );
            } else {
                rejected = true;
                let hint = format!("librdkafka's {} rejected the value", p.name);
                r.error(&key, line, format!("librdkafka: {message}"), Some(hint));
            }
        }
    }
    out.props.retain(|p| !unknown.contains(&p.name));
    rejected
}

/// The values Java's producer accepts for `acks` (`ConfigDef.ValidString.in`, case-sensitive,
/// after trimming); librdkafka accepts any count up to 1000, so rflume checks this itself.
const JAVA_ACKS: &[&str] = &["all", "-1", "0", "1"];

/// Settings that are each valid but not together, and values Java's producer refuses.
fn cross_checks(r: &mut PropReader, settings: &[UserSetting], out: &ProducerProps) {
    if let Some(s) = settings
        .iter()
        .find(|s| canonical(&s.key) == "acks" && !JAVA_ACKS.contains(&s.value.trim()))
    {
        r.error(
            &s.flume_key,
            Some(s.line),
            format!(
                "Invalid value {} for configuration acks: String must be one of: all, -1, 0, 1 \
                 (Java's producer refuses it, so Flume's sink would not start either)",
                s.value
            ),
            Some("use acks = all, 1 or 0".to_string()),
        );
    }
    // Kerberos needs librdkafka built with Cyrus SASL, which rflume's is not: Flume would run
    // this sink, rflume cannot (the drop-in policy's "unsupported").
    if let Some(s) = settings.iter().find(|s| {
        canonical(&s.key) == "sasl.mechanism" && s.value.trim().eq_ignore_ascii_case("GSSAPI")
    }) {
        if !librdkafka_has_feature("sasl_gssapi") {
            r.unsupported(
                &s.flume_key,
                Some(s.line),
                "SASL GSSAPI (Kerberos) is not built into this rflume: its librdkafka has no \
                 Cyrus SASL library",
                Some(
                    "keep this agent on Flume, or have the brokers offer SCRAM-SHA-256/512 (or \
                     PLAIN over TLS) and set kafka.producer.sasl.mechanism accordingly"
                        .to_string(),
                ),
            );
        }
    }
    let idempotent = out
        .get("enable.idempotence")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let acks = out.get("acks").unwrap_or(DEFAULT_ACKS);
    if idempotent && !(acks.eq_ignore_ascii_case("all") || acks == "-1") {
        let s = settings.iter().find(|s| s.key == "enable.idempotence");
        let key = s
            .map(|s| s.flume_key.clone())
            .unwrap_or_else(|| "kafka.producer.enable.idempotence".into());
        r.error(
            &key,
            s.map(|s| s.line),
            format!("enable.idempotence = true needs acks = all, but acks is {acks}"),
            Some(
                "set kafka.producer.acks = all (Flume's default acks = 1 makes Java's producer \
                 refuse to start the same way)"
                    .to_string(),
            ),
        );
    }
}
