//! The spillable memory channel's settings: Flume's `SpillableMemoryChannel.configure`, then the
//! file channel's own for the overflow; what `rflume check` prints; the spec that builds it.

use std::sync::Arc;
use std::time::Duration;

use super::SpillableMemoryChannel;
use crate::channel::file::{FileChannel, FileSettings, Tuning};
use crate::channel::{Channel, ChannelSpec, OpenError};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::metrics::ChannelCounter;

/// Flume's `defaultMemoryCapacity`.
pub const DEFAULT_MEMORY_CAPACITY: i64 = 10_000;
/// Flume's `defaultOverflowCapacity`.
pub const DEFAULT_OVERFLOW_CAPACITY: i64 = 100_000_000;
/// Flume's `defaultOverflowTimeout`, seconds.
pub const DEFAULT_OVERFLOW_TIMEOUT_SECS: i64 = 3;
/// Flume's `defaultOverflowDeactivationThreshold`, percent of memory free.
pub const DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD: i64 = 5;
/// Flume's `defaultAvgEventSize`, bytes: the unit `byteCapacity` is counted in.
pub const DEFAULT_AVG_EVENT_SIZE: i64 = 500;
/// Flume's `defaultByteCapacityBufferPercentage`.
pub const DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE: i64 = 20;

#[derive(Clone, Debug, PartialEq)]
pub struct SpillableSettings {
    pub memory_capacity: usize,
    /// 0: the overflow is disabled.
    pub overflow_capacity: usize,
    pub overflow_timeout: Duration,
    /// Percent of memory free at which spilling stops.
    pub overflow_deactivation_threshold: i64,
    /// `None`: no byte limit.
    pub byte_capacity: Option<i64>,
    pub byte_capacity_buffer_percentage: i64,
    pub avg_event_size: u64,
    /// The overflow file channel, as Flume configures it (`capacity = overflowCapacity`).
    pub overflow: FileSettings,
}

