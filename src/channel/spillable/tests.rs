//! The spillable memory channel's behaviour: memory first, whole puts spilling, the drain order
//! across both stores, overflow activation and deactivation, and what a crash or a stop keeps.

use super::*;
use crate::channel::file::{FileSettings, Tuning};
use crate::channel::{Channel, ChannelError, TakeTransaction};

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        Fixture {
            root: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    fn settings(&self, memory: usize, overflow: usize, timeout: Duration) -> SpillableSettings {
        let mut file = FileSettings::in_dirs(&self.root.join("cp"), &self.root.join("data"));
        file.minimum_required_space = 1 << 20;
        file.capacity = overflow.max(1);
        file.keep_alive = Duration::ZERO;
        SpillableSettings {
            memory_capacity: memory,
            overflow_capacity: overflow,
            overflow_timeout: timeout,
            overflow_deactivation_threshold: DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD,
            byte_capacity: None,
            byte_capacity_buffer_percentage: DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
            avg_event_size: DEFAULT_AVG_EVENT_SIZE as u64,
            overflow: file,
        }
    }

    fn open(&self, s: SpillableSettings) -> SpillableMemoryChannel {
        let overflow = FileChannel::open(
            "c1",
            s.overflow.clone(),
            Tuning::default(),
            Arc::new(ChannelCounter::default()),
        )
        .expect("the overflow opens");
        SpillableMemoryChannel::new("c1", s, overflow, Arc::new(ChannelCounter::default()))
    }
}

fn events(range: std::ops::Range<u32>) -> Vec<Event> {
    range.map(|i| Event::new(i.to_string())).collect()
}

fn bodies(evs: &[Event]) -> Vec<u32> {
    evs.iter()
        .filter_map(|e| std::str::from_utf8(&e.body).ok()?.parse().ok())
        .collect()
}

/// Takes everything, committing each take; the bodies in take order and the batch sizes.
fn drain_all(c: &Arc<dyn Channel>, max: usize) -> (Vec<u32>, Vec<usize>) {
    let (mut all, mut sizes) = (Vec::new(), Vec::new());
    loop {
        let t = TakeTransaction::begin(c, max, Duration::ZERO);
        if t.is_empty() {
            return (all, sizes);
        }
        all.extend(bodies(t.events()));
        sizes.push(t.len());
        t.commit();
    }
}

#[test]
fn memory_first_then_whole_puts_spill_and_takes_keep_the_order() {
    let f = Fixture::new();
    let c = f.open(f.settings(10, 1000, Duration::ZERO));
    c.put(&mut events(0..6)).expect("memory");
    c.put(&mut events(6..12))
        .expect("does not fit in memory: spills whole");
    assert_eq!((c.lock().memory.len(), c.overflow_len()), (6, 6));
    assert!(c.lock().overflow_activated);
    c.put(&mut events(12..16))
        .expect("memory still has room for 4");
    assert_eq!((c.lock().memory.len(), c.overflow_len()), (10, 6));
    c.put(&mut events(16..17)).expect("spills");
    let c: Arc<dyn Channel> = Arc::new(c);
    let (order, sizes) = drain_all(&c, 100);
    assert_eq!(
        order,
        (0..17).collect::<Vec<_>>(),
        "put order across both stores"
    );
    assert_eq!(sizes, [6, 6, 4, 1], "a take stops where the store changes");
    assert_eq!(c.len_including_in_flight(), 0);
}

#[test]
fn a_full_memory_waits_overflow_timeout_before_spilling() {
    let f = Fixture::new();
    let c = Arc::new(f.open(f.settings(2, 100, Duration::from_secs(30))));
    c.put(&mut events(0..2)).expect("memory");
    let c2 = c.clone();
    let taker = std::thread::spawn(move || {
        // Room is made only once the put below waits: the put went to memory because it
        // waited, not because it spilled.
        crate::testing::wait_for("the put waits", || c2.waiting_puts() == 1);
        let dynamic: Arc<dyn Channel> = c2;
        TakeTransaction::begin(&dynamic, 2, Duration::ZERO).commit();
    });
    c.put(&mut events(2..4))
        .expect("room appears while waiting");
    taker.join().expect("taker");
    assert_eq!((c.lock().memory.len(), c.overflow_len()), (2, 0));
    assert!(!c.lock().overflow_activated);
}

