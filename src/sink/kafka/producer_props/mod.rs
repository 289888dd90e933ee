//! `kafka.producer.*` → librdkafka: Flume passes these to Java's `KafkaProducer`; rflume's producer
//! is librdkafka, whose settings mostly share the Java names but not always the meaning.
//!
//! Every key gets exactly one of four treatments, from [`JAVA_PRODUCER_SETTINGS`]:
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

mod jaas;
mod probe;
mod tls_stores;

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

use crate::config::reader::PropReader;
use jaas::parse_jaas;
pub use probe::librdkafka_has_feature;
use probe::{check_with_librdkafka, probe};
use tls_stores::{keystore, truststore};

/// The Flume property prefix of producer settings.
pub const PRODUCER_PREFIX: &str = "kafka.producer.";

/// One setting the librdkafka producer is created with.
#[derive(Clone, PartialEq, Eq)]
pub struct ProducerProp {
    /// librdkafka property name.
    pub name: String,
    pub value: String,
    /// The Flume property it came from (`kafka.producer.buffer.memory`, `requiredAcks`); `None`
    /// for a value rflume chose.
    pub from: Option<String>,
    /// Why the value is not exactly what the file says, or why rflume sets it.
    pub note: Option<String>,
}

/// Masks secrets: settings end up in `{:?}` logs.
impl std::fmt::Debug for ProducerProp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if is_secret(&self.name) {
            "******"
        } else {
            self.value.as_str()
        };
        f.debug_struct("ProducerProp")
            .field("name", &self.name)
            .field("value", &value)
            .field("from", &self.from)
            .field("note", &self.note)
            .finish()
    }
}

/// The librdkafka producer configuration derived from a Kafka sink's properties.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProducerProps {
    pub props: Vec<ProducerProp>,
}

impl ProducerProps {
    /// The value of a librdkafka property (any alias of it).
    pub fn get(&self, name: &str) -> Option<&str> {
        let canon = canonical(name);
        self.props
            .iter()
            .find(|p| canonical(&p.name) == canon)
            .map(|p| p.value.as_str())
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for p in &self.props {
            c.set(p.name.as_str(), p.value.as_str());
        }
        c
    }

    /// The property setting `name` (any alias of it), with its origin.
    pub fn find(&self, name: &str) -> Option<&ProducerProp> {
        let canon = canonical(name);
        self.props.iter().find(|p| canonical(&p.name) == canon)
    }

    fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn push(
        &mut self,
        name: &str,
        value: impl Into<String>,
        from: Option<String>,
        note: Option<String>,
    ) {
        self.props.push(ProducerProp {
            name: name.to_string(),
            value: value.into(),
            from,
            note,
        });
    }

