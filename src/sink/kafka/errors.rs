//! Which Kafka errors a retry can fix and which it cannot.
//!
//! Flume rolls a batch back and retries it whatever the error, so a record Kafka will never
//! accept wedges its channel for good. rflume keeps Flume's roll-back-and-retry for retriable
//! errors; a record that is **rejected** is diverted on its own (`dead_letter.rs`: to the
//! dead-letter file by default, or dropped, or — `rflume.onRejected = retry` — Flume's retry)
//! while the rest of its batch is delivered and committed. The kind of failure is also named in
//! the runner's log, so an outage, which passes, is told from a rejection, which does not.
//!
//! Caveat: the broker checks `max.message.bytes` per record *batch*, so a topic whose limit is
//! smaller than the producer's `batch.size` can reject a batch of small records; each of them is
//! then diverted (not lost). Keep `kafka.producer.batch.size` at or below the topic's limit.
//!
//! **Rejected** (the same record fails again on every retry):
//! * `MessageSizeTooLarge` (10), `InvalidMessageSize` (4), `MessageBatchTooLarge` (18,
//!   `RECORD_LIST_TOO_LARGE`): the record is larger than the broker's or topic's
//!   `max.message.bytes` or the producer's `message.max.bytes`;
//! * `InvalidMessage` (2, `CORRUPT_MESSAGE`), `InvalidRecord` (87), `InvalidTimestamp` (32),
//!   `UnsupportedForMessageFormat` (43), `BadMessage` (local): the broker's validation refuses
//!   the record itself;
//! * `InvalidTopic` (17): a topic name Kafka cannot have (e.g. from a `%{header}` escape);
//! * `TopicAuthorizationFailed` (29), `ClusterAuthorizationFailed` (31): the credentials may not
//!   write there — an operator has to change an ACL;
//! * `InvalidRequiredAcks` (21), `PolicyViolation` (44), `UnknownPartition` (local: a
//!   `partitionIdHeader`/`defaultPartitionId` naming a partition the topic does not have),
//!   `InvalidArgument` (local).
//!
//! **Retriable**: everything else, notably `MessageTimedOut` (brokers down for
//! `message.timeout.ms`), `NotEnoughReplicas`, `NotLeaderForPartition`, `LeaderNotAvailable`,
//! `RequestTimedOut`, transport failures, `UnknownTopicOrPartition` (the topic may still be
//! created) and purges at a stop deadline.

use rdkafka::error::RDKafkaErrorCode;

use crate::sink::Failure;

