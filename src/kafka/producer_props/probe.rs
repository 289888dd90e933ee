//! Asking librdkafka itself: whether one property and value are valid (`rd_kafka_conf_set`),
//! whether this build has a feature, and whether the whole configuration creates a producer. Its
//! own messages are turned into diagnostics on the user's line, so `rflume check` reports what
//! librdkafka would refuse or warn about when the agent starts.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

use super::{canonical, ProducerProp, ProducerProps, PRODUCER_PREFIX};
use crate::config::reader::PropReader;

/// `rd_kafka_conf_set` on an empty configuration: librdkafka's verdict on one property.
pub(crate) fn check_with_librdkafka(name: &str, value: &str) -> Result<(), String> {
    let mut c = ClientConfig::new();
    c.set(name, value);
    match c.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, message, _, _)) => Err(message),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether this librdkafka was built with `feature` (`ssl`, `sasl_scram`, `sasl_gssapi`, …;
/// librdkafka's `builtin.features`): what librdkafka refuses depends on how it was built.
pub(crate) fn librdkafka_has_feature(feature: &str) -> bool {
    ClientConfig::new()
        .create_native_config()
        .and_then(|c| c.get("builtin.features"))
        .is_ok_and(|f| f.split(',').any(|x| x.trim() == feature))
}

/// Creates (and drops) a producer without brokers so librdkafka checks the whole configuration —
/// combinations (`acks` vs idempotence, `batch.size` vs `message.max.bytes`, …) and scope
/// (consumer-only properties) — and turns its complaints into diagnostics.
pub(super) fn probe(r: &mut PropReader, props: &ProducerProps) {
    let mut config = props.client_config();
    config.remove("bootstrap.servers");
    config.set_log_level(RDKafkaLogLevel::Warning);
    let context = ProbeContext::default();
    match config.create_with_context::<_, BaseProducer<ProbeContext>>(context) {
        Ok(producer) => {
            // Configuration warnings are queued as log events at creation; serve them.
            for _ in 0..16 {
                producer.poll(Duration::ZERO);
            }
            let warnings = std::mem::take(
                &mut *producer
                    .context()
                    .warnings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            drop(producer);
            let scrubber = props.scrubber();
            for w in warnings {
                let w = scrubber.scrub(&w).into_owned();
                let (key, line) = blame(props, &w, r);
                r.warn(&key, line, format!("librdkafka: {w}"), None);
            }
        }
        Err(e) => {
            let message = match &e {
                KafkaError::ClientCreation(m) => m.clone(),
                other => other.to_string(),
            };
            let mut message = props.scrubber().scrub(&message).into_owned();
            // OpenSSL's "system lib" says nothing about a file that is not there.
            for p in &props.props {
                let path = p.value.expose();
                if p.name.ends_with(".location")
                    && message.contains(&format!("{} failed", p.name))
                    && !std::path::Path::new(path).exists()
                {
                    message.push_str(&format!(" ({path} does not exist)"));
                }
            }
            let (key, line) = blame(props, &message, r);
            r.error(
                &key,
                line,
                format!("librdkafka refuses this producer configuration: {message}"),
                None,
            );
        }
    }
}

/// The user's key a librdkafka message is about: the first property it names (librdkafka quotes
/// names in backticks or writes "property NAME"), else the first whose value it quotes (e.g. "No
/// provider for SASL mechanism SCRAM-SHA-256"), else the `kafka.producer.` prefix itself.
fn blame(props: &ProducerProps, message: &str, r: &PropReader) -> (String, Option<usize>) {
    let user_props = || {
        props
            .props
            .iter()
            .filter_map(|p| p.from.as_ref().map(|f| (p, f)))
    };
    let names = |p: &ProducerProp| [p.name.clone(), canonical(&p.name).to_string()];
    for (p, from) in user_props() {
        let mentioned = names(p).iter().any(|n| {
            message.contains(&format!("`{n}`"))
                || message.contains(&format!("property {n} "))
                || message.starts_with(&format!("{n} failed"))
                || message.contains(&format!("\"{n}\""))
        });
        if mentioned {
            return (from.clone(), r.line(from));
        }
    }
    for (p, from) in user_props() {
        // Short values ("1", "true") would match by accident; secrets are never compared.
        let Some(value) = p.value.plain() else {
            continue;
        };
        let distinctive = value.len() >= 4 && !value.eq_ignore_ascii_case("true");
        if distinctive && message.contains(value) {
            return (from.clone(), r.line(from));
        }
    }
    (format!("{PRODUCER_PREFIX}*"), None)
}

#[derive(Default)]
struct ProbeContext {
    warnings: Mutex<Vec<String>>,
}

impl ClientContext for ProbeContext {
    fn log(&self, level: RDKafkaLogLevel, _fac: &str, message: &str) {
        // The probe has no brokers on purpose; that warning is about the probe, not the file.
        if (level as i32) <= RDKafkaLogLevel::Warning as i32
            && !message.contains("bootstrap.servers")
        {
            self.warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.to_string());
        }
    }
    fn error(&self, _error: KafkaError, _reason: &str) {}
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}
