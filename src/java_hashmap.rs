//! The iteration order of a `java.util.HashMap<String, …>` built with `new HashMap<>()` and one
//! `put` per key: where Flume's output shows a header map — the Avro `AvroFlumeEvent` the Kafka
//! sink writes, the logger sink's `headers:{…}` text — the order is Java's, and rflume, which keeps
//! headers in insertion order, reproduces it with this model of `HashMap`'s table:
//! `String.hashCode`, the `h ^ (h >>> 16)` spread, the 16-bucket start, doubling past a 0.75 load
//! factor and when a bucket passes 8 entries in a table smaller than 64, then iteration bucket by
//! bucket, each bucket in insertion order. The one case the model does not reproduce is a bucket
//! that Java turns into a red-black tree (9 or more keys sharing a bucket of a table with at least
//! 64 buckets); such header sets need dozens of headers with colliding hashes and keep insertion
//! order within that bucket (a differential test against real Flume shows this limit).

/// The order in which `java.util.HashMap` (default constructor, filled by one `put` per key in the
/// given order) iterates `keys`: returns indexes into `keys`. Keys must be distinct.
pub fn java_hashmap_order<S: AsRef<str>>(keys: &[S]) -> Vec<usize> {
    let mut order = vec![0u32; keys.len()];
    java_hashmap_order_into(&SliceKeys(keys), &mut order);
    order.into_iter().map(|i| i as usize).collect()
}

/// `java.lang.String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `HashMap.hash(key)`: the high half folded into the low half, because the table index only uses
/// the low bits.
fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

/// `HashMap`'s constants (JDK 8 and later).
const DEFAULT_INITIAL_CAPACITY: usize = 16;
const TREEIFY_THRESHOLD: usize = 8;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// Table size after `HashMap.put` of every key in order, starting from `new HashMap<>()`.
fn final_table_size(hashes: &[u32]) -> usize {
    let mut capacity = DEFAULT_INITIAL_CAPACITY;
    // threshold = capacity * 0.75; both double together on every resize.
    let mut threshold = DEFAULT_INITIAL_CAPACITY * 3 / 4;
    for (size_before, &hash) in hashes.iter().enumerate() {
        // putVal appends to the bucket's list; when the bucket already held TREEIFY_THRESHOLD
        // nodes it calls treeifyBin, which only resizes while the table is small.
        if size_before >= TREEIFY_THRESHOLD && capacity < MIN_TREEIFY_CAPACITY {
            let mask = (capacity - 1) as u32;
            let bucket = hash & mask;
            let in_bucket = hashes[..size_before]
                .iter()
                .filter(|&&h| h & mask == bucket)
                .count();
            if in_bucket >= TREEIFY_THRESHOLD {
                capacity *= 2;
                threshold *= 2;
            }
        }
        if size_before + 1 > threshold {
            capacity *= 2;
            threshold *= 2;
        }
    }
    capacity
}

/// Writes into `order` (len == number of keys) the Java iteration order. Resizes split each
/// bucket's list into two lists that keep their relative order, so after any number of resizes a
/// bucket holds its keys in insertion order: iteration is a stable sort by final bucket index.
pub fn java_hashmap_order_into(keys: &dyn KeySource, order: &mut [u32]) {
    let n = order.len();
    let mut hashes = U32Buf::new(n);
    let hashes = hashes.as_mut_slice();
    for (i, h) in hashes.iter_mut().enumerate() {
        *h = spread(java_string_hash(keys.key(i)));
    }
    let mask = (final_table_size(hashes) - 1) as u32;
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u32;
    }
    // Sorting by (bucket, insertion index) is the stable sort by bucket.
    order.sort_unstable_by_key(|&i| (hashes[i as usize] & mask, i));
}

/// Indexed access to the keys, so that a caller need not collect them.
pub trait KeySource {
    fn key(&self, i: usize) -> &str;
}

struct SliceKeys<'a, S>(&'a [S]);

impl<S: AsRef<str>> KeySource for SliceKeys<'_, S> {
    fn key(&self, i: usize) -> &str {
        self.0[i].as_ref()
    }
}

/// Keys per map that are ordered without allocating.
const INLINE: usize = 32;

/// A `u32` scratch buffer (hashes, iteration order), on the stack up to [`INLINE`] entries.
pub struct U32Buf {
    inline: [u32; INLINE],
    heap: Vec<u32>,
    len: usize,
}

impl U32Buf {
    pub fn new(len: usize) -> Self {
        U32Buf {
            inline: [0; INLINE],
            heap: if len > INLINE {
                vec![0; len]
            } else {
                Vec::new()
            },
            len,
        }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u32] {
        if self.len > INLINE {
            &mut self.heap
        } else {
            &mut self.inline[..self.len]
        }
    }
}
