//! The unit of data that flows through the agent: Flume's `Event`, a set of string headers and an
//! opaque body.
//!
//! The body is a [`Bytes`] so that a line read by a source is a slice of the source's read buffer
//! (no copy) until the sink hands it to librdkafka (the one copy). Headers are a small vector, not a
//! map: almost every event in a log pipeline has none, and an empty `Vec` does not allocate, so the
//! hot path of `tail -F` → Kafka allocates nothing per event for headers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

/// Flume's event headers. Keys are unique; insertion order is kept (Flume's `HashMap` order is
/// reproduced only where it is observable on the wire, see `kafka::avro`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an existing value (Flume's `Map.put`).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(pos).1)
    }

    /// Keeps the headers for which `keep(name, value)` holds, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.insert(k, v);
        }
        h
    }
}

/// A delivery receipt shared by the events of one source batch: it fires its callback once
/// every copy of every event carrying it was committed by a sink's take transaction, i.e. once the
/// downstream acknowledged them.
///
/// This is how TAILDIR advances its persisted file positions only past lines that reached Kafka,
/// so that even with a memory channel a `kill -9` loses nothing (the lines are read again). Events
/// without a receipt (most sources) pay nothing but an `Option` check at commit.
#[derive(Clone)]
pub struct Receipt(Arc<ReceiptInner>);

struct ReceiptInner {
    remaining: AtomicUsize,
    on_delivered: Box<dyn Fn() + Send + Sync>,
}

impl Receipt {
    /// A receipt expecting no acknowledgements yet; see [`Receipt::expect`].
    pub fn new(on_delivered: impl Fn() + Send + Sync + 'static) -> Self {
        Receipt(Arc::new(ReceiptInner {
            remaining: AtomicUsize::new(0),
            on_delivered: Box::new(on_delivered),
        }))
    }

    /// Announces `n` more acknowledgements to wait for (one per event copy put into a channel).
    /// Must be called before the copies can be taken.
    pub fn expect(&self, n: usize) {
        self.0.remaining.fetch_add(n, Ordering::AcqRel);
    }

    /// One copy was delivered; the last one fires the callback.
    pub fn ack(&self) {
        if self.0.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            (self.0.on_delivered)();
        }
    }

    pub fn ptr_eq(&self, other: &Receipt) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Receipt({} pending)",
            self.0.remaining.load(Ordering::Relaxed)
        )
    }
}

/// A Flume event: headers plus body bytes, and an optional delivery receipt (not part of the
/// event's content: two events with the same headers and body are equal).
#[derive(Clone, Debug, Default)]
pub struct Event {
    pub headers: Headers,
    pub body: Bytes,
    pub receipt: Option<Receipt>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.headers == other.headers && self.body == other.body
    }
}

impl Eq for Event {}

impl Event {
    pub fn new(body: impl Into<Bytes>) -> Self {
        Event {
            headers: Headers::new(),
            body: body.into(),
            receipt: None,
        }
    }

    pub fn with_headers(headers: Headers, body: impl Into<Bytes>) -> Self {
        Event {
            headers,
            body: body.into(),
            receipt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_fires_once_after_every_expected_ack() {
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let r = Receipt::new(move || {
            f.fetch_add(1, Ordering::SeqCst);
        });
        r.expect(2);
        r.ack();
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        r.ack();
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn insert_replaces_existing_key_and_keeps_order() {
        let mut h = Headers::new();
        h.insert("a", "1");
        h.insert("b", "2");
        h.insert("a", "3");
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
        assert_eq!(h.remove("a").as_deref(), Some("3"));
        assert_eq!(h.get("a"), None);
        assert_eq!(h.len(), 1);
    }
}
