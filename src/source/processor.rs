//! Flume's `ChannelProcessor`: runs the source's interceptor chain over a batch, asks the channel
//! selector which channels get each event, and commits one put transaction per channel.
//!
//! Better than Flume in three ways that matter for loss and duplicates:
//! * a batch that a required channel rejects (full) is kept and retried — the source blocks
//!   (backpressure) instead of dropping the batch;
//! * when a batch goes to several required channels and one of them is full, the channels that
//!   already committed are not written again on retry (Flume re-puts to all and duplicates);
//! * events the selector routes nowhere (multiplexing without a default) are counted and logged
//!   instead of vanishing silently.
//!
//! Delivery receipts (TAILDIR positions, see [`Receipt`]) count one acknowledgement per event copy
//! put into a required channel. Events that never reach one — filtered by an interceptor, routed
//! nowhere, or only to optional channels — are acknowledged at once: the source is done with
//! them, exactly as if a sink had delivered them, so its position moves past them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::channel::{Channel, ChannelError};
use crate::event::{Event, Receipt};
use crate::interceptor::Interceptor;
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;

pub use super::selector::{ReplicatingSelector, Selector};

/// What became of a batch handed to [`ChannelProcessor::put_blocking`].
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Committed to every required channel.
    Committed,
    /// The agent is stopping and the drain deadline passed before every required channel accepted
    /// the batch; `lost` events were not stored (reported by the caller).
    Abandoned { lost: usize },
}

/// Which of Flume's batch counters (`AppendBatchReceivedCount`, `AppendBatchAcceptedCount`) a
/// put bumps. Flume's sources count them themselves, not its ChannelProcessor, and only some
/// do: a dashboard that compares them with Flume's must see 0 where Flume's class never counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BatchCounts {
    /// exec, netcat, syslog, multiport_syslogtcp, Kafka: their Flume classes never touch them;
    /// the RPC sources (avro, thrift) count per client call themselves (`rpc_put::Called`).
    #[default]
    None,
    /// TAILDIR, spooldir, http: one received per put, one accepted per committed put.
    ReceivedAndAccepted,
    /// seq with `batchSize` > 1: Flume's SequenceGeneratorSource counts accepted batches only.
    AcceptedOnly,
}

impl BatchCounts {
    fn received(self) -> bool {
        self == BatchCounts::ReceivedAndAccepted
    }
    fn accepted(self) -> bool {
        self != BatchCounts::None
    }
}

pub struct ChannelProcessor {
    source: String,
    batch_counts: BatchCounts,
    interceptors: Vec<Box<dyn Interceptor>>,
    selector: Selector,
    counter: Arc<SourceCounter>,
    last_full_warning: Option<Instant>,
    /// Unrouted events since the last warning about them, and when that was.
    unrouted_since_warning: u64,
    last_unrouted_warning: Option<Instant>,
    /// The distinct receipts of the batch being put (reused between batches).
    receipts: Vec<Receipt>,
}

/// How often a source stuck on a full channel repeats its warning.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(30);
/// How often a source whose events are routed nowhere repeats its warning.
const UNROUTED_WARNING_EVERY: Duration = Duration::from_secs(30);

impl ChannelProcessor {
    pub fn new(
        source: &str,
        interceptors: Vec<Box<dyn Interceptor>>,
        selector: impl Into<Selector>,
        counter: Arc<SourceCounter>,
    ) -> Self {
        ChannelProcessor {
            source: source.to_string(),
            batch_counts: BatchCounts::None,
            interceptors,
            selector: selector.into(),
            counter,
            last_full_warning: None,
            unrouted_since_warning: 0,
            last_unrouted_warning: None,
            receipts: Vec::new(),
        }
    }

    pub fn counter(&self) -> &Arc<SourceCounter> {
        &self.counter
    }

    /// Which batch counters the puts count: each source says what its Flume class does (none
    /// by default), when it starts running.
    pub fn count_batches(&mut self, counts: BatchCounts) {
        self.batch_counts = counts;
    }

    /// The source is about to wait for input for as long as it takes (the watchdog's view:
    /// [`crate::metrics::RunnerState::waiting`]).
    pub fn waiting(&self) {
        self.counter.runner.waiting();
    }

