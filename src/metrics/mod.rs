//! Component counters with Flume's names (`SourceCounter`, `ChannelCounter`, `SinkCounter`).
//!
//! Every component owns an `Arc` of its counter group and bumps relaxed atomics on its hot path
//! (once per batch, not per event, wherever Flume's meaning allows it). The agent keeps every group
//! in a [`Registry`] so that the monitoring server can render them without knowing the component
//! types: [`flume_json`] (Flume's `/metrics`, byte for byte), [`prometheus`] (the same counters in
//! Prometheus' text format, plus librdkafka's statistics) and [`health`] (`/health`: is every
//! runner alive and delivering). `rflume` logs a summary periodically and at shutdown from the same
//! registry.
//!
//! A group lives as long as its component's name: a reload that restarts a component with the
//! same name keeps its group, so totals stay monotonic (Prometheus' `_total` contract; Flume
//! resets a restarted component's counters to 0, which a `rate()` reads as a counter reset).

pub mod flume_json;
pub mod health;
pub mod prometheus;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the epoch (Flume's `StartTime`/`StopTime`).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A monotonically increasing counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Adds the whole milliseconds since `start`: Flume's timers add `(end - start) / 10^6` per
    /// timed operation, dropping the fraction each time, and so does this.
    pub fn add_millis_since(&self, start: Instant) {
        self.add(start.elapsed().as_millis() as u64);
    }
}

/// A value that goes up and down (channel size, open files).
#[derive(Default, Debug)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Start/stop timestamps every Flume counter group carries.
#[derive(Default, Debug)]
pub struct Lifecycle {
    start_time: Gauge,
    stop_time: Gauge,
}

impl Lifecycle {
    pub fn started(&self) {
        self.start_time.set(now_ms());
        self.stop_time.set(0);
    }
    pub fn stopped(&self) {
        self.stop_time.set(now_ms());
    }
    /// Epoch milliseconds of the last start, 0 before it.
    pub fn start_ms(&self) -> i64 {
        self.start_time.get()
    }
    /// Epoch milliseconds of the stop, 0 while running (as Flume).
    pub fn stop_ms(&self) -> i64 {
        self.stop_time.get()
    }
}

/// Milliseconds on a monotonic clock private to this process, never 0 (0 means "never").
pub fn mono_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// What a runner thread shows of itself, for `/health` and the systemd watchdog: whether it runs,
/// when its loop last went round (a sink's `process` returns at least every few seconds, also
/// when idle or failing) and since when its deliveries fail.
///
/// A source's loop may wait for input without bound (no line, no connection), so a source
/// also says whether it is waiting ([`RunnerState::waiting`]) or working
/// ([`RunnerState::working`]): only a working source that stopped going round is hung. The
/// marks are set at the wake points the source has anyway, so they cost no wake-up of their own.
#[derive(Default, Debug)]
pub struct RunnerState {
    running: AtomicBool,
    /// The thread ended without being asked to (a source whose listener could not bind, a panic).
    ended: AtomicBool,
    /// The runner waits for input and may do so for as long as it takes: its silence is health,
    /// not a hang. Sinks never set it (their rounds return within seconds, also when idle).
    waiting: AtomicBool,
    last_beat: AtomicU64,
    failing_since: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl RunnerState {
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
        if running {
            self.ended.store(false, Ordering::Relaxed);
            self.beat();
        }
    }
    /// The thread returned before the agent asked it to stop.
    pub fn set_ended(&self) {
        self.running.store(false, Ordering::Relaxed);
        self.ended.store(true, Ordering::Relaxed);
    }
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
    /// One round of the runner's loop.
    pub fn beat(&self) {
        self.last_beat.store(mono_ms(), Ordering::Relaxed);
    }
    /// The runner is about to wait for input (a read, an accept, a timer of the user's length):
    /// until [`RunnerState::working`], the watchdog judges it by being alive only. One relaxed
    /// store, no clock read.
    pub fn waiting(&self) {
        self.waiting.store(true, Ordering::Relaxed);
    }
    /// The runner woke and works: it must go round again (or wait) within the watchdog's limit.
    pub fn working(&self) {
        self.beat();
        self.waiting.store(false, Ordering::Relaxed);
    }
    pub fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }
    /// Time since the last round; `None` before the first.
    pub fn since_beat(&self) -> Option<Duration> {
        match self.last_beat.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Duration::from_millis(mono_ms().saturating_sub(t))),
        }
    }
    /// A delivery failed: the failure started now unless it had already.
    pub fn failed(&self, error: &str) {
        let _ =
            self.failing_since
                .compare_exchange(0, mono_ms(), Ordering::Relaxed, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }
    /// Deliveries go through again.
    pub fn recovered(&self) {
        self.failing_since.store(0, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    /// How long deliveries have been failing, `None` while they succeed.
    pub fn failing_for(&self) -> Option<Duration> {
        match self.failing_since.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Duration::from_millis(mono_ms().saturating_sub(t))),
        }
    }
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Component facts the renderers need beside the counters.
#[derive(Default, Debug)]
pub struct Meta {
    /// Flume's type alias (`exec`, `memory`, `kafka`, …).
    type_alias: OnceLock<&'static str>,
}

impl Meta {
    pub fn set_type(&self, alias: &'static str) {
        let _ = self.type_alias.set(alias);
    }
    pub fn type_alias(&self) -> &'static str {
        self.type_alias.get().copied().unwrap_or("")
    }
}

