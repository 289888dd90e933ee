//! Numbered lines in, a tally out: a bounded writer that appends `line-000000`, `line-000001`, …
//! to a file at a steady pace while a fault is injected, and the account of what a topic holds of
//! them — missing lines, duplicates, and whether each partition kept the order written.
//!
//! The tally is judged on a topic read to its end after the agent stopped (see `consume_all`), so
//! a late duplicate still counts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::kafka::Record;
use super::{append_lines, wait_until};

/// The text of line `n`: fixed width, so every record has the same size.
pub fn numbered(n: usize) -> String {
    format!("line-{n:06}")
}

/// The number of a [`numbered`] line, `None` for anything else.
pub fn number_of(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value)
        .ok()?
        .strip_prefix("line-")?
        .parse()
        .ok()
}

/// Appends `total` numbered lines to a file from a background thread, `per_tick` every `tick`, as
/// an application writing its log would; stops by itself when all are written (or when dropped).
pub struct LineStream {
    written: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    total: usize,
    handle: Option<JoinHandle<()>>,
}

impl LineStream {
    pub fn start(path: PathBuf, total: usize, per_tick: usize, tick: Duration) -> LineStream {
        let written = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (written, stop) = (written.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now();
                let mut first = 0;
                while first < total && !stop.load(Ordering::SeqCst) {
                    let last = (first + per_tick).min(total);
                    append_lines(&path, (first..last).map(numbered));
                    written.store(last, Ordering::SeqCst);
                    first = last;
                    // A pacing clock, not a wait for a condition: the writer's rate is the input.
                    next += tick;
                    if let Some(pause) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(pause);
                    }
                }
            })
        };
        LineStream {
            written,
            stop,
            total,
            handle: Some(handle),
        }
    }

    /// Lines appended (and flushed) so far.
    pub fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }

    /// Waits until `n` lines are written (at most `deadline`).
    #[track_caller]
    pub fn wait_written(&self, n: usize, deadline: Duration) {
        wait_until(deadline, &format!("{n} lines are appended"), || {
            self.written() >= n
        });
    }

    /// Stops writing (after the current tick); returns how many lines were written.
    pub fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("line writer panicked");
        }
        self.written()
    }

    /// Waits until every line is written; returns how many that is.
    #[track_caller]
    pub fn finish(mut self, deadline: Duration) -> usize {
        self.wait_written(self.total, deadline);
        if let Some(h) = self.handle.take() {
            h.join().expect("line writer panicked");
        }
        self.total
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What a topic holds of the numbered lines `0..sent`.
#[derive(Debug)]
pub struct Tally {
    pub sent: usize,
    pub records: usize,
    pub distinct: usize,
    /// Lines never delivered (the first few, and how many).
    pub missing: Vec<usize>,
    /// Records beyond the first of their line.
    pub duplicates: usize,
    /// The lines delivered more than once, as runs `first..=last` (the first few).
    pub duplicated: Vec<(usize, usize)>,
    /// Records that are not numbered lines at all.
    pub foreign: usize,
    /// Per partition, the first place where a line's first appearance comes after a higher
    /// line's: (partition, offset, line, the higher line before it).
    pub out_of_order: Vec<(i32, i64, usize, usize)>,
    pub per_partition: BTreeMap<i32, usize>,
}

impl Tally {
    pub fn of(records: &[Record], sent: usize) -> Tally {
        let mut count: HashMap<usize, usize> = HashMap::new();
        let mut foreign = 0;
        let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
        let mut highest: HashMap<i32, usize> = HashMap::new();
        let mut out_of_order = Vec::new();
        // `consume_all` returns records sorted by (partition, offset).
        for r in records {
            *per_partition.entry(r.partition).or_default() += 1;
            let Some(n) = number_of(&r.value) else {
                foreign += 1;
                continue;
            };
            let seen = count.entry(n).or_default();
            *seen += 1;
            if *seen > 1 {
                // A re-sent record: order is judged on first appearances.
                continue;
            }
            let top = highest.entry(r.partition).or_insert(n);
            if n < *top {
                if !out_of_order
                    .iter()
                    .any(|o: &(i32, i64, usize, usize)| o.0 == r.partition)
                {
                    out_of_order.push((r.partition, r.offset, n, *top));
                }
            } else {
                *top = n;
            }
        }
        let missing: Vec<usize> = (0..sent).filter(|n| !count.contains_key(n)).collect();
        let mut repeated: Vec<usize> = count
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(n, _)| *n)
            .collect();
        repeated.sort_unstable();
        let mut duplicated: Vec<(usize, usize)> = Vec::new();
        for n in repeated {
            let full = duplicated.len() >= 10;
            match duplicated.last_mut() {
                Some((_, last)) if *last + 1 == n => *last = n,
                _ if full => break,
                _ => duplicated.push((n, n)),
            }
        }
        let distinct = count.len();
        Tally {
            sent,
            records: records.len(),
            distinct,
            missing,
            duplicates: count.values().map(|c| c - 1).sum(),
            duplicated,
            foreign,
            out_of_order,
            per_partition,
        }
    }

    /// One line for the test's output: sent, delivered, duplicates, spread.
    pub fn summary(&self) -> String {
        let missing = if self.missing.is_empty() {
            String::new()
        } else {
            format!(
                ", MISSING {} (first {:?})",
                self.missing.len(),
                &self.missing[..self.missing.len().min(10)]
            )
        };
        let runs = if self.duplicated.is_empty() {
            String::new()
        } else {
            let runs: Vec<String> = self
                .duplicated
                .iter()
                .map(|(a, b)| format!("{a}..={b}"))
                .collect();
            format!(" (lines {})", runs.join(", "))
        };
        format!(
            "sent {}, delivered {} ({} records), duplicates {}{runs}{missing}, per partition {:?}{}",
            self.sent,
            self.distinct,
            self.records,
            self.duplicates,
            self.per_partition,
            if self.out_of_order.is_empty() {
                String::new()
            } else {
                format!(", out of order {:?}", self.out_of_order)
            }
        )
    }
}