impl SpillableSettings {
    /// Flume's `SpillableMemoryChannel.configure`, then the file channel's own for the overflow.
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let mut memory_capacity = lenient_int(r, "memoryCapacity", DEFAULT_MEMORY_CAPACITY);
        if memory_capacity < 0 {
            warn_default(
                r,
                "memoryCapacity",
                memory_capacity,
                DEFAULT_MEMORY_CAPACITY,
            );
            memory_capacity = DEFAULT_MEMORY_CAPACITY;
        }
        let mut overflow_timeout = lenient_int(r, "overflowTimeout", DEFAULT_OVERFLOW_TIMEOUT_SECS);
        if overflow_timeout < 0 {
            let line = r.line("overflowTimeout");
            r.warn(
                "overflowTimeout",
                line,
                format!("a negative overflowTimeout ({overflow_timeout}) means no wait before spilling, as in Flume"),
                Some("use 0 to say so".to_string()),
            );
            overflow_timeout = 0;
        }
        let threshold = lenient_int(
            r,
            "overflowDeactivationThreshold",
            DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD,
        );
        let pct = lenient_int(
            r,
            "byteCapacityBufferPercentage",
            DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
        );
        let mut avg_event_size = lenient_int(r, "avgEventSize", DEFAULT_AVG_EVENT_SIZE);
        if avg_event_size < 1 {
            let line = r.line("avgEventSize");
            r.warn(
                "avgEventSize",
                line,
                format!("avgEventSize {avg_event_size} cannot be a unit of bytes (Flume divides by it); {DEFAULT_AVG_EVENT_SIZE} is used"),
                Some("use a positive number of bytes".to_string()),
            );
            avg_event_size = DEFAULT_AVG_EVENT_SIZE;
        }
        let byte_capacity = match r.raw("byteCapacity") {
            None => None,
            Some((v, line)) => match v.trim().parse::<i64>() {
                Ok(b) => Some(b),
                Err(_) => {
                    r.warn(
                        "byteCapacity",
                        Some(line),
                        format!("invalid byteCapacity '{v}'; Flume falls back to 80% of its JVM heap, rflume to no byte limit"),
                        Some("use a number of bytes".to_string()),
                    );
                    None
                }
            },
        };
        // Flume: `getInteger` throwing leaves the default, without a word; rflume says so.
        let mut overflow_capacity = lenient_int(r, "overflowCapacity", DEFAULT_OVERFLOW_CAPACITY);
        if memory_capacity < 1 && overflow_capacity < 1 {
            let line = r.line("overflowCapacity");
            r.warn(
                "overflowCapacity",
                line,
                format!("overflowCapacity cannot be 0 when memoryCapacity is 0 too; Flume's default {DEFAULT_OVERFLOW_CAPACITY} is used, as Flume does"),
                Some("give memory or the overflow some room".to_string()),
            );
            overflow_capacity = DEFAULT_OVERFLOW_CAPACITY;
        }
        for key in ["capacity", "keep-alive"] {
            if let Some((_, line)) = r.ignored(key) {
                r.warn(
                    key,
                    Some(line),
                    format!("the spillable memory channel sets its overflow's {key} itself (capacity = overflowCapacity, keep-alive = 0), as Flume does; ignored"),
                    Some(match key {
                        "capacity" => "use memoryCapacity and overflowCapacity".to_string(),
                        _ => "use overflowTimeout".to_string(),
                    }),
                );
            }
        }
        let mut overflow = FileSettings::parse_overflow(r, overflow_capacity)?;
        // Flume's overflow put retries once after sleeping `overflowTimeout` when the file
        // channel is full; waiting that long for room does the same and wakes up sooner.
        overflow.keep_alive = Duration::from_secs(overflow_timeout as u64);
        if r.failed() {
            return None;
        }
        Some(SpillableSettings {
            memory_capacity: memory_capacity as usize,
            overflow_capacity: overflow_capacity.max(0) as usize,
            overflow_timeout: Duration::from_secs(overflow_timeout as u64),
            overflow_deactivation_threshold: threshold,
            byte_capacity,
            byte_capacity_buffer_percentage: pct,
            avg_event_size: avg_event_size as u64,
            overflow,
        })
    }

    /// Flume's byte budget in `avgEventSize` units,
    /// `(int) (byteCapacity * (1 - pct * .01)) / avgEventSize`, where less than one unit means no
    /// limit (`Integer.MAX_VALUE` permits). `None`: no limit.
    pub(super) fn byte_units(&self) -> Option<u64> {
        let b = self.byte_capacity?;
        let units = (b as f64 * (1.0 - self.byte_capacity_buffer_percentage as f64 * 0.01))
            / self.avg_event_size as f64;
        // Java's double-to-int cast saturates; NaN becomes 0.
        let units = if units.is_nan() {
            0
        } else {
            units.min(i32::MAX as f64) as i64
        };
        (units >= 1 && units < i32::MAX as i64).then_some(units as u64)
    }
}

/// A Java `int` as Flume's spillable channel reads its own settings: a value that is not one
/// falls back to `default` with Flume's warning.
fn lenient_int(r: &mut PropReader, key: &str, default: i64) -> i64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.trim().parse::<i32>() {
        Ok(n) => n as i64,
        Err(_) => {
            r.warn(
                key,
                Some(line),
                format!("invalid {key} '{v}'; using Flume's default of {default}, as Flume does"),
                Some("use an integer below 2147483648".to_string()),
            );
            default
        }
    }
}

fn warn_default(r: &mut PropReader, key: &str, got: i64, default: i64) {
    let line = r.line(key);
    r.warn(
        key,
        line,
        format!("{key} must be >= 0, got {got}; using Flume's default of {default}, as Flume does"),
        None,
    );
}