/// Flume's `SourceCounter` (the fields a source can meaningfully fill).
#[derive(Default, Debug)]
pub struct SourceCounter {
    pub lifecycle: Lifecycle,
    pub meta: Meta,
    pub runner: RunnerState,
    pub event_received: Counter,
    pub event_accepted: Counter,
    /// Flume's Avro/Thrift `append` calls (single events), received and committed; 0 for every
    /// other source, as in Flume.
    pub append_received: Counter,
    pub append_accepted: Counter,
    /// Batches received and committed, only for the sources whose Flume class counts them
    /// (`source::BatchCounts`); 0 for the others (exec, syslog, Kafka, …), as in Flume.
    pub append_batch_received: Counter,
    pub append_batch_accepted: Counter,
    pub event_read_fail: Counter,
    pub channel_write_fail: Counter,
    pub generic_processing_fail: Counter,
    pub open_connections: Gauge,
    /// TAILDIR: files currently open.
    pub open_files: Gauge,
    /// TAILDIR: position file writes that failed.
    pub position_write_fail: Counter,
    /// TAILDIR: 1 while the last position write failed (the positions on disk are stale).
    pub positions_unsaved: Gauge,
    /// exec, TAILDIR: lines longer than `rflume.maxLineLength` shipped in several events.
    pub long_line_split: Counter,
    /// exec, TAILDIR: lines longer than `rflume.maxLineLength` cut to that length.
    pub long_line_truncated: Counter,
    /// Events the channel selector found no channel for and that were therefore dropped
    /// (multiplexing: a header value without mapping and no `selector.default`). Flume drops
    /// them without counting; rflume counts them here.
    pub unrouted: Counter,
    /// Flume's `KafkaSourceCounter` on top (reported only for `type = kafka`): milliseconds spent
    /// gathering the batches that had records (`KafkaEventGetTimer`), spent in offset commits
    /// (`KafkaCommitTimer`), and batches that ended on a poll without records (`KafkaEmptyCount`).
    pub kafka_event_get_timer_ms: Counter,
    pub kafka_commit_timer_ms: Counter,
    pub kafka_empty: Counter,
}

/// Flume's `ChannelCounter`.
#[derive(Default, Debug)]
pub struct ChannelCounter {
    pub lifecycle: Lifecycle,
    pub meta: Meta,
    pub channel_size: Gauge,
    pub channel_capacity: Gauge,
    pub event_put_attempt: Counter,
    pub event_put_success: Counter,
    pub event_take_attempt: Counter,
    pub event_take_success: Counter,
    /// Flume's `FileChannelCounter` on top (reported only for `type = file`): 1 while open.
    pub open: Gauge,
    pub unhealthy: Gauge,
    pub event_put_error: Counter,
    pub event_take_error: Counter,
    pub checkpoint_write_error: Counter,
    pub checkpoint_backup_write_error: Counter,
    /// Flume's `KafkaChannelCounter` on top (reported only for `type = kafka`): milliseconds spent
    /// reading records for takes (`KafkaEventGetTimer`), sending puts until Kafka acknowledged
    /// them (`KafkaEventSendTimer`), committing offsets (`KafkaCommitTimer`), and the events of
    /// take transactions rolled back (`RollbackCount`: events, not transactions, as Flume's).
    pub kafka_event_get_timer_ms: Counter,
    pub kafka_event_send_timer_ms: Counter,
    pub kafka_commit_timer_ms: Counter,
    pub rollback: Counter,
}