    /// `(Flume property, effective value)` rows for `rflume check`, secrets masked.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.props
            .iter()
            // The broker list is shown as kafka.bootstrap.servers by the sink's own rows.
            .filter(|p| p.name != "bootstrap.servers")
            .map(|p| {
                let value = if is_secret(&p.name) {
                    "******".to_string()
                } else {
                    p.value.clone()
                };
                let key = p
                    .from
                    .clone()
                    .unwrap_or_else(|| format!("{PRODUCER_PREFIX}{}", p.name));
                let same_name = p.from.as_deref() == Some(&format!("{PRODUCER_PREFIX}{}", p.name));
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

/// Settings whose values must never be printed.
fn is_secret(name: &str) -> bool {
    name.contains("password")
        || name.contains("secret")
        || name == "ssl.key.pem"
        || name == "sasl.jaas.config"
        || name == "sasl.oauthbearer.config"
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

/// What rflume does with a Java producer setting.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// librdkafka has the same name with the same meaning and units.
    Same,
    /// librdkafka calls it something else; same units.
    Rename(&'static str),
    /// Java bytes → librdkafka kilobytes (`buffer.memory`).
    BytesToKbytes(&'static str),
    /// Java's `-1` (OS default) is librdkafka's `0`.
    SocketBuffer(&'static str),
    /// Harmless Java-only setting; the text says why it has no effect.
    NoEffect(&'static str),
    /// Changes behaviour in a way rflume cannot reproduce; text = why and what to do instead.
    Unsupported(&'static str),
    /// Needs a look at the value or at other keys; handled in code.
    Special,
}

/// Kafka producer settings (kafka-clients 2.0 as in Flume 1.9 through 2.7 in Flume 1.11, plus the
/// few later names users copy from newer docs) and how rflume maps each one.
const JAVA_PRODUCER_SETTINGS: &[(&str, Rule)] = &[
    ("acks", Rule::Same),
    ("batch.size", Rule::Same),
    ("client.id", Rule::Same),
    ("compression.type", Rule::Same),
    ("connections.max.idle.ms", Rule::Same),
    ("enable.idempotence", Rule::Same),
    ("linger.ms", Rule::Same),
    ("max.in.flight.requests.per.connection", Rule::Same),
    ("metadata.max.age.ms", Rule::Same),
    ("reconnect.backoff.max.ms", Rule::Same),
    ("reconnect.backoff.ms", Rule::Same),
    ("request.timeout.ms", Rule::Same),
    ("retries", Rule::Same),
    ("retry.backoff.max.ms", Rule::Same),
    ("retry.backoff.ms", Rule::Same),
    ("sasl.kerberos.min.time.before.relogin", Rule::Same),
    ("sasl.kerberos.service.name", Rule::Same),
    ("sasl.mechanism", Rule::Same),
    ("security.protocol", Rule::Same),
    ("socket.connection.setup.timeout.ms", Rule::Same),
    ("ssl.key.password", Rule::Same),
    ("delivery.timeout.ms", Rule::Rename("message.timeout.ms")),
    ("max.request.size", Rule::Rename("message.max.bytes")),
    ("ssl.keystore.key", Rule::Rename("ssl.key.pem")),
    ("ssl.keystore.certificate.chain", Rule::Rename("ssl.certificate.pem")),
    ("ssl.truststore.certificates", Rule::Rename("ssl.ca.pem")),
    ("buffer.memory", Rule::BytesToKbytes("queue.buffering.max.kbytes")),
    ("send.buffer.bytes", Rule::SocketBuffer("socket.send.buffer.bytes")),
    ("receive.buffer.bytes", Rule::SocketBuffer("socket.receive.buffer.bytes")),
    ("max.block.ms", Rule::NoEffect(
        "librdkafka never blocks the sender: rflume waits for producer queue space itself and \
         bounds each record by delivery.timeout.ms (librdkafka message.timeout.ms)")),
    ("metadata.max.idle.ms", Rule::NoEffect(
        "librdkafka refreshes metadata only for topics it produces to")),
    ("metric.reporters", Rule::NoEffect(
        "Java metrics reporters cannot run; rflume reports Flume's counters itself")),
    ("metrics.num.samples", Rule::NoEffect("it only tunes Java client metrics")),
    ("metrics.recording.level", Rule::NoEffect("it only tunes Java client metrics")),
    ("metrics.sample.window.ms", Rule::NoEffect("it only tunes Java client metrics")),
    ("auto.include.jmx.reporter", Rule::NoEffect("there is no JMX in rflume")),
    ("transaction.timeout.ms", Rule::NoEffect(
        "the Kafka sink does not use Kafka transactions (neither does Flume's)")),
    ("internal.auto.downgrade.txn.commit", Rule::NoEffect(
        "the Kafka sink does not use Kafka transactions (neither does Flume's)")),
    ("socket.connection.setup.timeout.max.ms", Rule::NoEffect(
        "librdkafka has a single connection setup timeout (socket.connection.setup.timeout.ms)")),
    ("partitioner.adaptive.partitioning.enable", Rule::NoEffect(
        "rflume uses librdkafka's partitioner (murmur2_random, the same key hashing as Java's)")),
    ("partitioner.availability.timeout.ms", Rule::NoEffect(
        "rflume uses librdkafka's partitioner (murmur2_random, the same key hashing as Java's)")),
    ("ssl.protocol", Rule::NoEffect(
        "TLS is negotiated by OpenSSL inside librdkafka, which offers TLS 1.2 and 1.3")),
    ("ssl.provider", Rule::NoEffect("TLS is done by OpenSSL inside librdkafka")),
    ("ssl.keymanager.algorithm", Rule::NoEffect("TLS is done by OpenSSL inside librdkafka")),
    ("ssl.trustmanager.algorithm", Rule::NoEffect("TLS is done by OpenSSL inside librdkafka")),
    ("ssl.secure.random.implementation", Rule::NoEffect(
        "TLS is done by OpenSSL inside librdkafka")),
    ("ssl.truststore.password", Rule::NoEffect(
        "librdkafka reads CA certificates from PEM (ssl.ca.location), which has no password")),
    ("sasl.kerberos.kinit.cmd", Rule::NoEffect(
        "librdkafka runs kinit itself (its sasl.kerberos.kinit.cmd is a command template, not \
         the path Java expects)")),
    ("sasl.kerberos.ticket.renew.jitter", Rule::NoEffect(
        "librdkafka renews Kerberos tickets every sasl.kerberos.min.time.before.relogin")),
    ("sasl.kerberos.ticket.renew.window.factor", Rule::NoEffect(
        "librdkafka renews Kerberos tickets every sasl.kerberos.min.time.before.relogin")),
    ("sasl.login.refresh.buffer.seconds", Rule::NoEffect(
        "it tunes Java's OAUTHBEARER token refresh")),
    ("sasl.login.refresh.min.period.seconds", Rule::NoEffect(
        "it tunes Java's OAUTHBEARER token refresh")),
    ("sasl.login.refresh.window.factor", Rule::NoEffect(
        "it tunes Java's OAUTHBEARER token refresh")),
    ("sasl.login.refresh.window.jitter", Rule::NoEffect(
        "it tunes Java's OAUTHBEARER token refresh")),
    ("interceptor.classes", Rule::Unsupported(
        "rflume cannot run Java producer interceptors; use a Flume interceptor on the source \
         instead, or remove the line")),
    ("transactional.id", Rule::Unsupported(
        "the Kafka sink does not use Kafka transactions, and with a transactional.id set every \
         send fails (Flume's Java producer fails the same way); remove the line")),
    ("security.providers", Rule::Unsupported(
        "Java security providers cannot run in rflume; TLS and SASL are done by librdkafka \
         (OpenSSL, Cyrus SASL); remove the line")),
    ("ssl.engine.factory.class", Rule::Unsupported(
        "a Java SSLEngine factory cannot run in rflume; configure TLS with librdkafka's PEM \
         settings (kafka.producer.ssl.ca.location, ssl.certificate.location, ssl.key.location)")),
    ("sasl.client.callback.handler.class", Rule::Unsupported(
        "Java SASL callback handlers cannot run in rflume; use sasl.mechanism with \
         sasl.username/sasl.password (PLAIN, SCRAM) or librdkafka's Kerberos/OIDC settings")),
    ("sasl.login.callback.handler.class", Rule::Unsupported(
        "Java SASL callback handlers cannot run in rflume; use sasl.mechanism with \
         sasl.username/sasl.password (PLAIN, SCRAM) or librdkafka's Kerberos/OIDC settings")),
    ("sasl.login.class", Rule::Unsupported(
        "Java login classes cannot run in rflume; use sasl.mechanism with \
         sasl.username/sasl.password (PLAIN, SCRAM) or librdkafka's Kerberos/OIDC settings")),
    ("bootstrap.servers", Rule::Special),
    ("client.dns.lookup", Rule::Special),
    ("key.serializer", Rule::Special),
    ("value.serializer", Rule::Special),
    ("partitioner.class", Rule::Special),
    ("partitioner.ignore.keys", Rule::Special),
    ("sasl.jaas.config", Rule::Special),
    ("ssl.cipher.suites", Rule::Special),
    ("ssl.enabled.protocols", Rule::Special),
    ("ssl.endpoint.identification.algorithm", Rule::Special),
    ("ssl.keystore.location", Rule::Special),
    ("ssl.keystore.password", Rule::Special),
    ("ssl.keystore.type", Rule::Special),
    ("ssl.truststore.location", Rule::Special),
    ("ssl.truststore.type", Rule::Special),
    // Flume 1.11's own switch (KafkaSSLUtil): Java cannot take an empty
    // ssl.endpoint.identification.algorithm from a properties file.
    ("ssl.disableTLSHostnameVerification", Rule::Special),
];

/// librdkafka settings a user may not override, because the sink's correctness depends on them.
const RESERVED: &[(&str, &str)] = &[
    (
        "delivery.report.only.error",
        "the sink commits a take only after a delivery report for every record",
    ),
    (
        "log.queue",
        "rflume routes librdkafka's logs through its own rate-limited logging",
    ),
    (
        "enabled_events",
        "rflume needs librdkafka's delivery-report and error events",
    ),
];

/// Java's defaults for the two serializers; Flume sets exactly these.
const STRING_SERIALIZER: &str = "org.apache.kafka.common.serialization.StringSerializer";
const BYTE_ARRAY_SERIALIZER: &str = "org.apache.kafka.common.serialization.ByteArraySerializer";
const DEFAULT_PARTITIONER: &str = "org.apache.kafka.clients.producer.internals.DefaultPartitioner";

/// Flume forces `acks = 1` (`KafkaSinkConstants.DEFAULT_ACKS`) unless the file says otherwise.
pub const DEFAULT_ACKS: &str = "1";
/// librdkafka's own default, set explicitly so `rflume check` shows it (Java's is 0).
pub const DEFAULT_LINGER_MS: &str = "5";
/// Kafka's `delivery.timeout.ms` default (kafka-clients 2.1+, Flume 1.11): how long a record may
/// wait for an acknowledgement before its batch is rolled back and retried.
pub const DEFAULT_MESSAGE_TIMEOUT_MS: &str = "120000";
/// Java's default partitioner hashes keys with murmur2; librdkafka's default (CRC32) would put
/// keyed records on other partitions than Flume did.
pub const DEFAULT_PARTITIONER_NAME: &str = "murmur2_random";

/// A value from the file: the Java key (without `kafka.producer.`), the value, the line, and the
/// Flume property that carried it (`requiredAcks` for the deprecated name).
#[derive(Clone, Debug)]
pub struct UserSetting {
    pub key: String,
    pub value: String,
    pub line: usize,
    pub flume_key: String,
}

impl UserSetting {
    pub fn from_prefixed(key: String, value: String, line: usize) -> Self {
        let flume_key = format!("{PRODUCER_PREFIX}{key}");
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
pub fn translate(
    r: &mut PropReader,
    settings: &[UserSetting],
    bootstrap_servers: &str,
) -> ProducerProps {
    let by_key: BTreeMap<&str, &UserSetting> =
        settings.iter().map(|s| (s.key.as_str(), s)).collect();
    let mut out = ProducerProps::default();
    // Which user key produced each librdkafka property, to report alias clashes on the right line.
    let mut origin: Vec<(String, String, usize)> = Vec::new();
    for s in settings {
        let before = out.props.len();
        translate_one(r, s, &by_key, &mut out);
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
    // Each property alone must be acceptable to librdkafka; report the user's key and line.
    let mut rejected = false;
    for p in &out.props {
        if let Err(message) = check_with_librdkafka(&p.name, &p.value) {
            rejected = true;
            let (key, line) = match &p.from {
                Some(from) => {
                    let s = settings.iter().find(|s| &s.flume_key == from);
                    (from.clone(), s.map(|s| s.line))
                }
                None => (format!("{PRODUCER_PREFIX}{}", p.name), None),
            };
            let hint = if message.contains("No such configuration property") {
                "neither a Kafka producer setting nor a librdkafka property; check the spelling \
                 (Flume's Java producer would log 'isn't a known config' and ignore it)"
                    .to_string()
            } else {
                format!("librdkafka's {} rejected the value", p.name)
            };
            r.error(&key, line, format!("librdkafka: {message}"), Some(hint));
        }
    }
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

fn translate_one(
    r: &mut PropReader,
    s: &UserSetting,
    by_key: &BTreeMap<&str, &UserSetting>,
    out: &mut ProducerProps,
) {
    let from = Some(s.flume_key.clone());
    let rule = JAVA_PRODUCER_SETTINGS
        .iter()
        .find(|(k, _)| *k == s.key)
        .map(|(_, rule)| *rule);
    match rule {
        Some(Rule::Same) => out.push(&s.key, &s.value, from, None),
        Some(Rule::Rename(to)) => out.push(to, &s.value, from, None),
        Some(Rule::BytesToKbytes(to)) => match s.value.parse::<u64>() {
            Ok(bytes) => {
                let kbytes = (bytes / 1024).max(1);
                out.push(
                    to,
                    kbytes.to_string(),
                    from,
                    Some(format!("{} bytes = {kbytes} KiB", s.value)),
                )
            }
            Err(_) => r.error(
                &s.flume_key,
                Some(s.line),
                format!("'{}' is not a number of bytes", s.value),
                None,
            ),
        },
        Some(Rule::SocketBuffer(to)) => match s.value.parse::<i64>() {
            Ok(-1) => out.push(
                to,
                "0",
                from,
                Some("Java's -1 (OS default) is librdkafka's 0".into()),
            ),
            Ok(_) => out.push(to, &s.value, from, None),
            Err(_) => r.error(
                &s.flume_key,
                Some(s.line),
                format!("'{}' is not a number of bytes", s.value),
                None,
            ),
        },
        Some(Rule::NoEffect(why)) => no_effect(r, s, why),
        Some(Rule::Unsupported(why)) => r.error(
            &s.flume_key,
            Some(s.line),
            format!(
                "{} cannot be honoured by rflume's librdkafka producer",
                s.key
            ),
            Some(why.to_string()),
        ),
        Some(Rule::Special) => special(r, s, by_key, out),
        None => {
            if let Some((_, why)) = RESERVED.iter().find(|(k, _)| *k == s.key) {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!("librdkafka's {} cannot be changed in the Kafka sink", s.key),
                    Some(format!("{why}; remove the line")),
                );
            } else {
                // Not a Java name: a librdkafka property (checked against librdkafka below).
                out.push(&s.key, &s.value, from, Some("librdkafka property".into()))
            }
        }
    }
}

fn no_effect(r: &mut PropReader, s: &UserSetting, why: &str) {
    r.warn(
        &s.flume_key,
        Some(s.line),
        format!("{} has no effect in rflume because {why}", s.key),
        Some("you may delete the line".to_string()),
    );
}

/// Settings whose treatment depends on their value or on other settings.
fn special(
    r: &mut PropReader,
    s: &UserSetting,
    by_key: &BTreeMap<&str, &UserSetting>,
    out: &mut ProducerProps,
) {
    let from = Some(s.flume_key.clone());
    let v = s.value.as_str();
    match s.key.as_str() {
        "bootstrap.servers" => r.warn(
            &s.flume_key,
            Some(s.line),
            "ignored: Flume always uses kafka.bootstrap.servers for the broker list",
            Some("delete the line and keep the brokers in kafka.bootstrap.servers".to_string()),
        ),
        "client.dns.lookup" => {
            if v == "default" {
                no_effect(
                    r,
                    s,
                    "'default' is Java's legacy lookup; librdkafka uses every DNS address",
                )
            } else {
                out.push("client.dns.lookup", v, from, None)
            }
        }
        "key.serializer" | "value.serializer" => {
            let (default, what) = if s.key == "key.serializer" {
                (
                    STRING_SERIALIZER,
                    "the `key` header as UTF-8, as StringSerializer does",
                )
            } else {
                (
                    BYTE_ARRAY_SERIALIZER,
                    "the event body bytes as they are, as ByteArraySerializer does",
                )
            };
            if v == default {
                no_effect(r, s, &format!("rflume always sends {what}"))
            } else {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!("a custom {} ({v}) cannot run in rflume", s.key),
                    Some(format!(
                        "rflume sends {what}; with useFlumeEventFormat = true the value is Flume's \
                         Avro event. Remove the line, or convert the data downstream"
                    )),
                )
            }
        }
        "partitioner.class" => {
            if v == DEFAULT_PARTITIONER {
                no_effect(
                    r,
                    s,
                    "it is Java's default; rflume's librdkafka partitioner murmur2_random hashes \
                     keys the same way",
                )
            } else {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!("a custom partitioner class ({v}) cannot run in rflume"),
                    Some(
                        "choose a partition per event with partitionIdHeader or defaultPartitionId, \
                         or one of librdkafka's built-in partitioners with kafka.producer.partitioner \
                         (murmur2_random = Java's default, consistent_random, fnv1a_random, random)"
                            .to_string(),
                    ),
                )
            }
        }
        "partitioner.ignore.keys" => {
            if v.eq_ignore_ascii_case("false") {
                no_effect(r, s, "false is the default")
            } else {
                out.push(
                    "partitioner",
                    "random",
                    from,
                    Some("Java's partitioner.ignore.keys=true".into()),
                )
            }
        }
        "sasl.jaas.config" => match parse_jaas(v) {
            Ok(props) => {
                for (name, value) in props {
                    out.push(
                        name,
                        value,
                        from.clone(),
                        Some("from sasl.jaas.config".into()),
                    );
                }
            }
            Err(why) => r.error(
                &s.flume_key,
                Some(s.line),
                format!("sasl.jaas.config cannot be used by librdkafka: {why}"),
                Some(
                    "use PlainLoginModule or ScramLoginModule with username=\"…\" password=\"…\" \
                     (rflume passes them as librdkafka's sasl.username/sasl.password), or \
                     Krb5LoginModule with keyTab=\"…\" principal=\"…\"; or set \
                     kafka.producer.sasl.username / sasl.password directly"
                        .to_string(),
                ),
            ),
        },
        "ssl.cipher.suites" => {
            let java_names: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|c| c.starts_with("TLS_") || c.starts_with("SSL_"))
                .collect();
            if java_names.is_empty() {
                out.push("ssl.cipher.suites", v, from, None)
            } else {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!(
                        "{} are Java (IANA) cipher suite names; librdkafka takes OpenSSL names",
                        java_names.join(", ")
                    ),
                    Some(
                        "translate them with `openssl ciphers -stdname` (e.g. \
                         TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 is ECDHE-RSA-AES256-GCM-SHA384) \
                         or remove the line"
                            .to_string(),
                    ),
                )
            }
        }
        "ssl.enabled.protocols" => {
            let only_modern = v
                .split(',')
                .map(str::trim)
                .all(|p| p == "TLSv1.2" || p == "TLSv1.3");
            if only_modern {
                no_effect(
                    r,
                    s,
                    "librdkafka's OpenSSL negotiates TLS 1.2 or 1.3 by itself",
                )
            } else {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!("librdkafka cannot be limited to the TLS versions '{v}'"),
                    Some("OpenSSL negotiates TLS 1.2 or 1.3; remove the line".to_string()),
                )
            }
        }
        "ssl.endpoint.identification.algorithm" => {
            let lower = v.to_ascii_lowercase();
            if lower == "https" || lower == "none" {
                out.push("ssl.endpoint.identification.algorithm", lower, from, None)
            } else {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!("'{v}' is not an endpoint identification algorithm librdkafka knows"),
                    Some(
                        "use https (check the broker's host name, the default) or none".to_string(),
                    ),
                )
            }
        }
        "ssl.disableTLSHostnameVerification" => {
            if v.eq_ignore_ascii_case("true") {
                out.push(
                    "ssl.endpoint.identification.algorithm",
                    "none",
                    from,
                    Some("Flume's ssl.disableTLSHostnameVerification = true".into()),
                )
            } else if !v.eq_ignore_ascii_case("false") {
                r.error(
                    &s.flume_key,
                    Some(s.line),
                    format!("'{v}' is not a boolean"),
                    Some("use true or false".into()),
                )
            }
        }
        "ssl.keystore.location" => keystore(r, s, by_key, out),
        "ssl.keystore.password" => {
            // Only meaningful with a PKCS#12 keystore, which librdkafka reads with this password.
            let keystore_used = by_key.get("ssl.keystore.location").is_some();
            if keystore_used {
                out.push("ssl.keystore.password", v, from, None)
            } else {
                no_effect(r, s, "no ssl.keystore.location is set")
            }
        }
        "ssl.keystore.type" | "ssl.truststore.type" => {
            // Consumed together with the matching *.location.
            let location = s.key.replace(".type", ".location");
            if by_key.get(location.as_str()).is_none() {
                no_effect(r, s, &format!("no {location} is set"))
            }
        }
        "ssl.truststore.location" => truststore(r, s, by_key, out),
        other => {
            // Unreachable by construction of the table; keep the key visible rather than drop it.
            out.push(other, v, from, None)
        }
    }
}

/// Settings that are each valid but not together.
fn cross_checks(r: &mut PropReader, settings: &[UserSetting], out: &ProducerProps) {
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
