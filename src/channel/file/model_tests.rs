//! The file channel against a model: random sequences of puts, takes, commits, rollbacks,
//! restarts, crashes (with torn tails) and power losses must leave the channel holding exactly
//! what a plain in-memory model of Flume's transaction rules says — in order, nothing lost,
//! nothing delivered twice except, after a power loss, the takes whose records were not yet
//! synced (see [`Op::PowerLoss`]). Segments are tiny and the memory budget smaller than a batch, so that segment rolls,
//! deletions, checkpoints (the keeper runs every few milliseconds, at moments the test does not
//! choose) and reads from disk all happen many times in every case.
//!
//! Also here: the channel's unit tests of one behaviour each.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::channel::{FileChannel, Tuning};
use super::settings::FileSettings;
use crate::channel::{Channel, ChannelError, TakeTransaction};
use crate::event::{Event, Receipt};
use crate::metrics::ChannelCounter;

/// A temporary directory, on tmpfs when there is one: the logic under test is the same, and
/// thousands of fsyncs cost nothing there.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(t) = tempfile::tempdir_in(shm) {
            return t;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

fn settings(root: &Path) -> FileSettings {
    let mut s = FileSettings::in_dirs(&root.join("cp"), &root.join("d1"));
    s.data_dirs.push(root.join("d2"));
    s.use_dual_checkpoints = true;
    s.backup_checkpoint_dir = Some(root.join("backup"));
    s.capacity = 20;
    s.transaction_capacity = 7;
    s.keep_alive = Duration::ZERO;
    s.checkpoint_interval = Duration::from_millis(10);
    s.max_file_size = 300;
    s.minimum_required_space = 1 << 20;
    s
}

fn tuning() -> Tuning {
    Tuning {
        mem_budget: 64,
        keeper_tick: Duration::from_millis(2),
        space_refresh: Duration::from_secs(1),
    }
}

fn open(s: &FileSettings) -> Arc<FileChannel> {
    Arc::new(
        FileChannel::open(
            "c1",
            s.clone(),
            tuning(),
            Arc::new(ChannelCounter::default()),
        )
        .expect("the channel opens"),
    )
}

fn body(id: u64) -> Vec<u8> {
    // Sizes vary so that records straddle the tiny segments differently.
    format!("event-{id}-{}", "x".repeat((id % 7) as usize)).into_bytes()
}

fn id_of(e: &Event) -> u64 {
    let s = String::from_utf8_lossy(&e.body);
    s.split('-')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an event of this test: {s}"))
}

/// The newest segment file.
fn newest_segment(s: &FileSettings) -> Option<PathBuf> {
    let mut all: Vec<PathBuf> = s
        .data_dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rflume-wal-"))
        })
        .collect();
    all.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    all.pop()
}

/// Takes and commits everything the channel holds, in order: the ids delivered.
fn take_all(ch: &FileChannel) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        let t = ch.take_raw(7, Duration::ZERO);
        if t.is_empty() {
            return got;
        }
        got.extend(t.iter().map(id_of));
        ch.commit_take(&t);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put(u64),
    Take(usize),
    Commit(usize),
    Rollback(usize),
    /// The process dies; with `Some`, the last write was torn after that many bytes.
    Crash(Option<usize>),
    /// The machine loses power: the process dies and everything the channel did not sync is
    /// gone (see [`lose_power`]): each file cut back to what its last sync covered, plus `kept`
    /// of the bytes after that (the disk may have written some of them on its own), then the
    /// `tail` garbage; files whose directory entry was not synced are gone.
    ///
    /// What the channel promises then (README, "Delivery guarantees"): every committed put is
    /// there, since a put commits only once synced. A take commit is only written (synced by the
    /// keeper within a tick, by any later put's fsync, which covers everything written before
    /// it, at a clean close, and at the next start), so the takes committed since the last of
    /// those may be delivered again: exactly the last few commits, whole, as the log is cut
    /// back to a prefix of itself. The model cannot see when the keeper synced, so it accepts
    /// any number of those last commits coming back — and nothing else.
    PowerLoss {
        kept: usize,
        tail: Option<Tail>,
    },
    Restart,
}

