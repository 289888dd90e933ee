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

/// The kind of failure a Kafka error code means for the record that met it.
pub fn classify(code: RDKafkaErrorCode) -> Failure {
    use RDKafkaErrorCode as C;
    match code {
        C::MessageSizeTooLarge
        | C::InvalidMessageSize
        | C::MessageBatchTooLarge
        | C::InvalidMessage
        | C::InvalidRecord
        | C::InvalidTimestamp
        | C::UnsupportedForMessageFormat
        | C::BadMessage
        | C::InvalidTopic
        | C::TopicAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::InvalidRequiredAcks
        | C::PolicyViolation
        | C::UnknownPartition
        | C::InvalidArgument => Failure::Rejected {
            code: format!("{code:?}"),
        },
        _ => Failure::Retriable,
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
