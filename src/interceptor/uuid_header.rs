//! UUID interceptor — Flume's `org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder` (it
//! has no alias in Flume): sets a header (`headerName`, default `id`) to `prefix` + a random
//! (version 4) UUID in Java's `UUID.toString()` form, keeping an existing one unless
//! `preserveExisting = false`.
//!
//! The random bytes are read from the OS in blocks of [`UUIDS_PER_READ`] UUIDs, not once per
//! event.

use uuid::Builder;

use super::{Interceptor, InterceptorSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;

/// UUIDs made from one read of the OS random source.
const UUIDS_PER_READ: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UuidSettings {
    pub header_name: String,
    pub preserve_existing: bool,
    pub prefix: String,
}

impl UuidSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        Some(UuidSettings {
            header_name: r.string("headerName", "id"),
            preserve_existing: r.bool("preserveExisting", true),
            prefix: r.string("prefix", ""),
        })
    }
}

impl Describe for UuidSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("headerName".into(), self.header_name.clone()),
            (
                "preserveExisting".into(),
                self.preserve_existing.to_string(),
            ),
            ("prefix".into(), self.prefix.clone()),
        ]
    }
}

impl InterceptorSpec for UuidSettings {
    fn build(&self) -> Box<dyn Interceptor> {
        Box::new(UuidInterceptor {
            s: self.clone(),
            random: Vec::new(),
            used: 0,
            fallback: Fallback::seeded(),
        })
    }
}

pub struct UuidInterceptor {
    s: UuidSettings,
    random: Vec<u8>,
    used: usize,
    fallback: Fallback,
}

impl UuidInterceptor {
    fn next_bytes(&mut self) -> [u8; 16] {
        if self.used + 16 > self.random.len() {
            self.random.resize(16 * UUIDS_PER_READ, 0);
            if getrandom::fill(&mut self.random).is_err() {
                // The OS random source failing is not a reason to stop the pipeline; ids stay
                // unique, only less unpredictable.
                self.fallback.fill(&mut self.random);
            }
            self.used = 0;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&self.random[self.used..self.used + 16]);
        self.used += 16;
        bytes
    }
}

impl Interceptor for UuidInterceptor {
    fn intercept(&mut self, mut events: Vec<Event>) -> Vec<Event> {
        for e in &mut events {
            if self.s.preserve_existing && e.headers.get(&self.s.header_name).is_some() {
                continue;
            }
            let id = Builder::from_random_bytes(self.next_bytes()).into_uuid();
            let mut value = String::with_capacity(self.s.prefix.len() + 36);
            value.push_str(&self.s.prefix);
            value.push_str(
                id.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
            e.headers.insert(self.s.header_name.clone(), value);
        }
        events
    }
}

/// xorshift64* seeded from the clock and a stack address: only used if the OS random source
/// fails.
struct Fallback(u64);

impl Fallback {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let here = &t as *const u64 as u64;
        Fallback((t ^ here.rotate_left(32)) | 1)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn settings(preserve_existing: bool, prefix: &str) -> UuidSettings {
        UuidSettings {
            header_name: "id".into(),
            preserve_existing,
            prefix: prefix.into(),
        }
    }

    #[test]
    fn sets_distinct_version_4_uuids_in_javas_format() {
        let mut i = settings(true, "").build();
        let events: Vec<Event> = (0..600).map(|_| Event::new("x")).collect();
        let out = i.intercept(events);
        let ids: HashSet<&str> = out
            .iter()
            .map(|e| e.headers.get("id").expect("set"))
            .collect();
        assert_eq!(
            ids.len(),
            600,
            "all distinct, across refills of the random block"
        );
        for id in ids {
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(id, id.to_ascii_lowercase(), "Java prints lower case");
            assert_eq!(id.len(), 36);
        }
    }

    #[test]
    fn prefix_and_preserve_existing() {
        let mut e = Event::new("x");
        e.headers.insert("id", "mine");
        let out = settings(true, "p-")
            .build()
            .intercept(vec![e.clone(), Event::new("y")]);
        assert_eq!(out[0].headers.get("id"), Some("mine"));
        assert!(out[1].headers.get("id").expect("set").starts_with("p-"));
        let out = settings(false, "").build().intercept(vec![e]);
        assert_ne!(out[0].headers.get("id"), Some("mine"));
    }
}