/// What a power loss leaves after the last byte that survived.
#[derive(Clone, Copy, Debug)]
enum Tail {
    /// That many bytes of a record (a write the power loss cut).
    Torn(usize),
    /// That many zero bytes (the file's size was updated, its data not).
    Zeros(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..=6).prop_map(Op::Put),
        5 => (1usize..=8).prop_map(Op::Take),
        4 => any::<usize>().prop_map(Op::Commit),
        2 => any::<usize>().prop_map(Op::Rollback),
        1 => proptest::option::of(1usize..40).prop_map(Op::Crash),
        1 => (
            prop_oneof![Just(0usize), 1usize..100],
            proptest::option::of(prop_oneof![
                (1usize..40).prop_map(Tail::Torn),
                (1usize..40).prop_map(Tail::Zeros),
            ])
        )
            .prop_map(|(kept, tail)| Op::PowerLoss { kept, tail }),
        1 => Just(Op::Restart),
    ]
}

/// Flume's rules in a few lines: waiting events in put order, takes in flight.
#[derive(Default)]
struct Model {
    waiting: BTreeSet<u64>,
    in_flight: Vec<Vec<u64>>,
    next_id: u64,
    /// Committed takes, oldest first, whose take records may not be synced yet: a power loss
    /// may deliver the last of them again.
    unsynced_takes: Vec<Vec<u64>>,
}

/// A record that a write cut after `cut` bytes left behind.
fn torn_record(cut: usize) -> Vec<u8> {
    let mut r = super::format::Record::put(&[Event::new(body(999_999))]).expect("fits");
    r.seal(0);
    r.bytes.truncate(cut.min(r.bytes.len() - 1));
    r.bytes
}

fn append_to(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}