/// What to do about a client-wide error librdkafka reports (TLS, SASL, a wrong protocol), in the
/// operator's terms and Flume's property names; `None` when the error says it all. librdkafka's
/// own text names OpenSSL's reason ("certificate verify failed", "certificate has expired") or the
/// broker's ("invalid-proof"), which tells the cause only to a reader who knows both.
pub fn explain(code: Option<RDKafkaErrorCode>, reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    let has = |s: &str| r.contains(s);
    if has("certificate has expired") || has("certificate is not yet valid") {
        return Some(
            "the broker's TLS certificate is outside its validity dates (expired, or the clock \
             is wrong): renew the broker's certificate",
        );
    }
    if has("self-signed certificate")
        || has("self signed certificate")
        || has("unable to get local issuer certificate")
        || has("unable to get issuer certificate")
    {
        return Some(
            "the broker's TLS certificate is not signed by a CA this agent trusts: set \
             kafka.producer.ssl.truststore.location (PEM, ssl.truststore.type = PEM) or \
             kafka.producer.ssl.ca.location to the CA certificate that signed it",
        );
    }
    if has("hostname mismatch") || has("ip address mismatch") {
        return Some(
            "the broker's TLS certificate does not name the host in kafka.bootstrap.servers (its \
             subjectAltName): use the name in the certificate, or set \
             kafka.producer.ssl.endpoint.identification.algorithm = none",
        );
    }
    if has("certificate verify failed") {
        return Some(
            "the broker's TLS certificate could not be verified: check that \
             kafka.producer.ssl.truststore.location / ssl.ca.location holds the CA that signed it, \
             that it is within its validity dates and that it names this host",
        );
    }
    // Mutual TLS: with TLS 1.2 the broker aborts the handshake (librdkafka adds "client SSL
    // authentication might be required"), with TLS 1.3 it sends OpenSSL's "certificate
    // required" alert; a certificate it does not trust is a "bad certificate" or "unknown ca"
    // alert. librdkafka's own hint names its settings, not the Flume properties to set.
    if has("client ssl authentication might be required")
        || has("alert certificate required")
        || has("alert bad certificate")
        || has("alert unknown ca")
    {
        return Some(
            "the broker requires a TLS client certificate (its listener has ssl.client.auth = \
             required) and did not accept this agent's: set kafka.producer.ssl.keystore.location \
             to the agent's certificate and key (PKCS#12 with ssl.keystore.password, or PEM with \
             ssl.keystore.type = PEM), signed by a CA in the broker's ssl.truststore",
        );
    }
    if has("wrong version number") || has("packet length too long") || has("unexpected eof") {
        return Some(
            "the TLS handshake got no TLS answer: the broker's port may not speak TLS — check \
             kafka.producer.security.protocol (SSL / SASL_SSL) against the listener",
        );
    }
    if has("invalid-proof") || has("invalid credentials") || has("authentication failed") {
        return Some(
            "the broker refused the SASL credentials (wrong password?): check the username and \
             password in kafka.producer.sasl.jaas.config and kafka.producer.sasl.mechanism",
        );
    }
    if has("unknown-user") {
        return Some(
            "the broker does not know this SASL user: check the username in \
             kafka.producer.sasl.jaas.config, and that the user exists for \
             kafka.producer.sasl.mechanism (SCRAM credentials are per mechanism)",
        );
    }
    if has("unsupported sasl mechanism") || has("no provider for sasl mechanism") {
        return Some(
            "the SASL mechanism is not available: check kafka.producer.sasl.mechanism against \
             what the broker enables (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI)",
        );
    }
    if code == Some(RDKafkaErrorCode::Authentication) {
        return Some(
            "authentication with the broker failed: check kafka.producer.security.protocol, \
             sasl.mechanism and the credentials in sasl.jaas.config",
        );
    }
    None
}

/// The errors that reject a record for good: no retry can make Kafka accept it (README,
/// "Delivery guarantees", lists them with the reasons; a test keeps the two lists equal).
/// Every other code is retriable: outages, timeouts, leader changes, `NotEnoughReplicas`, a
/// missing topic that may yet be created, …
pub const REJECTED: &[RDKafkaErrorCode] = {
    use RDKafkaErrorCode as C;
    &[
        // Larger than the topic's max.message.bytes or librdkafka's message.max.bytes.
        C::MessageSizeTooLarge,
        C::InvalidMessageSize,
        C::MessageBatchTooLarge, // Kafka's RECORD_LIST_TOO_LARGE
        // The broker's validation refuses the record itself.
        C::InvalidMessage, // Kafka's CORRUPT_MESSAGE
        C::InvalidRecord,
        C::InvalidTimestamp,
        C::UnsupportedForMessageFormat,
        C::BadMessage,
        // A topic name Kafka cannot have.
        C::InvalidTopic,
        // The credentials may not write there: an ACL must change first.
        C::TopicAuthorizationFailed,
        C::ClusterAuthorizationFailed,
        // The record names something that does not exist or is not allowed.
        C::InvalidRequiredAcks,
        C::PolicyViolation,
        C::UnknownPartition,
        C::InvalidArgument,
    ]
};

/// The kind of failure a Kafka error code means for the record that met it.
pub fn classify(code: RDKafkaErrorCode) -> Failure {
    if REJECTED.contains(&code) {
        Failure::Rejected {
            code: format!("{code:?}"),
        }
    } else {
        Failure::Retriable
    }
}

