//! The Kafka source at run time: poll a batch, put it, then commit exactly what was put.
//!
//! One thread (the source's) owns the librdkafka consumer and does everything on it: poll, the
//! rebalance callbacks (librdkafka calls them inside `poll`, so never while a batch is being
//! put), the put, the commit. Between a poll and the commit of its batch there is no poll, so no
//! rebalance can happen while a batch is in the channel but not committed; a rebalance announced
//! while a batch is being gathered ends the batch early (as Flume's `rebalanceFlag` does), and
//! the batch is put and committed at once. A commit for partitions that were revoked meanwhile may
//! fail: the new owner then reads those records again from the last committed offsets
//! (duplicates, never a gap), since no offset past what this source put is ever committed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message, Timestamp};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use super::{KafkaSourceSettings, Subscription};
use crate::config::secret::Scrubber;
use crate::event::{Event, Headers};
use crate::kafka::avro::decode_flume_event;
use crate::kafka::zookeeper::{lookup_brokers, LookupError};
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;
use crate::source::{ChannelProcessor, PutOutcome, Source, SourceError};

/// Flume's header names (`KafkaSourceConstants`).
const TIMESTAMP_HEADER: &str = "timestamp";
const PARTITION_HEADER: &str = "partition";
const OFFSET_HEADER: &str = "offset";
const KEY_HEADER: &str = "key";

/// The longest a poll waits, so that a stop is noticed within this time even when no record
/// arrives (librdkafka's consumer poll cannot be woken from another thread).
const MAX_POLL_WAIT: Duration = Duration::from_millis(500);
/// How often the same consumer error is logged at most.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

pub(super) struct KafkaSource {
    name: String,
    settings: KafkaSourceSettings,
}

impl KafkaSource {
    pub(super) fn new(name: &str, settings: KafkaSourceSettings) -> Self {
        KafkaSource {
            name: name.to_string(),
            settings,
        }
    }
}

/// librdkafka's callbacks: logs, errors and rebalances, on the source's thread.
struct SourceContext {
    source: String,
    /// Set when partitions are revoked: the batch being gathered ends and is committed.
    revoked: AtomicBool,
    /// Masks the consumer configuration's secrets in librdkafka's text before it is logged:
    /// with `kafka.consumer.debug` its lines may quote settings, and its errors are text rflume
    /// did not write (the Kafka sink does the same).
    scrubber: Scrubber,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let source = self.source.as_str();
        let message = self.scrubber.scrub(message);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => error!(source, "librdkafka {fac}: {message}"),
            RDKafkaLogLevel::Warning => warn!(source, "librdkafka {fac}: {message}"),
            _ => debug!(source, "librdkafka {fac}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let error = self.scrubber.scrub(&error.to_string()).into_owned();
        let reason = self.scrubber.scrub(reason);
        warn!(source = %self.source, "Kafka consumer: {error}: {reason}");
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.revoked.store(true, Ordering::Release);
                for e in tpl.elements() {
                    info!(source = %self.source, "topic {} - partition {} revoked.", e.topic(), e.partition());
                }
            }
            Rebalance::Assign(tpl) => {
                for e in tpl.elements() {
                    info!(source = %self.source, "topic {} - partition {} assigned.", e.topic(), e.partition());
                }
            }
            Rebalance::Error(e) => warn!(source = %self.source, "rebalance failed: {e}"),
        }
    }
}