impl Describe for SpillableSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("memoryCapacity".into(), self.memory_capacity.to_string()),
            (
                "overflowCapacity".into(),
                match self.overflow_capacity {
                    0 => "0 (overflow disabled)".to_string(),
                    n => n.to_string(),
                },
            ),
            (
                "overflowTimeout".into(),
                self.overflow_timeout.as_secs().to_string(),
            ),
            (
                "overflowDeactivationThreshold".into(),
                self.overflow_deactivation_threshold.to_string(),
            ),
            (
                "byteCapacity".into(),
                self.byte_capacity
                    .map_or("unlimited".to_string(), |b| b.to_string()),
            ),
            (
                "byteCapacityBufferPercentage".into(),
                self.byte_capacity_buffer_percentage.to_string(),
            ),
            ("avgEventSize".into(), self.avg_event_size.to_string()),
        ];
        // The overflow's own properties, but for the two this channel sets itself.
        out.extend(
            self.overflow
                .describe()
                .into_iter()
                .filter(|(k, _)| k != "capacity" && k != "keep-alive"),
        );
        out
    }
}

impl ChannelSpec for SpillableSettings {
    fn transaction_capacity(&self) -> usize {
        self.overflow.transaction_capacity
    }
    fn capacity(&self) -> Option<usize> {
        Some(self.memory_capacity + self.overflow_capacity)
    }
    fn build(
        &self,
        name: &str,
        counter: Arc<ChannelCounter>,
    ) -> Result<Arc<dyn Channel>, OpenError> {
        let overflow = FileChannel::open(
            name,
            self.overflow.clone(),
            Tuning::default(),
            Arc::new(ChannelCounter::default()),
        )
        .map_err(|e| OpenError::File {
            channel: name.to_string(),
            source: e,
        })?;
        Ok(Arc::new(SpillableMemoryChannel::new(
            name,
            self.clone(),
            overflow,
            counter,
        )))
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<SpillableSettings>, Vec<String>) {
        let (s, d) = parse_for_test(pairs, None, SpillableSettings::parse);
        (s, d.lines())
    }

    #[test]
    fn settings_as_flume_reads_them() {
        let (s, diags) = parse(&[("checkpointDir", "/c"), ("dataDirs", "/d")]);
        let s = s.expect("defaults");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            (
                s.memory_capacity,
                s.overflow_capacity,
                s.overflow_timeout.as_secs()
            ),
            (10_000, 100_000_000, 3)
        );
        assert_eq!(s.overflow.capacity, 100_000_000, "the overflow's capacity");
        assert_eq!(s.overflow.transaction_capacity, 10_000);

        let (s, diags) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("capacity", "5"),
            ("keep-alive", "9"),
            ("overflowCapacity", "2000"),
            ("transactionCapacity", "100"),
        ]);
        let s = s.expect("parses");
        assert_eq!((s.overflow.capacity, s.overflow_capacity), (2000, 2000));
        assert_eq!(
            diags.len(),
            2,
            "capacity and keep-alive are ignored, said: {diags:?}"
        );

        let (s, diags) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("memoryCapacity", "0"),
            ("overflowCapacity", "0"),
        ]);
        assert_eq!(
            s.map(|s| s.overflow_capacity),
            Some(100_000_000),
            "{diags:?}"
        );

        // Flume's file channel refuses a transactionCapacity above its capacity, which is
        // overflowCapacity here (10,000 > 1,000): the channel is dropped.
        let (s, diags) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("overflowCapacity", "1000"),
        ]);
        assert!(s.is_none(), "{diags:?}");
        assert!(
            diags.iter().any(|d| d.contains("overflowCapacity")),
            "{diags:?}"
        );

        let (s, _) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("memoryCapacity", "lots"),
            ("byteCapacity", "1000000"),
        ]);
        let s = s.expect("falls back");
        assert_eq!(s.memory_capacity, 10_000);
        assert_eq!(
            s.byte_units(),
            Some(1600),
            "800,000 bytes in 500-byte units"
        );
    }
}
