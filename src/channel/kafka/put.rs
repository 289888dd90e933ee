//! How a put reaches Kafka: every event is serialized and produced as one record, and the put
//! returns only when Kafka acknowledged every record of the batch (see the module doc of
//! `mod.rs`).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tracing::warn;

use super::{lock, log_librdkafka, KafkaChannel, KEY_HEADER};
use crate::channel::{strip_receipts, ChannelError};
use crate::config::secret::Scrubber;
use crate::event::Event;
use crate::kafka::avro::encode_flume_event;

/// A full producer queue: how long to wait for one of our acknowledgements before sending again.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(10);

impl KafkaChannel {
    /// The put transaction ([`Channel::put`](crate::channel::Channel::put)).
    pub(super) fn put_batch(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len();
        self.counter.event_put_attempt.add(n as u64);
        let result = if self.settings.parse_as_flume_event {
            // One buffer for the batch's datums (librdkafka copies each record at send).
            let size: usize = events.iter().map(|e| e.body.len() + 16).sum();
            let mut payloads: Vec<u8> = Vec::with_capacity(size);
            let mut ends: Vec<usize> = Vec::with_capacity(n);
            for e in events.iter() {
                encode_flume_event(&e.headers, &e.body, &mut payloads);
                ends.push(payloads.len());
            }
            self.produce(events, Some((&payloads, &ends)))
        } else {
            // The bodies are the payloads: no copy of ours.
            self.produce(events, None)
        };
        match result {
            Ok(()) => {
                let receipts = strip_receipts(events);
                events.clear();
                self.counter.event_put_success.add(n as u64);
                for (r, copies) in receipts {
                    for _ in 0..copies {
                        r.ack();
                    }
                }
                Ok(())
            }
            Err(message) => {
                self.counter.event_put_error.add(n as u64);
                Err(ChannelError::Io {
                    channel: self.name.clone(),
                    message: format!("Commit failed as send to Kafka failed: {message}"),
                })
            }
        }
    }

    /// The partition an event goes to: its `partitionIdHeader`, else `defaultPartitionId`, else
    /// the partitioner's choice (`None`).
    fn partition_of(&self, e: &Event) -> Result<Option<i32>, ChannelError> {
        if let Some(h) = &self.settings.partition_header {
            if let Some(v) = e.headers.get(h) {
                return match v.trim().parse::<i32>() {
                    Ok(p) => Ok(Some(p)),
                    Err(_) => Err(ChannelError::Io {
                        channel: self.name.clone(),
                        message: format!(
                            "Non integer partition id specified: header {h} = '{v}' (the put \
                             fails, as in Flume)"
                        ),
                    }),
                };
            }
        }
        Ok(self.settings.static_partition)
    }

    /// Sends the batch, one record per event, and waits for every acknowledgement. `avro`: the
    /// serialized events, one after the other, and where each ends; `None`: the bodies are the
    /// payloads (`parseAsFlumeEvent = false`).
    fn produce(&self, events: &[Event], avro: Option<(&[u8], &[usize])>) -> Result<(), String> {
        // Flume's KafkaEventSendTimer: from the first send to the last acknowledgement of a put
        // that succeeded (serializing is before it, as in Flume's doPut).
        let start = Instant::now();
        let wait = Arc::new(PutWait::default());
        for (i, e) in events.iter().enumerate() {
            let payload = match avro {
                Some((bytes, ends)) => {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    &bytes[start..ends[i]]
                }
                None => &e.body[..],
            };
            let partition = self.partition_of(e).map_err(|e| e.to_string())?;
            let mut record = BaseRecord::<str, [u8], Arc<PutWait>>::with_opaque_to(
                &self.settings.topic,
                wait.clone(),
            )
            .payload(payload);
            if let Some(k) = e.headers.get(KEY_HEADER) {
                record = record.key(k);
            }
            if let Some(p) = partition {
                record = record.partition(p);
            }
            wait.sent();
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        wait.wait_some(QUEUE_FULL_WAIT);
                    }
                    Err((e, _)) => {
                        wait.delivered(Some(e.to_string()));
                        break;
                    }
                }
            }
            if wait.failed() {
                break;
            }
        }
        let acknowledged = wait.wait_all(self.ack_deadline);
        if acknowledged.is_ok() {
            self.counter
                .kafka_event_send_timer_ms
                .add_millis_since(start);
        }
        acknowledged
    }
}

/// The acknowledgements one put waits for.
#[derive(Default)]
pub(super) struct PutWait {
    state: Mutex<PutProgress>,
    changed: Condvar,
}

#[derive(Default)]
struct PutProgress {
    outstanding: usize,
    first_error: Option<String>,
}

impl PutWait {
    fn sent(&self) {
        lock(&self.state).outstanding += 1;
    }

    fn delivered(&self, error: Option<String>) {
        let mut s = lock(&self.state);
        s.outstanding = s.outstanding.saturating_sub(1);
        if s.first_error.is_none() {
            s.first_error = error;
        }
        drop(s);
        self.changed.notify_all();
    }

    fn failed(&self) -> bool {
        lock(&self.state).first_error.is_some()
    }

    /// Waits up to `max` for any acknowledgement (a full producer queue drains).
    fn wait_some(&self, max: Duration) {
        let s = lock(&self.state);
        if s.outstanding > 0 {
            let _ = self.changed.wait_timeout(s, max);
        } else {
            drop(s);
            std::thread::sleep(max);
        }
    }

    /// Waits for every acknowledgement; the first error, if any record failed.
    fn wait_all(&self, deadline: Duration) -> Result<(), String> {
        let end = Instant::now() + deadline;
        let mut s = lock(&self.state);
        while s.outstanding > 0 {
            let now = Instant::now();
            if now >= end {
                return Err(format!(
                    "{} records unacknowledged after {} s",
                    s.outstanding,
                    deadline.as_secs()
                ));
            }
            s = self
                .changed
                .wait_timeout(s, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        match s.first_error.take() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// The producer's callbacks (librdkafka's thread of the `ThreadedProducer`).
pub(super) struct PutContext {
    pub(super) channel: String,
    /// Masks the producer configuration's secrets in librdkafka's text (see [`log_librdkafka`]).
    pub(super) scrubber: Scrubber,
}

impl ClientContext for PutContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_librdkafka(&self.channel, &self.scrubber, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let error = self.scrubber.scrub(&error.to_string()).into_owned();
        let reason = self.scrubber.scrub(reason);
        warn!(channel = %self.channel, "Kafka producer: {error}: {reason}");
    }
}

impl ProducerContext for PutContext {
    type DeliveryOpaque = Arc<PutWait>;

    fn delivery(&self, result: &DeliveryResult<'_>, wait: Arc<PutWait>) {
        let error = match result {
            Ok(_) => None,
            Err((e, _)) => Some(e.to_string()),
        };
        wait.delivered(error);
    }
}