impl Source for KafkaSource {
    fn run(
        self: Box<Self>,
        mut processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        let failed = |message: String| SourceError::Failed {
            source_name: self.name.clone(),
            message,
        };
        let scrubber = self.settings.consumer.scrubber();
        let context = SourceContext {
            source: self.name.clone(),
            revoked: AtomicBool::new(false),
            scrubber: scrubber.clone(),
        };
        let mut config = self.settings.consumer.client_config();
        if let Some(zk) = &self.settings.zookeeper {
            // Flume 1.9's lookupBootstrap: no broker list in the file, ZooKeeper has it.
            match lookup_brokers(&zk.connect, &zk.security_protocol, &shutdown) {
                Ok(brokers) => {
                    info!(source = %self.name, "Kafka brokers found in ZooKeeper {}: {}", zk.connect, brokers.join(","));
                    config.set("bootstrap.servers", brokers.join(","));
                }
                Err(LookupError::Stopped) => return Ok(()),
                Err(e) => {
                    return Err(failed(format!(
                        "{}: zookeeperConnect: {e}; the source cannot start (start ZooKeeper, \
                         or set kafka.bootstrap.servers = host1:9092,host2:9092)",
                        zk.location
                    )))
                }
            }
        }
        let consumer: BaseConsumer<SourceContext> = config
            .set_log_level(RDKafkaLogLevel::Info)
            .create_with_context(context)
            // librdkafka's reason may quote a setting.
            .map_err(|e| {
                let e = scrubber.scrub(&e.to_string()).into_owned();
                failed(format!("cannot create the Kafka consumer: {e}"))
            })?;
        let topics: Vec<String> = match &self.settings.subscription {
            Subscription::Topics(t) => t.clone(),
            // librdkafka treats a name starting with ^ as a pattern and searches it; Java's
            // Pattern subscription matches the whole topic name, hence the anchors.
            Subscription::Pattern(p) => vec![format!("^({p})$")],
        };
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(|e| {
            let e = scrubber.scrub(&e.to_string()).into_owned();
            failed(format!("cannot subscribe to {}: {e}", topics.join(",")))
        })?;
        info!(source = %self.name, group = %self.settings.group_id, "Kafka source subscribed to {}", topics.join(","));

        let mut reader = BatchReader {
            name: &self.name,
            settings: &self.settings,
            next_offsets: Vec::new(),
            last_error_log: None,
            scrubber: &scrubber,
        };
        let max_batch = self.settings.batch_size.min(processor.max_batch()).max(1);
        while !shutdown.is_stopping() {
            let batch = reader.read_batch(&consumer, max_batch, &shutdown, processor.counter());
            if batch.is_empty() {
                if !reader.next_offsets.is_empty() {
                    // Only skipped records: their offsets are committed, as Flume's are.
                    reader.commit(&consumer, processor.counter());
                }
                continue;
            }
            match processor.put_blocking(batch, &shutdown) {
                PutOutcome::Committed => reader.commit(&consumer, processor.counter()),
                PutOutcome::Abandoned { lost } => {
                    // Not committed: the group reads these records again after the restart.
                    warn!(source = %self.name, "stopping with a batch of {lost} records the channel did not accept; their offsets are not committed, so they are read again from Kafka after the restart");
                    break;
                }
            }
        }
        // Dropping the consumer leaves the group (librdkafka's consumer close), so that another
        // member takes over the partitions at once rather than after session.timeout.ms.
        drop(consumer);
        Ok(())
    }
}

/// What a batch in progress needs: the offsets to commit after its put.
struct BatchReader<'a> {
    name: &'a str,
    settings: &'a KafkaSourceSettings,
    /// Per partition, the offset after the last record read into the batch (a short list: a
    /// batch spans few partitions, and a lookup by `&str` allocates nothing per record).
    next_offsets: Vec<(String, i32, i64)>,
    last_error_log: Option<Instant>,
    /// The consumer's errors carry librdkafka's text.
    scrubber: &'a Scrubber,
}