#[test]
fn rollbacks_return_events_to_the_head_of_their_store() {
    let f = Fixture::new();
    let c = f.open(f.settings(3, 100, Duration::ZERO));
    c.put(&mut events(0..3)).expect("memory");
    c.put(&mut events(3..6)).expect("overflow");
    let c: Arc<dyn Channel> = Arc::new(c);
    let t = TakeTransaction::begin(&c, 2, Duration::ZERO);
    assert_eq!(bodies(t.events()), [0, 1]);
    t.rollback();
    let t = TakeTransaction::begin(&c, 10, Duration::ZERO);
    assert_eq!(bodies(t.events()), [0, 1, 2]);
    t.commit();
    let t = TakeTransaction::begin(&c, 2, Duration::ZERO);
    assert_eq!(bodies(t.events()), [3, 4]);
    drop(t);
    let (rest, _) = drain_all(&c, 10);
    assert_eq!(rest, [3, 4, 5]);
}

#[test]
fn without_overflow_a_full_memory_is_a_full_channel() {
    let f = Fixture::new();
    let c = f.open(f.settings(2, 0, Duration::ZERO));
    c.put(&mut events(0..2)).expect("memory");
    let mut more = events(2..3);
    assert!(matches!(c.put(&mut more), Err(ChannelError::Full { .. })));
    assert_eq!(more.len(), 1, "the caller keeps a refused batch");
    assert_eq!(c.overflow_len(), 0);
}

#[test]
fn memory_capacity_zero_sends_everything_to_disk() {
    let f = Fixture::new();
    let c = f.open(f.settings(0, 100, Duration::from_secs(30)));
    c.put(&mut events(0..5)).expect("overflow, without waiting");
    assert_eq!(c.overflow_len(), 5);
}

#[test]
fn spilling_stops_once_a_take_frees_the_threshold() {
    let f = Fixture::new();
    let mut s = f.settings(100, 1000, Duration::from_secs(30));
    s.overflow_deactivation_threshold = 25;
    let c = Arc::new(f.open(s));
    c.put(&mut events(0..100)).expect("memory");
    // Memory full, overflow not yet active: a put waits overflowTimeout (30 s) for room,
    // so that the test does not wait, activate the overflow as a spill would.
    c.lock().overflow_activated = true;
    c.put(&mut events(100..101))
        .expect("spills at once while active");
    assert_eq!(c.overflow_len(), 1);
    let d: Arc<dyn Channel> = c.clone();
    TakeTransaction::begin(&d, 10, Duration::ZERO).commit();
    // Flume's (100 - 90 + 10) / 100 = 20% < 25%: still spilling.
    assert!(c.lock().overflow_activated);
    TakeTransaction::begin(&d, 40, Duration::ZERO).commit();
    // (100 - 50 + 40) / 100 = 90% >= 25%.
    assert!(!c.lock().overflow_activated, "deactivated");
    let (rest, _) = drain_all(&d, 1000);
    assert_eq!(rest, (50..101).collect::<Vec<_>>());
}

#[test]
fn the_overflow_survives_a_crash_and_a_stop_keeps_memory_too() {
    let f = Fixture::new();
    let c = f.open(f.settings(3, 100, Duration::ZERO));
    c.put(&mut events(0..3)).expect("memory");
    c.put(&mut events(3..6)).expect("overflow");
    c.crash();
    let c: Arc<dyn Channel> = Arc::new(f.open(f.settings(3, 100, Duration::ZERO)));
    assert_eq!(c.len(), 3, "only what spilled survives a crash");
    c.put(&mut events(6..8)).expect("memory");
    c.close();
    assert!(c.is_durable(), "memory was moved to disk at close");
    drop(c);
    let c: Arc<dyn Channel> = Arc::new(f.open(f.settings(3, 100, Duration::ZERO)));
    let (all, _) = drain_all(&c, 100);
    assert_eq!(
        all,
        [3, 4, 5, 6, 7],
        "the kept overflow first, then what memory held"
    );
}

#[test]
fn byte_capacity_counts_avg_event_size_units() {
    let f = Fixture::new();
    let mut s = f.settings(100, 100, Duration::ZERO);
    // 1000 bytes minus 20% = 800 bytes = 8 units of 100 bytes.
    s.byte_capacity = Some(1000);
    s.avg_event_size = 100;
    let c = f.open(s);
    c.put(&mut vec![Event::new(vec![b'x'; 750])])
        .expect("8 units");
    c.put(&mut vec![Event::new(vec![b'x'; 1])]).expect("spills");
    assert_eq!(c.overflow_len(), 1);
}
