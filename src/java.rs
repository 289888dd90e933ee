//! Models of Java library behaviour that byte-for-byte compatibility with Flume needs.
//!
//! * `java.util.HashMap`'s iteration order ([`java_hashmap_order`]): Flume writes maps in it —
//!   the Kafka sink's `AvroFlumeEvent` headers and `header.*` record headers, the logger sink's
//!   `headers:{…}`, the HTTP monitor's `/metrics` JSON (Gson over `HashMap`s). The model replays the `put`s on `HashMap`'s table — `String.hashCode`, the
//!   `h ^ (h >>> 16)` spread, the 16-bucket start, doubling past a 0.75 load factor and when a
//!   bucket passes 8 entries in a table smaller than 64 — and iterates it bucket by bucket, each
//!   bucket in insertion order. Not reproduced: a bucket Java turns into a red-black tree (9 or
//!   more keys sharing a bucket of a table of 64 or more), which needs dozens of colliding keys.
//! * `Double.toString` ([`java_double_to_string`]), for Flume's `ChannelFillPercentage`.

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

pub trait KeySource {
    fn key(&self, i: usize) -> &str;
}

struct SliceKeys<'a, S>(&'a [S]);

impl<S: AsRef<str>> KeySource for SliceKeys<'_, S> {
    fn key(&self, i: usize) -> &str {
        self.0[i].as_ref()
    }
}

/// Keys per map that the order is computed for without allocating.
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

/// `java.lang.Double.toString(v)`: the shortest decimal that reads back as `v` (JDK 19+; older
/// JDKs sometimes print one more digit), always with a fraction (`50.0`), in computerized
/// scientific notation outside 10^-3 ≤ |v| < 10^7 (`1.0E-4`, `1.7976931348623157E308`).
pub fn java_double_to_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    // Rust's `{:e}` is the same shortest digits as `1e-4` / `1.7976931348623157e308`.
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values printed by Java's "…".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("timestamp"), 55126294);
        assert_eq!(java_string_hash("host"), 3208616);
        assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
        // Overflow wraps like Java int arithmetic.
        assert_eq!(
            java_string_hash("polygenelubricants"),
            i32::MIN,
            "classic Java example whose hashCode is Integer.MIN_VALUE"
        );
        // Characters outside the BMP hash as their two UTF-16 surrogates.
        assert_eq!(
            java_string_hash("😀"),
            0xD83D_i32.wrapping_mul(31).wrapping_add(0xDE00)
        );
    }

    #[test]
    fn order_follows_java_buckets() {
        // Hand-computed with a 16-bucket table (index = spread(hash) & 15):
        //   "a" = 97 → bucket 1; "b" = 98 → 2; "c" = 99 → 3;
        //   "host": hash 3208616 = 0x30F5A8, spread ^ 0x30 → 0x30F598 → bucket 8;
        //   "timestamp": 55126294 = 0x0349_2916, spread ^ 0x0349 → 0x0349_2A5F → bucket 15.
        // Java prints {a=…, b=…, c=…, host=…, timestamp=…} whatever the insertion order.
        let keys = ["timestamp", "c", "host", "b", "a"];
        let order = java_hashmap_order(&keys);
        let names: Vec<&str> = order.iter().map(|&i| keys[i]).collect();
        assert_eq!(names, vec!["a", "b", "c", "host", "timestamp"]);
    }

    #[test]
    fn same_bucket_keeps_insertion_order() {
        // "Aa" and "BB" share hashCode 2112 → bucket 0 (2112 = 0x840, & 15 = 0); "p" = 112 → 0 too.
        let order = java_hashmap_order(&["p", "BB", "Aa"]);
        assert_eq!(order, vec![0, 1, 2]);
        let order = java_hashmap_order(&["Aa", "p", "BB"]);
        assert_eq!(order, vec![0, 1, 2]);
        // "q" = 113 → bucket 1 goes after all of bucket 0, wherever it was inserted.
        let order = java_hashmap_order(&["q", "BB", "Aa"]);
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn thirteenth_key_doubles_the_table() {
        // Single letters "a".."m" are 97..109: buckets 1..13 of a 16 table and 1..13 of 32
        // (97..109 & 31 = 1..13) — same order either way. Then "Q" (81: 81 & 15 = 1, 81 & 31 = 17)
        // and "A" (65: bucket 1 of both). The 13th put (12 = 0.75 × 16 exceeded) doubles the
        // table to 32, so "Q" ends in bucket 17 after "m", and "A" shares bucket 1 with the
        // earlier "a".
        let mut keys: Vec<String> = ('a'..='m').map(|c| c.to_string()).collect();
        keys.push("Q".into());
        keys.push("A".into());
        let order = java_hashmap_order(&keys);
        let names: Vec<&str> = order.iter().map(|&i| keys[i].as_str()).collect();
        assert_eq!(
            names,
            vec!["a", "A", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "Q"]
        );
        // With 12 keys the table is still 16: "Q" (bucket 1) follows "a" (bucket 1, earlier).
        let mut keys: Vec<String> = ('a'..='k').map(|c| c.to_string()).collect();
        keys.push("Q".into());
        let order = java_hashmap_order(&keys);
        let names: Vec<&str> = order.iter().map(|&i| keys[i].as_str()).collect();
        assert_eq!(
            names,
            vec!["a", "Q", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
        );
    }

    #[test]
    fn crowded_bucket_resizes_small_table() {
        // Nine keys in bucket 0 of a 16 table — single chars whose code is a multiple of 16: '0' 48, '@' 64, 'P' 80, '`' 96,
        // 'p' 112, 0x80, 0x90, 0xA0, 0xB0 — all bucket 0 of 16. The 9th put finds 8 nodes and
        // treeifyBin resizes to 32 instead: buckets become 16 ('0' 48&31=16, 'P' 80&31=16, 'p'
        // 112&31=16, 0x90&31=16, 0xB0&31=16) and 0 ('@', '`', 0x80, 0xA0).
        let keys = [
            "0", "@", "P", "`", "p", "\u{80}", "\u{90}", "\u{A0}", "\u{B0}",
        ];
        let order = java_hashmap_order(&keys);
        let names: Vec<&str> = order.iter().map(|&i| keys[i]).collect();
        assert_eq!(
            names,
            vec!["@", "`", "\u{80}", "\u{A0}", "0", "P", "p", "\u{90}", "\u{B0}"]
        );
        // Eight of them stay in one 16-bucket list in insertion order.
        let order = java_hashmap_order(&keys[..8]);
        assert_eq!(order, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn doubles_print_as_java_does() {
        // Values printed by Java's Double.toString.
        assert_eq!(java_double_to_string(0.0), "0.0");
        assert_eq!(java_double_to_string(50.0), "50.0");
        assert_eq!(java_double_to_string(100.0), "100.0");
        assert_eq!(java_double_to_string(12.5), "12.5");
        assert_eq!(java_double_to_string(100.0 / 3.0), "33.333333333333336");
        assert_eq!(java_double_to_string(0.01), "0.01");
        assert_eq!(java_double_to_string(0.001), "0.001");
        assert_eq!(java_double_to_string(0.0001), "1.0E-4");
        assert_eq!(java_double_to_string(1.0e7), "1.0E7");
        assert_eq!(java_double_to_string(f64::MAX), "1.7976931348623157E308");
    }
}