impl BatchReader<'_> {
    /// Reads up to `max` records, for at most `batchDurationMillis` from the first poll (as
    /// Flume's batch clock), ending early on a revocation or a stop.
    ///
    /// Flume's `KafkaEventGetTimer` and `KafkaEmptyCount` move here as in Flume's `doProcess`:
    /// the batch's time from its start to its end, added when it has records; one empty count
    /// for a batch that saw a poll without records (Flume's batch ends on that poll; rflume's
    /// empty batch polls again until its time is up, which is still one of Flume's batches).
    fn read_batch(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        max: usize,
        shutdown: &Shutdown,
        counter: &SourceCounter,
    ) -> Vec<Event> {
        let start = Instant::now();
        let end = start + Duration::from_millis(self.settings.batch_duration_ms);
        let mut batch = Vec::new();
        let mut polled_empty = false;
        while batch.len() < max {
            let now = Instant::now();
            if now >= end || shutdown.is_stopping() {
                break;
            }
            let wait = (end - now).min(MAX_POLL_WAIT);
            let message = match consumer.poll(wait) {
                None => {
                    // As Flume, a rebalance ends the batch before the poll counts as empty.
                    if consumer.context().revoked.swap(false, Ordering::AcqRel) {
                        break;
                    }
                    polled_empty = true;
                    if batch.is_empty() {
                        continue;
                    }
                    // Flume ends the batch on the first empty poll.
                    break;
                }
                Some(Err(e)) => {
                    self.log_error(format!("Kafka consumer: {e}"));
                    continue;
                }
                Some(Ok(m)) => m,
            };
            self.record_offset(message.topic(), message.partition(), message.offset() + 1);
            match self.event(&message) {
                Some(e) => batch.push(e),
                None => counter.event_read_fail.inc(),
            }
            if consumer.context().revoked.swap(false, Ordering::AcqRel) {
                break;
            }
        }
        if !batch.is_empty() {
            counter.kafka_event_get_timer_ms.add_millis_since(start);
        }
        if polled_empty {
            counter.kafka_empty.inc();
        }
        batch
    }

    /// The event Flume's source makes of a record: the body (or the decoded `AvroFlumeEvent`),
    /// then `timestamp`, mapped record headers, the topic header, `partition`, `offset` — each
    /// only where the event does not have it yet — and `key` always when the record has one.
    fn event<M: Message>(&mut self, m: &M) -> Option<Event> {
        let payload = m.payload().unwrap_or_default();
        let (mut headers, body) = if self.settings.use_flume_event_format {
            match decode_flume_event(payload) {
                Ok((h, range)) => (h, Bytes::copy_from_slice(&payload[range])),
                Err(e) => {
                    error!(source = %self.name, "record at topic {} partition {} offset {} is not a Flume Avro event (useFlumeEventFormat = true): {e}; skipped (Flume loses it the same way), it is still in Kafka at that offset", m.topic(), m.partition(), m.offset());
                    return None;
                }
            }
        } else {
            (Headers::new(), Bytes::copy_from_slice(payload))
        };
        if headers.get(TIMESTAMP_HEADER).is_none() {
            let ts = match m.timestamp() {
                Timestamp::NotAvailable => -1,
                Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
            };
            headers.insert(TIMESTAMP_HEADER, ts.to_string());
        }
        if let (false, Some(record_headers)) =
            (self.settings.header_mappings.is_empty(), m.headers())
        {
            for (flume, kafka) in &self.settings.header_mappings {
                for h in record_headers.iter().filter(|h| h.key == kafka) {
                    let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                    headers.insert(flume.clone(), value.into_owned());
                }
            }
        }
        if self.settings.set_topic_header && headers.get(&self.settings.topic_header).is_none() {
            headers.insert(self.settings.topic_header.clone(), m.topic());
        }
        if headers.get(PARTITION_HEADER).is_none() {
            headers.insert(PARTITION_HEADER, m.partition().to_string());
        }
        if headers.get(OFFSET_HEADER).is_none() {
            headers.insert(OFFSET_HEADER, m.offset().to_string());
        }
        if let Some(key) = m.key() {
            // Java's StringDeserializer: UTF-8, malformed bytes replaced.
            headers.insert(KEY_HEADER, String::from_utf8_lossy(key).into_owned());
        }
        Some(Event::with_headers(headers, body))
    }

    fn record_offset(&mut self, topic: &str, partition: i32, next: i64) {
        match self
            .next_offsets
            .iter_mut()
            .find(|(t, p, _)| *p == partition && t == topic)
        {
            Some(entry) => entry.2 = next,
            None => self.next_offsets.push((topic.to_string(), partition, next)),
        }
    }

    /// Commits the offsets after what was put (synchronously, as Flume's `commitSync`; the time
    /// of a commit that succeeded is Flume's `KafkaCommitTimer`, a failed one throws past it).
    fn commit(&mut self, consumer: &BaseConsumer<SourceContext>, counter: &SourceCounter) {
        let mut tpl = TopicPartitionList::with_capacity(self.next_offsets.len());
        let offsets = std::mem::take(&mut self.next_offsets);
        for (topic, partition, offset) in offsets {
            if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset)) {
                self.log_error(format!("cannot commit {topic}/{partition}@{offset}: {e}"));
            }
        }
        let start = Instant::now();
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            // Put but not committed: read again by whoever owns the partitions next.
            self.log_error(format!(
                "offset commit failed ({e}); the records of the last batch will be read again \
                 (duplicates, nothing lost)"
            ));
        } else {
            counter.kafka_commit_timer_ms.add_millis_since(start);
        }
    }

    fn log_error(&mut self, message: String) {
        let message = self.scrubber.scrub(&message);
        let now = Instant::now();
        if self
            .last_error_log
            .is_none_or(|t| now.duration_since(t) >= ERROR_LOG_EVERY)
        {
            self.last_error_log = Some(now);
            warn!(source = %self.name, "{message}");
        } else {
            debug!(source = %self.name, "{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::{Secret, MASK};
    use crate::testing::logged;

    /// librdkafka's log lines and errors reach the log with the configuration's secrets masked.
    #[test]
    fn librdkafka_text_is_scrubbed_of_the_consumers_secrets() {
        const SECRET: &str = "consumer-S3cret-pw";
        let context = SourceContext {
            source: "r1".to_string(),
            revoked: AtomicBool::new(false),
            scrubber: Scrubber::new(&[Secret::new(SECRET)]),
        };
        let log = logged(|| {
            for level in [
                RDKafkaLogLevel::Error,
                RDKafkaLogLevel::Warning,
                RDKafkaLogLevel::Debug,
            ] {
                context.log(level, "CONF", &format!("sasl.password = {SECRET}"));
            }
            context.error(
                KafkaError::ClientCreation(format!("bad value {SECRET}")),
                &format!("handshake with {SECRET} failed"),
            );
        });
        assert!(!log.contains(SECRET), "{log}");
        // The lines themselves were logged, with the mask where the secret was.
        assert_eq!(log.matches(MASK).count(), 5, "{log}");
    }
}