    /// The source woke and works: it goes round or waits again within the watchdog's limit.
    pub fn working(&self) {
        self.counter.runner.working();
    }

    /// The smallest transaction capacity among the channels a put may go to as a required
    /// channel: the largest batch a put may carry.
    pub fn max_batch(&self) -> usize {
        self.selector
            .required_channels()
            .iter()
            .map(|c| c.transaction_capacity())
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Intercepts, selects and commits `events`, retrying a full channel until it accepts its
    /// part of the batch. Events may carry delivery [`Receipt`]s. Returns only when the batch is
    /// committed to every required channel, or when the agent is stopping and its drain deadline
    /// has passed.
    pub fn put_blocking(&mut self, mut events: Vec<Event>, shutdown: &Shutdown) -> PutOutcome {
        if events.is_empty() {
            return PutOutcome::Committed;
        }
        // Counted here, once for every source: what the source read, before interceptors may
        // filter some of it out.
        self.counter.event_received.add(events.len() as u64);
        if self.batch_counts.received() {
            self.counter.append_batch_received.inc();
        }
        // Each receipt is held open while the batch is processed, so that it fires exactly once:
        // when the last stored copy is delivered, or when this batch releases it having stored
        // none (every event of it filtered out or routed nowhere).
        self.hold_receipts(&events);
        for i in self.interceptors.iter_mut() {
            events = i.intercept(events);
        }
        let n = events.len() as u64;
        let routed = self.selector.route(events);
        if routed.unrouted > 0 {
            self.report_unrouted(routed.unrouted as u64, routed.unrouted_value.as_deref());
        }
        expect_receipts(&routed.required);
        self.release_receipts();
        let optional = routed.optional;
        let accepted = n - routed.unrouted as u64;
        let same_events = routed.same_events;
        let mut pending = routed.required;
        let mut stalled_since: Option<Instant> = None;
        let mut pause = Duration::from_millis(1);
        loop {
            pending.retain_mut(|(ch, batch)| match ch.put(batch) {
                Ok(()) => false,
                Err(e) => {
                    self.counter.channel_write_fail.inc();
                    let now = Instant::now();
                    let due = self
                        .last_full_warning
                        .is_none_or(|t| now.duration_since(t) >= FULL_WARNING_EVERY);
                    if due {
                        self.last_full_warning = Some(now);
                        warn!(source = %self.source, "{e}; holding the batch of {} events and retrying (backpressure, nothing is dropped)", batch.len());
                    }
                    if matches!(e, ChannelError::TransactionCapacity { .. }) {
                        // Validation makes this impossible; if it happens anyway, retrying cannot
                        // help and spinning would hide it.
                        error!(source = %self.source, "{e}");
                    }
                    true
                }
            });
            if pending.is_empty() {
                // As Flume: optional channels after every required one committed, best effort.
                for (ch, mut batch) in optional {
                    if let Err(e) = ch.put(&mut batch) {
                        warn!(source = %self.source, channel = ch.name(), "Unable to put batch on optional channel: {e}");
                    }
                }
                if let Some(t) = stalled_since {
                    info!(source = %self.source, "channel accepted the held batch after {:.1}s of backpressure", t.elapsed().as_secs_f64());
                }
                self.counter.event_accepted.add(accepted);
                if self.batch_counts.accepted() {
                    self.counter.append_batch_accepted.inc();
                }
                return PutOutcome::Committed;
            }
            stalled_since.get_or_insert_with(Instant::now);
            // Backpressure is a round of the source's loop, not a hang (the watchdog judges the
            // sink that does not drain); once per retry, never on the path that succeeds.
            self.counter.runner.beat();
            if shutdown.deadline_passed() {
                let sizes = pending.iter().map(|(_, b)| b.len());
                let lost = if same_events {
                    sizes.max().unwrap_or(0)
                } else {
                    sizes.sum()
                };
                return PutOutcome::Abandoned { lost };
            }
            // The put itself waited keep-alive for room; this pause only matters when keep-alive
            // is 0, so that a full channel does not become a busy loop.
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// One attempt, no retry: intercepts, selects and puts `events` into each required channel
    /// in turn (each put may wait up to the channel's keep-alive for room), as Flume's
    /// `processEventBatch` does. The first channel that refuses stops it with that error; the
    /// caller tells its client to retry (HTTP 503). As in Flume, required channels that
    /// accepted before the failing one keep the events, so a retried request can duplicate
    /// there. For sources whose client retries; the others use [`ChannelProcessor::put_blocking`].
    pub fn put_once(&mut self, mut events: Vec<Event>) -> Result<(), ChannelError> {
        if events.is_empty() {
            return Ok(());
        }
        self.counter.event_received.add(events.len() as u64);
        if self.batch_counts.received() {
            self.counter.append_batch_received.inc();
        }
        for i in self.interceptors.iter_mut() {
            events = i.intercept(events);
        }
        let n = events.len() as u64;
        let routed = self.selector.route(events);
        if routed.unrouted > 0 {
            self.report_unrouted(routed.unrouted as u64, routed.unrouted_value.as_deref());
        }
        expect_receipts(&routed.required);
        for (ch, mut batch) in routed.required {
            if let Err(e) = ch.put(&mut batch) {
                self.counter.channel_write_fail.inc();
                return Err(e);
            }
        }
        for (ch, mut batch) in routed.optional {
            if let Err(e) = ch.put(&mut batch) {
                warn!(source = %self.source, channel = ch.name(), "Unable to put batch on optional channel: {e}");
            }
        }
        self.counter.event_accepted.add(n - routed.unrouted as u64);
        if self.batch_counts.accepted() {
            self.counter.append_batch_accepted.inc();
        }
        Ok(())
    }

    /// One extra expected acknowledgement on each distinct receipt of `events` (usually one per
    /// batch, so this costs a comparison per event and one atomic per batch).
    fn hold_receipts(&mut self, events: &[Event]) {
        self.receipts.clear();
        for e in events {
            if let Some(r) = &e.receipt {
                if !self.receipts.iter().any(|h| h.ptr_eq(r)) {
                    r.expect(1);
                    self.receipts.push(r.clone());
                }
            }
        }
    }

    /// Gives back the holds of [`ChannelProcessor::hold_receipts`], after the stored copies were
    /// announced: a receipt none of whose events was stored fires now.
    fn release_receipts(&mut self) {
        for r in self.receipts.drain(..) {
            r.ack();
        }
    }

    /// Unrouted events are dropped as Flume drops them, but never silently: counted, and logged
    /// at the first occurrence and then at most every 30 s with the count since.
    fn report_unrouted(&mut self, n: u64, value: Option<&str>) {
        self.counter.unrouted.add(n);
        self.unrouted_since_warning += n;
        let now = Instant::now();
        let due = self
            .last_unrouted_warning
            .is_none_or(|t| now.duration_since(t) >= UNROUTED_WARNING_EVERY);
        if due {
            self.last_unrouted_warning = Some(now);
            warn!(source = %self.source, "{} event(s) dropped since the last report: the multiplexing selector has no mapping for their header value (e.g. {}) and no selector.default (Flume drops them silently; see the source's unrouted count)", self.unrouted_since_warning, value.unwrap_or("?"));
            self.unrouted_since_warning = 0;
        }
    }
}

/// Announces one acknowledgement per event copy put into a required channel, per receipt (events
/// of one receipt are adjacent, so this is one atomic per run of them).
fn expect_receipts(required: &[(Arc<dyn Channel>, Vec<Event>)]) {
    for (_, batch) in required {
        let mut run: Option<(&Receipt, usize)> = None;
        for e in batch {
            let Some(r) = &e.receipt else { continue };
            match &mut run {
                Some((current, count)) if current.ptr_eq(r) => *count += 1,
                _ => {
                    if let Some((current, count)) = run.take() {
                        current.expect(count);
                    }
                    run = Some((r, 1));
                }
            }
        }
        if let Some((current, count)) = run {
            current.expect(count);
        }
    }
}

/// For unit tests: a memory channel of `capacity` / `transaction_capacity` and a processor of
/// source r1 feeding it, with the processor's counter.
#[cfg(test)]
pub(crate) fn memory_pipeline(
    capacity: usize,
    transaction_capacity: usize,
) -> (Arc<dyn Channel>, ChannelProcessor, Arc<SourceCounter>) {
    memory_pipeline_with(crate::channel::memory::MemorySettings {
        capacity,
        transaction_capacity,
        ..Default::default()
    })
}

/// [`memory_pipeline`] over a memory channel of these settings.
#[cfg(test)]
pub(crate) fn memory_pipeline_with(
    settings: crate::channel::memory::MemorySettings,
) -> (Arc<dyn Channel>, ChannelProcessor, Arc<SourceCounter>) {
    use crate::channel::memory::MemoryChannel;
    let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(
        "c1",
        settings,
        Arc::new(crate::metrics::ChannelCounter::default()),
    ));
    let counter = Arc::new(SourceCounter::default());
    let processor = ChannelProcessor::new(
        "r1",
        vec![],
        super::selector::ReplicatingSelector {
            required: vec![channel.clone()],
            optional: vec![],
        },
        counter.clone(),
    );
    (channel, processor, counter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::memory::{MemoryChannel, MemorySettings};
    use crate::channel::TakeTransaction;
    use crate::metrics::ChannelCounter;
    use crate::testing::wait_for;

    fn mem(capacity: usize) -> Arc<dyn Channel> {
        Arc::new(MemoryChannel::new(
            "c",
            MemorySettings {
                capacity,
                transaction_capacity: capacity,
                keep_alive: Duration::from_millis(10),
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ))
    }

    #[test]
    fn full_channel_blocks_until_space_then_commits_without_loss() {
        let c = mem(2);
        let mut p = ChannelProcessor::new(
            "r1",
            vec![],
            ReplicatingSelector {
                required: vec![c.clone()],
                optional: vec![],
            },
            Arc::new(SourceCounter::default()),
        );
        let stop = Shutdown::new();
        assert_eq!(
            p.put_blocking(vec![Event::new("a"), Event::new("b")], &stop),
            PutOutcome::Committed
        );
        let c2 = c.clone();
        let counter = p.counter().clone();
        // Room is made only after a put of "c" was refused, so the retry path is what commits.
        let drainer = std::thread::spawn(move || {
            wait_for("a put met the full channel", || {
                counter.channel_write_fail.get() >= 1
            });
            TakeTransaction::begin(&c2, 2, Duration::ZERO).commit();
        });
        assert_eq!(
            p.put_blocking(vec![Event::new("c")], &stop),
            PutOutcome::Committed
        );
        drainer.join().expect("drainer");
        assert_eq!(c.len(), 1);
        assert_eq!(p.counter().event_accepted.get(), 3);
    }

    #[test]
    fn retry_does_not_duplicate_into_channels_that_committed() {
        let roomy = mem(10);
        let tight = mem(1);
        let mut p = ChannelProcessor::new(
            "r1",
            vec![],
            ReplicatingSelector {
                required: vec![roomy.clone(), tight.clone()],
                optional: vec![],
            },
            Arc::new(SourceCounter::default()),
        );
        let stop = Shutdown::new();
        p.put_blocking(vec![Event::new("x")], &stop);
        let t2 = tight.clone();
        let counter = p.counter().clone();
        // `y` is committed to roomy and refused by tight before tight gets room: the retry must
        // not put it into roomy again.
        let drainer = std::thread::spawn(move || {
            wait_for("tight refused y", || counter.channel_write_fail.get() >= 1);
            TakeTransaction::begin(&t2, 1, Duration::ZERO).commit();
        });
        p.put_blocking(vec![Event::new("y")], &stop);
        drainer.join().expect("drainer");
        assert_eq!(roomy.len(), 2, "x and y once each");
        assert_eq!(tight.len(), 1);
    }

    /// The batch counters follow the source's flag, in both put paths; the event counters are
    /// counted whatever it says.
    #[test]
    fn batch_counters_are_counted_only_as_the_source_says() {
        for (counts, received, accepted) in [
            (BatchCounts::None, 0, 0),
            (BatchCounts::ReceivedAndAccepted, 2, 2),
            (BatchCounts::AcceptedOnly, 0, 2),
        ] {
            let mut p = ChannelProcessor::new(
                "r1",
                vec![],
                ReplicatingSelector {
                    required: vec![mem(10)],
                    optional: vec![],
                },
                Arc::new(SourceCounter::default()),
            );
            p.count_batches(counts);
            let stop = Shutdown::new();
            let put = p.put_blocking(vec![Event::new("a"), Event::new("b")], &stop);
            assert_eq!(put, PutOutcome::Committed);
            p.put_once(vec![Event::new("c")]).expect("room");
            let c = p.counter();
            assert_eq!(c.append_batch_received.get(), received, "{counts:?}");
            assert_eq!(c.append_batch_accepted.get(), accepted, "{counts:?}");
            assert_eq!(c.event_received.get(), 3, "{counts:?}");
            assert_eq!(c.event_accepted.get(), 3, "{counts:?}");
        }
    }

    #[test]
    fn stopping_past_deadline_reports_what_was_not_stored() {
        let c = mem(1);
        let mut p = ChannelProcessor::new(
            "r1",
            vec![],
            ReplicatingSelector {
                required: vec![c.clone()],
                optional: vec![],
            },
            Arc::new(SourceCounter::default()),
        );
        let stop = Shutdown::new();
        p.put_blocking(vec![Event::new("a")], &stop);
        stop.trigger(Instant::now());
        assert_eq!(
            p.put_blocking(vec![Event::new("b")], &stop),
            PutOutcome::Abandoned { lost: 1 }
        );
    }

    fn named(name: &str, capacity: usize) -> Arc<dyn Channel> {
        Arc::new(MemoryChannel::new(
            name,
            MemorySettings {
                capacity,
                transaction_capacity: capacity,
                keep_alive: Duration::from_millis(10),
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ))
    }

    /// Drops every event whose body is "drop".
    struct DropSome;
    impl Interceptor for DropSome {
        fn intercept(&mut self, events: Vec<Event>) -> Vec<Event> {
            events
                .into_iter()
                .filter(|e| &e.body[..] != b"drop")
                .collect()
        }
    }

    fn counting_receipt() -> (Receipt, Arc<std::sync::atomic::AtomicUsize>) {
        let fired = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let f = fired.clone();
        let r = Receipt::new(move || {
            f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        (r, fired)
    }

    fn with_receipt(body: &'static str, r: &Receipt) -> Event {
        let mut e = Event::new(body);
        e.receipt = Some(r.clone());
        e
    }

    /// A processor that drops "drop" events, on one channel.
    fn filtering() -> (Arc<dyn Channel>, ChannelProcessor) {
        let c = mem(10);
        let p = ChannelProcessor::new(
            "r1",
            vec![Box::new(DropSome)],
            ReplicatingSelector {
                required: vec![c.clone()],
                optional: vec![],
            },
            Arc::new(SourceCounter::default()),
        );
        (c, p)
    }

    #[test]
    fn a_batch_filtered_out_entirely_is_delivered_at_once() {
        let (c, mut p) = filtering();
        let (r, fired) = counting_receipt();
        let stop = Shutdown::new();
        p.put_blocking(
            vec![with_receipt("drop", &r), with_receipt("drop", &r)],
            &stop,
        );
        assert_eq!(c.len(), 0);
        assert_eq!(
            fired.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "nothing to wait for"
        );
    }

    #[test]
    fn a_partly_filtered_batch_is_delivered_when_its_stored_events_are() {
        let (c, mut p) = filtering();
        let (r, fired) = counting_receipt();
        let stop = Shutdown::new();
        p.put_blocking(
            vec![with_receipt("drop", &r), with_receipt("keep", &r)],
            &stop,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(
            fired.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "keep is not delivered yet"
        );
        TakeTransaction::begin(&c, 10, Duration::ZERO).commit();
        assert_eq!(fired.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    fn multiplexing(text: &str, channels: &[&Arc<dyn Channel>]) -> Selector {
        use crate::config::reader::{ComponentProps, PropReader};
        use crate::config::Diagnostics;
        use crate::source::selector::SelectorSettings;
        let comp = ComponentProps {
            name: "r1".into(),
            prefix: "a1.sources.r1.".into(),
            props: text
                .lines()
                .enumerate()
                .filter_map(|(i, l)| l.split_once('=').map(|(k, v)| (i, k, v)))
                .map(|(i, k, v)| (k.trim().to_string(), (v.trim().to_string(), i + 1)))
                .collect(),
        };
        let mut d = Diagnostics::new(Arc::from(std::path::Path::new("t.conf")));
        let mut r = PropReader::new(&comp, &mut d);
        let names: Vec<String> = channels.iter().map(|c| c.name().to_string()).collect();
        let s = SelectorSettings::parse(&mut r, &names, &[]).expect("parses");
        assert!(!d.has_errors());
        s.build(&names, |n| {
            channels
                .iter()
                .find(|c| c.name() == n)
                .map(|c| (*c).clone())
        })
    }

    fn bodies(c: &Arc<dyn Channel>) -> Vec<String> {
        let t = TakeTransaction::begin(c, 100, Duration::ZERO);
        let out = t
            .events()
            .iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect();
        t.rollback();
        out
    }

    fn tagged(body: &'static str, value: Option<&str>) -> Event {
        let mut e = Event::new(body);
        if let Some(v) = value {
            e.headers.insert("dc", v);
        }
        e
    }

    /// A channel of capacity 2 that already holds two events: every put into it fails (full),
    /// and nothing drains it.
    fn full_channel(name: &str) -> Arc<dyn Channel> {
        let c = named(name, 2);
        c.put(&mut vec![Event::new("old1"), Event::new("old2")])
            .expect("room for the first two");
        c
    }

    /// Puts `x1 x2` (blocking, with a delivery receipt) and `x3` (once, as the http source does)
    /// through `p`, whose required channel is `required` and whose optional channel `optional` is
    /// full: both puts succeed, the required channel has each event once, the optional one is
    /// untouched, no put was retried, and the receipt waits only for the required copies.
    fn optional_failure_is_harmless(
        mut p: ChannelProcessor,
        required: &Arc<dyn Channel>,
        optional: &Arc<dyn Channel>,
        tag: fn(&'static str) -> Event,
    ) {
        let stop = Shutdown::new();
        let (r, fired) = counting_receipt();
        let batch = ["x1", "x2"]
            .into_iter()
            .map(|b| {
                let mut e = tag(b);
                e.receipt = Some(r.clone());
                e
            })
            .collect();
        assert_eq!(p.put_blocking(batch, &stop), PutOutcome::Committed);
        p.put_once(vec![tag("x3")])
            .expect("an optional channel's failure is not the put's");
        assert_eq!(bodies(required), ["x1", "x2", "x3"], "each event once");
        assert_eq!(
            bodies(optional),
            ["old1", "old2"],
            "the full channel as it was"
        );
        let c = p.counter();
        assert_eq!(
            c.channel_write_fail.get(),
            0,
            "no required put failed or was retried"
        );
        assert_eq!(c.event_accepted.get(), 3);
        TakeTransaction::begin(required, 10, Duration::ZERO).commit();
        assert_eq!(
            fired.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "delivered once the required copies are: the optional copy is not waited for"
        );
    }

    #[test]
    fn replicating_a_full_optional_channel_neither_fails_nor_duplicates_the_batch() {
        let (required, optional) = (named("req", 10), full_channel("opt"));
        let p = ChannelProcessor::new(
            "r1",
            vec![],
            ReplicatingSelector {
                required: vec![required.clone()],
                optional: vec![optional.clone()],
            },
            Arc::new(SourceCounter::default()),
        );
        optional_failure_is_harmless(p, &required, &optional, Event::new);
    }

    #[test]
    fn multiplexing_a_full_optional_channel_neither_fails_nor_duplicates_the_batch() {
        let (required, optional) = (named("req", 10), full_channel("opt"));
        let selector = multiplexing(
            "selector.type = multiplexing\nselector.header = dc\nselector.mapping.x = req\nselector.optional.x = opt",
            &[&required, &optional],
        );
        let p = ChannelProcessor::new("r1", vec![], selector, Arc::new(SourceCounter::default()));
        optional_failure_is_harmless(p, &required, &optional, |b| tagged(b, Some("x")));
    }

    #[test]
    fn multiplexing_splits_a_batch_by_header_and_counts_what_it_drops() {
        let (eu, us, all) = (named("eu", 10), named("us", 10), named("all", 10));
        let selector = multiplexing(
            "selector.type = multiplexing\nselector.header = dc\nselector.mapping.eu = eu all\nselector.mapping.us = us\nselector.optional.us = all",
            &[&eu, &us, &all],
        );
        let mut p =
            ChannelProcessor::new("r1", vec![], selector, Arc::new(SourceCounter::default()));
        let stop = Shutdown::new();
        let batch = vec![
            tagged("1", Some("eu")),
            tagged("2", Some("us")),
            tagged("3", Some("asia")),
            tagged("4", None),
            tagged("5", Some("eu")),
        ];
        assert_eq!(p.put_blocking(batch, &stop), PutOutcome::Committed);
        assert_eq!(bodies(&eu), ["1", "5"]);
        assert_eq!(bodies(&us), ["2"]);
        assert_eq!(
            bodies(&all),
            ["1", "5", "2"],
            "required copies first, then optional"
        );
        assert_eq!(
            p.counter().unrouted.get(),
            2,
            "asia and the event without header"
        );
        assert_eq!(p.counter().event_accepted.get(), 3);
    }

    #[test]
    fn multiplexing_default_takes_unmapped_and_blank_values() {
        let (a, b) = (named("a", 10), named("b", 10));
        let selector = multiplexing(
            "selector.type = multiplexing\nselector.header = dc\nselector.mapping.x = a\nselector.default = b",
            &[&a, &b],
        );
        let mut p =
            ChannelProcessor::new("r1", vec![], selector, Arc::new(SourceCounter::default()));
        let stop = Shutdown::new();
        p.put_blocking(
            vec![
                tagged("1", Some("x")),
                tagged("2", Some("  ")),
                tagged("3", Some("X")),
                tagged("4", None),
            ],
            &stop,
        );
        assert_eq!(bodies(&a), ["1"]);
        assert_eq!(
            bodies(&b),
            ["2", "3", "4"],
            "values are matched exactly; blank means none"
        );
        assert_eq!(p.counter().unrouted.get(), 0);
    }

    #[test]
    fn multiplexing_receipts_complete_for_unrouted_and_after_every_copy() {
        let (a, b) = (named("a", 10), named("b", 10));
        let selector = multiplexing(
            "selector.type = multiplexing\nselector.header = dc\nselector.mapping.x = a b",
            &[&a, &b],
        );
        let mut p =
            ChannelProcessor::new("r1", vec![], selector, Arc::new(SourceCounter::default()));
        let stop = Shutdown::new();
        let (lost, lost_fired) = counting_receipt();
        p.put_blocking(vec![with_receipt("u", &lost)], &stop);
        assert_eq!(
            lost_fired.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "nothing was stored for it"
        );
        let (r, fired) = counting_receipt();
        let mut e = with_receipt("x", &r);
        e.headers.insert("dc", "x");
        p.put_blocking(vec![e], &stop);
        TakeTransaction::begin(&a, 10, Duration::ZERO).commit();
        assert_eq!(
            fired.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "b still holds a copy"
        );
        TakeTransaction::begin(&b, 10, Duration::ZERO).commit();
        assert_eq!(fired.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn multiplexing_retry_does_not_duplicate_into_channels_that_committed() {
        let (roomy, tight) = (named("roomy", 10), named("tight", 1));
        let selector = multiplexing(
            "selector.type = multiplexing\nselector.header = dc\nselector.mapping.x = roomy tight",
            &[&roomy, &tight],
        );
        let mut p =
            ChannelProcessor::new("r1", vec![], selector, Arc::new(SourceCounter::default()));
        let stop = Shutdown::new();
        p.put_blocking(vec![tagged("1", Some("x"))], &stop);
        let t2 = tight.clone();
        let counter = p.counter().clone();
        let drainer = std::thread::spawn(move || {
            wait_for("tight refused 2", || counter.channel_write_fail.get() >= 1);
            TakeTransaction::begin(&t2, 1, Duration::ZERO).commit();
        });
        p.put_blocking(vec![tagged("2", Some("x"))], &stop);
        drainer.join().expect("drainer");
        assert_eq!(bodies(&roomy), ["1", "2"]);
        assert_eq!(bodies(&tight), ["2"]);
    }
}