/// Flume's `SinkCounter` plus the Kafka sink's `KafkaEventSendTimer` and `RollbackCount`.
#[derive(Default, Debug)]
pub struct SinkCounter {
    pub lifecycle: Lifecycle,
    pub meta: Meta,
    pub runner: RunnerState,
    pub connection_created: Counter,
    pub connection_closed: Counter,
    pub connection_failed: Counter,
    pub batch_empty: Counter,
    pub batch_underflow: Counter,
    pub batch_complete: Counter,
    pub event_drain_attempt: Counter,
    pub event_drain_success: Counter,
    pub event_write_fail: Counter,
    pub channel_read_fail: Counter,
    pub rollback: Counter,
    pub kafka_event_send_timer_ms: Counter,
    /// Kafka: events Kafka refused for good, written to the dead-letter file and committed.
    pub event_dead_lettered: Counter,
    /// Kafka: events Kafka refused for good, dropped (`rflume.onRejected = drop`) and committed.
    pub event_rejected_dropped: Counter,
    /// Take transactions handed downstream and not yet acknowledged (pipelined sinks).
    pub batches_in_flight: Gauge,
    /// The Kafka sink's librdkafka statistics (empty for other sinks).
    pub client: ClientStats,
}

impl SinkCounter {
    /// Whether the sink reports Flume's `KafkaSinkCounter` (set by the Kafka sink itself).
    pub fn is_kafka(&self) -> bool {
        self.client.kafka.load(Ordering::Relaxed)
    }
}

/// The librdkafka statistics that tell an operator why delivery is slow or stuck: the producer's
/// queue, what is in flight, and each broker's state and round-trip time. Filled from
/// librdkafka's statistics callback (`statistics.interval.ms`), on the sink's thread.
#[derive(Default, Debug)]
pub struct ClientStats {
    kafka: AtomicBool,
    /// How often librdkafka should report, set by the agent when metrics are served.
    interval_ms: AtomicU64,
    /// Messages in the producer's queues (`msg_cnt`).
    pub queue_messages: Gauge,
    /// Bytes of them (`msg_size`).
    pub queue_bytes: Gauge,
    /// Requests sent and awaiting a response, all brokers (`waitresp_cnt`).
    pub in_flight_requests: Gauge,
    /// Messages in those requests (`waitresp_msg_cnt`).
    pub in_flight_messages: Gauge,
    /// Message retries (`txretries`, summed over brokers).
    pub retries: Gauge,
    /// Transmission errors (`txerrs`, summed over brokers).
    pub errors: Gauge,
    pub brokers: Mutex<Vec<BrokerStats>>,
}

/// One broker as librdkafka sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerStats {
    /// `host:port/id` as librdkafka names it.
    pub name: String,
    /// `UP` (connected) or another of librdkafka's states (`DOWN`, `CONNECT`, …).
    pub state: String,
    /// Average round-trip time of the last window, microseconds (`rtt.avg`).
    pub rtt_avg_us: i64,
    /// 99th percentile of it (`rtt.p99`).
    pub rtt_p99_us: i64,
}

impl ClientStats {
    /// The Kafka sink announces itself, so that its group renders as Flume's KafkaSinkCounter.
    pub fn mark_kafka(&self) {
        self.kafka.store(true, Ordering::Relaxed);
    }
    /// librdkafka's `statistics.interval.ms` to request; 0: none (no one reads them).
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms.load(Ordering::Relaxed)
    }
    pub fn set_brokers(&self, brokers: Vec<BrokerStats>) {
        *self.brokers.lock().unwrap_or_else(|e| e.into_inner()) = brokers;
    }
    pub fn brokers(&self) -> Vec<BrokerStats> {
        self.brokers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One registered counter group.
#[derive(Clone, Debug)]
pub enum Group {
    Source(String, Arc<SourceCounter>),
    Channel(String, Arc<ChannelCounter>),
    Sink(String, Arc<SinkCounter>),
}

impl Group {
    pub fn name(&self) -> &str {
        match self {
            Group::Source(n, _) | Group::Channel(n, _) | Group::Sink(n, _) => n,
        }
    }
    /// Flume's MBean type: `SOURCE`, `CHANNEL`, `SINK`.
    pub fn flume_type(&self) -> &'static str {
        match self {
            Group::Source(..) => "SOURCE",
            Group::Channel(..) => "CHANNEL",
            Group::Sink(..) => "SINK",
        }
    }
    /// `SOURCE.r1`: Flume's key for the component in `/metrics`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.flume_type(), self.name())
    }
}

