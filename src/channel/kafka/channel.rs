//! The Kafka channel's life and its [`Channel`] calls: the producer is made at start, the
//! consumer is left at close; puts go to `put.rs`, takes and their ends to `take.rs`.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::producer::ThreadedProducer;
use tracing::info;

use super::put::PutContext;
use super::{lock, KafkaChannel, KafkaChannelSettings, TakeState};
use crate::channel::{Channel, ChannelError, TakeId};
use crate::event::Event;
use crate::metrics::ChannelCounter;

/// How long a put waits for acknowledgements beyond librdkafka's `message.timeout.ms`, by which
/// librdkafka promises a delivery report for every record.
const ACK_GRACE: Duration = Duration::from_secs(10);
/// librdkafka's default `message.timeout.ms`, for a file that sets none.
const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 300_000;

impl KafkaChannel {
    pub(super) fn new(
        name: &str,
        settings: KafkaChannelSettings,
        counter: Arc<ChannelCounter>,
    ) -> Result<Self, String> {
        let producer: ThreadedProducer<PutContext> = settings
            .producer
            .client_config()
            .set_log_level(RDKafkaLogLevel::Info)
            .create_with_context(PutContext {
                channel: name.to_string(),
                scrubber: settings.producer.scrubber(),
            })
            // librdkafka's reason may quote a setting.
            .map_err(|e| {
                settings
                    .producer
                    .scrubber()
                    .scrub(&e.to_string())
                    .into_owned()
            })?;
        let message_timeout = settings
            .producer
            .get("message.timeout.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_MESSAGE_TIMEOUT_MS);
        info!(channel = name, topic = %settings.topic, group = %settings.group_id, "Starting Kafka Channel: {name}");
        Ok(KafkaChannel {
            name: name.to_string(),
            ack_deadline: Duration::from_millis(message_timeout) + ACK_GRACE,
            settings,
            counter,
            producer,
            consumer: Mutex::new(None),
            poll_lock: Mutex::new(()),
            state: Arc::new(Mutex::new(TakeState::default())),
            commit_lock: Mutex::new(()),
            next_take: AtomicU64::new(1),
            last_error_log: Mutex::new(None),
        })
    }
}

impl Channel for KafkaChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        self.put_batch(events)
    }

    fn take_raw(&self, _max: usize, _wait: Duration) -> Vec<Event> {
        // Only identified takes exist here (see the module doc): a take that could not say which
        // offsets it commits would lose or duplicate records. The agent's reload moves nothing
        // out of a Kafka channel this way; its events stay in the topic.
        Vec::new()
    }

    fn commit_take(&self, _events: &[Event]) {}

    fn rollback_take(&self, _events: Vec<Event>) {}

    fn take_identified(&self, max: usize, wait: Duration) -> (Vec<Event>, TakeId) {
        self.take_batch(max, wait)
    }

    fn commit_identified(&self, events: &[Event], id: TakeId) {
        self.commit_batch(events, id)
    }

    fn rollback_identified(&self, events: Vec<Event>, id: TakeId) {
        self.rollback_batch(events, id)
    }

    fn len(&self) -> usize {
        self.state().redeliver.len()
    }

    fn len_including_in_flight(&self) -> usize {
        let s = self.state();
        s.redeliver.len() + s.in_flight
    }

    fn capacity(&self) -> usize {
        super::UNBOUNDED
    }

    fn transaction_capacity(&self) -> usize {
        super::UNBOUNDED
    }

    fn counter(&self) -> &Arc<ChannelCounter> {
        &self.counter
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn close(&self) {
        // Leaves the group at once (librdkafka's close), so that another member takes the
        // partitions over now rather than after session.timeout.ms.
        if let Some(consumer) = lock(&self.consumer).take() {
            drop(consumer);
        }
        info!(channel = %self.name, "Kafka channel {} stopped.", self.name);
    }
}
