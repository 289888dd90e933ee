//! Which store the next events are in: Flume's drain order, the runs of puts in commit order.

use std::collections::VecDeque;

/// Flume's `DrainOrderQueue`: runs of puts in commit order, positive for memory, negative for
/// the overflow; never a zero.
#[derive(Debug, Default)]
pub(super) struct DrainOrder(VecDeque<i64>);

impl DrainOrder {
    pub(super) fn front(&self) -> Option<i64> {
        self.0.front().copied()
    }

    pub(super) fn push_back(&mut self, n: i64) {
        match self.0.back_mut() {
            Some(last) if last.signum() == n.signum() => *last += n,
            _ => self.0.push_back(n),
        }
    }

    pub(super) fn push_front(&mut self, n: i64) {
        match self.0.front_mut() {
            Some(first) if first.signum() == n.signum() => *first += n,
            _ => self.0.push_front(n),
        }
    }

    /// Takes `n` events off the head run (which must hold them, with the sign of `n`).
    pub(super) fn take_front(&mut self, n: i64) {
        if let Some(first) = self.0.front_mut() {
            *first -= n;
            if *first == 0 {
                self.0.pop_front();
            }
        }
    }
}
