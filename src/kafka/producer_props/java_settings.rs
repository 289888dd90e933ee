//! The Java producer settings and what each becomes for librdkafka: one row per
//! `kafka.producer.*` name Java's `KafkaProducer` knows, with one of the treatments listed in the
//! folder's module doc, then the code that applies a row to one setting of the file. The table is
//! long on purpose: every Java name is answered here, so none is passed to librdkafka by accident
//! under a meaning it does not have there.

use std::collections::BTreeMap;

use super::jaas::{parse_jaas, JaasError};
use super::tls_stores::{keystore, truststore};
use super::{ProducerProps, UserSetting};
use crate::config::reader::PropReader;

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
    /// Flume's Java producer runs with it (the class is on its classpath) and rflume cannot:
    /// the agent refuses to start unless the operator opts in to run the rest. Text = why and
    /// what to do instead.
    Unsupported(&'static str),
    /// Java's producer fails with it too: a config error, the component is dropped as Flume's
    /// would fail. Text = why and what to do instead.
    Refused(&'static str),
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
    ("transactional.id", Rule::Refused(
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

/// The Java producer setting a mistyped name is closest to (`ack` → `acks`), if any is within
/// two edits.
pub(crate) fn did_you_mean(name: &str) -> Option<&'static str> {
    JAVA_PRODUCER_SETTINGS
        .iter()
        .map(|(known, _)| (*known, strsim::damerau_levenshtein(name, known)))
        .filter(|(known, d)| *d <= 2 && *d < known.len() / 2)
        .min_by_key(|(_, d)| *d)
        .map(|(known, _)| known)
}

pub(crate) fn translate_one(
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
        Some(Rule::Unsupported(why)) => r.unsupported(
            &s.flume_key,
            Some(s.line),
            format!(
                "{} cannot be honoured by rflume's librdkafka producer",
                s.key
            ),
            Some(why.to_string()),
        ),
        Some(Rule::Refused(why)) => r.error(
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
                r.unsupported(
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
                r.unsupported(
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
            Err(why) => {
                let message = format!("sasl.jaas.config cannot be used by librdkafka: {why}");
                let hint = Some(
                    "use PlainLoginModule or ScramLoginModule with username=\"…\" password=\"…\" \
                     (rflume passes them as librdkafka's sasl.username/sasl.password), or \
                     Krb5LoginModule with keyTab=\"…\" principal=\"…\"; or set \
                     kafka.producer.sasl.username / sasl.password directly"
                        .to_string(),
                );
                // A line Java's JaasConfig refuses fails Flume's producer too; one it runs and
                // librdkafka has no equivalent for is rflume's gap.
                match why {
                    JaasError::Invalid(_) => r.error(&s.flume_key, Some(s.line), message, hint),
                    JaasError::NoEquivalent(_) => {
                        r.unsupported(&s.flume_key, Some(s.line), message, hint)
                    }
                }
            }
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
                r.unsupported(
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
                r.unsupported(
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