/// Agent-wide facts for `/health` that no single component holds.
#[derive(Debug, Default)]
pub struct AgentNotes {
    /// Components named in the configuration that do not run (dropped, unsupported).
    not_running: Mutex<Vec<String>>,
    /// The last reload that was rejected, while the running configuration is older than the file.
    rejected_reload: Mutex<Option<String>>,
    pub reloads_applied: Counter,
    pub reloads_rejected: Counter,
}

impl AgentNotes {
    pub fn set_not_running(&self, components: Vec<String>) {
        *self.not_running.lock().unwrap_or_else(|e| e.into_inner()) = components;
    }
    pub fn not_running(&self) -> Vec<String> {
        self.not_running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn reload_rejected(&self, why: String) {
        self.reloads_rejected.inc();
        *self
            .rejected_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(why);
    }
    pub fn reload_applied(&self) {
        self.reloads_applied.inc();
        *self
            .rejected_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }
    pub fn rejected_reload(&self) -> Option<String> {
        self.rejected_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Every counter group of the running agent.
#[derive(Default, Debug)]
pub struct Registry {
    groups: Mutex<Vec<Group>>,
    pub notes: AgentNotes,
    /// librdkafka statistics interval handed to Kafka sinks created from now on (0: off).
    client_stats_interval_ms: AtomicU64,
}

impl Registry {
    /// The source group named `name`, created on first use and kept across restarts.
    pub fn source(&self, name: &str) -> Arc<SourceCounter> {
        self.group(
            name,
            |g| match g {
                Group::Source(_, c) => Some(c.clone()),
                _ => None,
            },
            Group::Source,
        )
    }
    pub fn channel(&self, name: &str) -> Arc<ChannelCounter> {
        self.group(
            name,
            |g| match g {
                Group::Channel(_, c) => Some(c.clone()),
                _ => None,
            },
            Group::Channel,
        )
    }
    pub fn sink(&self, name: &str) -> Arc<SinkCounter> {
        let c = self.group(
            name,
            |g| match g {
                Group::Sink(_, c) => Some(c.clone()),
                _ => None,
            },
            Group::Sink,
        );
        c.client.interval_ms.store(
            self.client_stats_interval_ms.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        c
    }
    /// The group of `name` that `pick` recognises, or a new one made by `make`.
    fn group<T: Default>(
        &self,
        name: &str,
        pick: impl Fn(&Group) -> Option<Arc<T>>,
        make: fn(String, Arc<T>) -> Group,
    ) -> Arc<T> {
        let mut groups = self.lock();
        if let Some(c) = groups.iter().filter(|g| g.name() == name).find_map(&pick) {
            return c;
        }
        let c = Arc::new(T::default());
        groups.push(make(name.to_string(), c.clone()));
        c
    }
    /// Forgets a component that a reload removed (`key` as [`Group::key`]).
    pub fn remove(&self, key: &str) {
        self.lock().retain(|g| g.key() != key);
    }
    /// Asks Kafka sinks created from now on for librdkafka statistics every `interval`.
    pub fn request_client_stats(&self, interval: Duration) {
        self.client_stats_interval_ms
            .store(interval.as_millis() as u64, Ordering::Relaxed);
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Group>> {
        // A poisoned lock only means another thread panicked while pushing; the Vec is still valid.
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn groups(&self) -> Vec<Group> {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hands_out_shared_groups() {
        let r = Registry::default();
        let s = r.source("r1");
        s.event_received.add(3);
        match &r.groups()[0] {
            Group::Source(name, c) => {
                assert_eq!(name, "r1");
                assert_eq!(c.event_received.get(), 3);
            }
            other => panic!("unexpected group {other:?}"),
        }
    }

    #[test]
    fn a_name_keeps_its_group_until_removed() {
        let r = Registry::default();
        r.sink("k1").event_drain_success.add(5);
        assert_eq!(
            r.sink("k1").event_drain_success.get(),
            5,
            "same group again"
        );
        r.remove("SINK.k1");
        assert_eq!(r.sink("k1").event_drain_success.get(), 0, "a new group");
        assert_eq!(r.groups().len(), 1);
    }

    #[test]
    fn failing_since_starts_once_and_clears() {
        let s = RunnerState::default();
        assert_eq!(s.failing_for(), None);
        s.failed("down");
        let first = s.failing_since.load(Ordering::Relaxed);
        s.failed("still down");
        assert_eq!(s.failing_since.load(Ordering::Relaxed), first);
        assert_eq!(s.last_error().as_deref(), Some("still down"));
        s.recovered();
        assert_eq!(s.failing_for(), None);
    }
}