/// Does to the channel's files what a power loss does to what the channel did not sync, as the
/// test-only ledger of syncs (`crate::durable::ledger`) tells: a file whose directory entry
/// was not synced is gone; every other file is cut back to the length its last sync covered,
/// plus `kept` bytes of the rest; `tail` is appended to the newest segment. The channel must
/// have been dropped as in a crash. Not modelled: a deletion not yet synced is not undone (the
/// deleted bytes are gone from the test's reach; the channel syncs the directory after each
/// deletion except of a torn segment header at start, which it would delete again), and the
/// directories themselves are taken as durable (created once, at the first start).
fn lose_power(s: &FileSettings, kept: usize, tail: Option<Tail>) {
    use crate::durable::ledger::{self, Entry};
    for dir in s.all_dirs() {
        let entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read_dir")
            .flatten()
            .collect();
        for e in entries {
            let path = e.path();
            match ledger::entry(dir, &e.file_name()).expect("stat") {
                Entry::Durable => {}
                Entry::Unsynced => {
                    std::fs::remove_file(&path).expect("remove");
                    continue;
                }
                Entry::Replaced => panic!(
                    "{} was renamed over another file and its directory not synced: after a power loss the old file would be back",
                    path.display()
                ),
            }
            let len = e.metadata().expect("stat").len();
            let synced = ledger::synced_len(&path);
            if len > synced {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open");
                f.set_len(synced + (len - synced).min(kept as u64))
                    .expect("cut");
            }
        }
    }
    if let (Some(tail), Some(seg)) = (tail, newest_segment(s)) {
        let bytes = match tail {
            Tail::Torn(cut) => torn_record(cut),
            Tail::Zeros(n) => vec![0; n],
        };
        append_to(&seg, &bytes);
    }
    // What survived is on disk now: make the ledger say so, for the next power loss.
    for dir in s.all_dirs() {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let f = std::fs::File::open(e.path()).expect("open");
            crate::durable::sync_all(&f).expect("sync");
        }
        crate::durable::sync_dir(dir).expect("sync the directory");
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let root = scratch();
    let s = settings(root.path());
    let mut ch = open(&s);
    let mut m = Model::default();
    let mut takes: Vec<Vec<Event>> = Vec::new();
    for op in ops {
        match op {
            Op::Put(n) => {
                let ids: Vec<u64> = (m.next_id..m.next_id + n).collect();
                let mut batch: Vec<Event> = ids.iter().map(|i| Event::new(body(*i))).collect();
                let fits =
                    m.waiting.len() + m.in_flight.iter().map(Vec::len).sum::<usize>() + n as usize
                        <= s.capacity;
                match ch.put(&mut batch) {
                    Ok(()) => {
                        prop_assert!(fits, "a put beyond the capacity committed");
                        prop_assert!(batch.is_empty());
                        m.waiting.extend(ids);
                        m.next_id += n;
                        // Its fsync covered every take record written before it.
                        m.unsynced_takes.clear();
                    }
                    Err(e) => {
                        prop_assert!(!fits, "a put that fits failed: {e}");
                        prop_assert!(matches!(e, ChannelError::FileFull { .. }), "{e}");
                        prop_assert_eq!(batch.len(), n as usize, "the caller keeps its batch");
                    }
                }
            }
            Op::Take(max) => {
                let got = ch.take_raw(max, Duration::ZERO);
                let ids: Vec<u64> = got.iter().map(id_of).collect();
                let expected: Vec<u64> = m.waiting.iter().copied().take(ids.len()).collect();
                prop_assert_eq!(&ids, &expected, "takes come in put order");
                prop_assert!(ids.len() <= max);
                prop_assert!(
                    !ids.is_empty() || m.waiting.is_empty(),
                    "a take found nothing while {} events wait",
                    m.waiting.len()
                );
                if !ids.is_empty() {
                    for i in &ids {
                        m.waiting.remove(i);
                    }
                    m.in_flight.push(ids);
                    takes.push(got);
                }
            }
            Op::Commit(i) if !takes.is_empty() => {
                let i = i % takes.len();
                ch.commit_take(&takes.remove(i));
                m.unsynced_takes.push(m.in_flight.remove(i));
            }
            Op::Rollback(i) if !takes.is_empty() => {
                let i = i % takes.len();
                ch.rollback_take(takes.remove(i));
                m.waiting.extend(m.in_flight.remove(i));
            }
            Op::Commit(_) | Op::Rollback(_) => {}
            Op::Crash(torn) => {
                takes.clear();
                let owned = Arc::try_unwrap(ch).map_err(|_| TestCaseError::fail("shared"))?;
                owned.crash();
                if let (Some(cut), Some(seg)) = (torn, newest_segment(&s)) {
                    // What a crash in the middle of writing the next record leaves behind.
                    append_to(&seg, &torn_record(cut));
                }
                for t in m.in_flight.drain(..) {
                    m.waiting.extend(t);
                }
                ch = open(&s);
                // A start syncs the log it replayed (replay.rs says why).
                m.unsynced_takes.clear();
            }
            Op::PowerLoss { kept, tail } => {
                takes.clear();
                let owned = Arc::try_unwrap(ch).map_err(|_| TestCaseError::fail("shared"))?;
                owned.crash();
                lose_power(&s, kept, tail);
                for t in m.in_flight.drain(..) {
                    m.waiting.extend(t);
                }
                ch = open(&s);
                // Which of the last commits came back: their sizes add up to the surplus.
                let surplus = ch.len() as i64 - m.waiting.len() as i64;
                let mut back = 0usize;
                let mut sum = 0i64;
                while sum < surplus && back < m.unsynced_takes.len() {
                    back += 1;
                    sum += m.unsynced_takes[m.unsynced_takes.len() - back].len() as i64;
                }
                prop_assert_eq!(
                    sum,
                    surplus,
                    "after a power loss the channel holds {} events: the model's {} waiting plus {}, which is not the last few of the takes committed since the last sync ({:?})",
                    ch.len(),
                    m.waiting.len(),
                    surplus,
                    m.unsynced_takes
                );
                // Delivered again: from here on the model expects them (in put order, as every
                // take checks, and the final drain).
                let from = m.unsynced_takes.len() - back;
                for t in m.unsynced_takes.drain(from..) {
                    m.waiting.extend(t);
                }
                // The rest stayed taken; what survived is on disk (and the start synced it).
                m.unsynced_takes.clear();
            }
            Op::Restart => {
                takes.clear();
                ch.close();
                drop(ch);
                for t in m.in_flight.drain(..) {
                    m.waiting.extend(t);
                }
                ch = open(&s);
                // The close synced the log.
                m.unsynced_takes.clear();
            }
        }
        let in_flight: usize = m.in_flight.iter().map(Vec::len).sum();
        prop_assert_eq!(ch.len(), m.waiting.len());
        prop_assert_eq!(ch.len_including_in_flight(), m.waiting.len() + in_flight);
    }
    // Finally everything that waits comes out, in order, once.
    for t in takes.drain(..) {
        ch.rollback_take(t);
    }
    for t in m.in_flight.drain(..) {
        m.waiting.extend(t);
    }
    let mut all = Vec::new();
    loop {
        let t = TakeTransaction::begin(&(ch.clone() as Arc<dyn Channel>), 7, Duration::ZERO);
        if t.is_empty() {
            break;
        }
        all.extend(t.events().iter().map(id_of));
        t.commit();
    }
    prop_assert_eq!(all, m.waiting.iter().copied().collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_channel_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

/// A put is acknowledged to its source (the receipt fires) once it is on disk, not when a sink
/// delivers it: a TAILDIR source may move its position past events the file channel holds.
#[test]
fn receipts_fire_when_the_put_is_durable() {
    let root = scratch();
    let ch = open(&settings(root.path()));
    let fired = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = fired.clone();
    let r = Receipt::new(move || {
        f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    r.expect(2);
    let mut batch: Vec<Event> = (0..2)
        .map(|i| Event {
            receipt: Some(r.clone()),
            ..Event::new(body(i))
        })
        .collect();
    ch.put(&mut batch).expect("put");
    assert_eq!(fired.load(std::sync::atomic::Ordering::SeqCst), 1);
    let taken = ch.take_raw(2, Duration::ZERO);
    assert!(
        taken.iter().all(|e| e.receipt.is_none()),
        "a taken event carries no receipt: it was acknowledged already"
    );
}

/// A committed put survives a crash; a committed take is not delivered again; an open take is.
#[test]
fn a_crash_keeps_committed_puts_and_forgets_committed_takes() {
    let root = scratch();
    let s = settings(root.path());
    let ch = open(&s);
    ch.put(&mut (0..6).map(|i| Event::new(body(i))).collect())
        .expect("put");
    let delivered = ch.take_raw(2, Duration::ZERO);
    ch.commit_take(&delivered);
    let _open = ch.take_raw(2, Duration::ZERO);
    Arc::try_unwrap(ch).ok().expect("sole owner").crash();
    let ch = open(&s);
    let again: Vec<u64> = ch.take_raw(7, Duration::ZERO).iter().map(id_of).collect();
    assert_eq!(again, [2, 3, 4, 5]);
}

/// A crash while a segment was being created leaves a file with a partial header (or none):
/// it held nothing, and is removed; the channel opens with everything committed before.
#[test]
fn a_segment_torn_at_its_creation_is_removed() {
    let root = scratch();
    let s = settings(root.path());
    let ch = open(&s);
    ch.put(&mut (0..3).map(|i| Event::new(body(i))).collect())
        .expect("put");
    Arc::try_unwrap(ch).ok().expect("sole owner").crash();
    let newest = newest_segment(&s).expect("a segment");
    let name = newest.file_name().and_then(|n| n.to_str()).expect("name");
    let id: u64 = name["rflume-wal-".len()..].parse().expect("an id");
    let torn = s.data_dirs[0].join(format!("rflume-wal-{:020}", id + 1));
    std::fs::write(&torn, b"RFLUMW").expect("a torn header");
    let ch = open(&s);
    assert!(!torn.exists(), "the torn segment is removed");
    let got: Vec<u64> = ch.take_raw(7, Duration::ZERO).iter().map(id_of).collect();
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn a_second_channel_on_the_same_directories_is_refused() {
    let root = scratch();
    let s = settings(root.path());
    let _first = open(&s);
    let err = FileChannel::open(
        "c2",
        s.clone(),
        tuning(),
        Arc::new(ChannelCounter::default()),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("in use by another file channel"), "{err}");
}

#[test]
fn the_disk_part_is_read_back_when_memory_is_empty() {
    let root = scratch();
    let mut s = settings(root.path());
    s.capacity = 1000;
    s.max_file_size = 4096;
    let ch = open(&s);
    for i in 0..50 {
        ch.put(&mut vec![Event::new(body(i)), Event::new(body(1000 + i))])
            .expect("put");
    }
    let got = take_all(&ch);
    let want: Vec<u64> = (0..50).flat_map(|i| [i, 1000 + i]).collect();
    assert_eq!(got, want);
}

/// Segments are deleted once everything in them was delivered and a checkpoint says so.
#[test]
fn delivered_segments_are_deleted() {
    let root = scratch();
    let mut s = settings(root.path());
    s.capacity = 1000;
    let ch = open(&s);
    for i in 0..100 {
        ch.put(&mut vec![Event::new(body(i))]).expect("put");
    }
    let count = || {
        s.data_dirs
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with("rflume-wal-"))
            .count()
    };
    assert!(count() > 5, "tiny segments: many of them");
    loop {
        let t = ch.take_raw(7, Duration::ZERO);
        if t.is_empty() {
            break;
        }
        ch.commit_take(&t);
    }
    crate::testing::wait_for("the keeper deleted the delivered segments", || count() <= 1);
}

/// Group commit: put commits that wait while an fsync is in progress share the next one, so N
/// concurrent commits cost one fsync, not N — and every one of them is durable.
///
/// Sharing needs overlap: were the threads to run one after the other (each put done before
/// the next begins), every commit would pay its own fsync under any design, and no count of
/// fsyncs would be guaranteed. On a real disk an fsync takes milliseconds and the others pile
/// up behind it; the WAL's test-only hold stands for that slow disk, making the pile-up certain
/// instead of likely: the first syncer of a round waits until all the round's puts are appended
/// and written. It syncs nothing itself and decides nothing about who shares: that the one
/// fsync after it covers every waiting commit (the syncer syncs all that is written, not its
/// own record; the others see a sync in progress and wait for it) is the design under test.
/// So each round costs exactly one fsync; with a sync per commit it would cost 16.
#[test]
fn concurrent_put_commits_share_one_fsync() {
    const THREADS: u64 = 16;
    const ROUNDS: u64 = 5;
    // A real disk, not tmpfs: the fsyncs are real ones.
    let root = tempfile::tempdir().expect("tempdir");
    let mut s = settings(root.path());
    s.capacity = 1000;
    // One segment for the whole test: a roll would add fsyncs of its own.
    s.max_file_size = 1 << 20;
    s.checkpoint_interval = Duration::from_secs(3600);
    // The keeper never wakes during the test, so every fsync counted is a put's.
    let t = Tuning {
        keeper_tick: Duration::from_secs(3600),
        ..tuning()
    };
    let ch = Arc::new(
        FileChannel::open("c1", s.clone(), t, Arc::new(ChannelCounter::default()))
            .expect("the channel opens"),
    );
    // The first put creates the segment (its header and directory entry are synced too).
    ch.put(&mut vec![Event::new(body(0))]).expect("put");
    let fsyncs = || {
        ch.wal()
            .stats
            .fsyncs
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let before = fsyncs();
    for round in 0..ROUNDS {
        let puts_so_far = 1 + THREADS * round;
        ch.wal()
            .hold_syncs_until_puts
            .store(puts_so_far + THREADS, std::sync::atomic::Ordering::SeqCst);
        let start = std::sync::Barrier::new(THREADS as usize);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (ch, start) = (&ch, &start);
                scope.spawn(move || {
                    start.wait();
                    ch.put(&mut vec![Event::new(body(puts_so_far + t))])
                        .expect("put");
                });
            }
        });
    }
    let put_fsyncs = fsyncs() - before;
    assert_eq!(
        put_fsyncs,
        ROUNDS,
        "{} put commits in {ROUNDS} rounds of {THREADS} concurrent ones: one shared fsync a round",
        THREADS * ROUNDS
    );
    // Every commit is durable: after a power loss (no checkpoint, no sync at close, everything
    // not synced gone) all are there.
    Arc::try_unwrap(ch).ok().expect("sole owner").crash();
    lose_power(&s, 0, None);
    let ch = open(&s);
    let mut got = take_all(&ch);
    got.sort_unstable();
    assert_eq!(got, (0..=THREADS * ROUNDS).collect::<Vec<_>>());
}