/// Why a batch failed: the message to log and the kind of failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError {
    pub message: String,
    pub failure: Failure,
}

impl BatchError {
    pub fn retriable(message: impl Into<String>) -> Self {
        BatchError {
            message: message.into(),
            failure: Failure::Retriable,
        }
    }

    /// A failure for every retry of this event that is not a Kafka error code (e.g. a
    /// `partitionIdHeader` value that is not a number).
    pub fn rejected(code: &str, message: impl Into<String>) -> Self {
        BatchError {
            message: message.into(),
            failure: Failure::Rejected {
                code: code.to_string(),
            },
        }
    }

    pub fn from_code(code: Option<RDKafkaErrorCode>, message: impl Into<String>) -> Self {
        BatchError {
            message: message.into(),
            failure: code.map_or(Failure::Retriable, classify),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka's own texts (2.12) for the failures an operator meets first.
    #[test]
    fn tls_and_sasl_failures_are_explained() {
        let cases = [
            ("SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 2ms in state SSL_HANDSHAKE)", "could not be verified"),
            ("ssl.ca.location: certificate verify failed: self-signed certificate in certificate chain", "not signed by a CA"),
            ("SSL handshake failed: certificate verify failed: certificate has expired", "validity dates"),
            ("SASL SCRAM-SHA-256 mechanism handshake failed: Broker: SASL Authentication failed: invalid-proof", "wrong password"),
            ("SASL authentication error: unknown-user", "does not know this SASL user"),
            ("SSL handshake failed: error:0A00010B:SSL routines::wrong version number", "may not speak TLS"),
            // Kafka 2.3.1 with ssl.client.auth = required, TLS 1.2, no client certificate.
            ("SSL handshake failed: error:0A0000F4:SSL routines::unexpected message: client SSL authentication might be required (see ssl.key.location and ssl.certificate.location and consult the broker logs for more information)", "requires a TLS client certificate"),
            ("SSL handshake failed: error:0A00045C:SSL routines::tlsv13 alert certificate required: SSL alert number 116", "requires a TLS client certificate"),
            ("SSL handshake failed: error:0A000412:SSL routines::sslv3 alert bad certificate: SSL alert number 42", "requires a TLS client certificate"),
        ];
        for (reason, want) in cases {
            let got = explain(Some(RDKafkaErrorCode::Authentication), reason).unwrap_or("(none)");
            assert!(got.contains(want), "{reason}: {got}");
        }
        assert_eq!(
            explain(
                Some(RDKafkaErrorCode::AllBrokersDown),
                "1/1 brokers are down"
            ),
            None
        );
    }

    /// README's table of errors that reject a record for good names exactly [`REJECTED`].
    #[test]
    fn the_readme_lists_exactly_the_rejected_codes() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("| Kafka error | why a retry cannot help |")
            .nth(1)
            .expect("README has the table of rejected errors");
        let mut documented: Vec<String> = Vec::new();
        for row in table.lines().skip(2) {
            let row = row.trim();
            if !row.starts_with('|') {
                break;
            }
            let first = row.split('|').nth(1).unwrap_or_default();
            // `Name` entries; the partition header is not a Kafka error code.
            for name in first.split('`').skip(1).step_by(2) {
                if name != "partitionIdHeader" {
                    documented.push(name.to_string());
                }
            }
        }
        documented.sort();
        let mut coded: Vec<String> = REJECTED.iter().map(|c| format!("{c:?}")).collect();
        coded.sort();
        assert_eq!(documented, coded);
    }

    #[test]
    fn outages_are_retriable_and_record_errors_are_not() {
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::PurgeQueue,
        ] {
            assert_eq!(classify(code), Failure::Retriable, "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::InvalidRecord,
            RDKafkaErrorCode::TopicAuthorizationFailed,
        ] {
            assert_eq!(
                classify(code),
                Failure::Rejected {
                    code: format!("{code:?}")
                }
            );
        }
    }
}
