//! The put of an RPC source (avro, thrift): one client call's events into the channels, answered
//! only once committed.
//!
//! The put may wait for room in a full channel (backpressure), so it runs off the connection's
//! task (other connections are read and answered meanwhile) and gives up after [`PUT_TIMEOUT`]
//! — below Flume's 20 s `request-timeout`, so the client hears `FAILED` and resends instead of
//! timing out on its own while the put still goes on, which would store the batch twice. While
//! the agent stops, the put is retried until the drain deadline, as every source's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use super::{ChannelProcessor, PutOutcome};
use crate::event::Event;
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;

/// What the client called. Flume's AvroSource and ThriftSource count an `append` in
/// `AppendReceivedCount`/`AppendAcceptedCount` and an `appendBatch` in the batch counters, once
/// per call: rflume may split a call's batch into several transactions, and it is still one
/// call (so their processors count no batches themselves, [`super::BatchCounts::None`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Called {
    Append,
    AppendBatch,
}

impl Called {
    /// The call was read (before its events are put).
    pub fn received(self, c: &SourceCounter) {
        match self {
            Called::Append => c.append_received.inc(),
            Called::AppendBatch => c.append_batch_received.inc(),
        }
    }
    /// Every event of the call was committed.
    pub fn accepted(self, c: &SourceCounter) {
        match self {
            Called::Append => c.append_accepted.inc(),
            Called::AppendBatch => c.append_batch_accepted.inc(),
        }
    }
}

/// How long a put may wait for room in a full channel before the client is answered `FAILED`
/// (Flume answers after the channel's `keep-alive`, 3 s by default).
pub const PUT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the put of one source needs, shared by all its connections.
pub struct RpcPut {
    source: String,
    processor: Arc<Mutex<ChannelProcessor>>,
    /// The processor's counter, for what is counted without its lock (which a put may hold).
    counter: Arc<SourceCounter>,
    shutdown: Shutdown,
}

impl RpcPut {
    pub fn new(source: &str, processor: ChannelProcessor, shutdown: &Shutdown) -> Self {
        RpcPut {
            source: source.to_string(),
            counter: processor.counter().clone(),
            processor: Arc::new(Mutex::new(processor)),
            shutdown: shutdown.clone(),
        }
    }

    /// The source's counter (its `OpenConnectionCount` is the accept loop's to keep).
    pub fn counter(&self) -> Arc<SourceCounter> {
        self.counter.clone()
    }

    /// Puts `events` into the channels (several transactions when the batch is larger than a
    /// channel's `transactionCapacity`); true when every one committed.
    pub async fn store(&self, events: Vec<Event>, called: Called) -> bool {
        store(
            events,
            called,
            &self.processor,
            &self.counter,
            &self.source,
            &self.shutdown,
        )
        .await
    }
}

async fn store(
    events: Vec<Event>,
    called: Called,
    processor: &Arc<Mutex<ChannelProcessor>>,
    counter: &SourceCounter,
    source: &str,
    shutdown: &Shutdown,
) -> bool {
    if events.is_empty() {
        // As Flume's AvroSource and ThriftSource: an empty `appendBatch` is a call received and
        // accepted (their put of no events commits and succeeds). Counted without the
        // processor's lock, which a put of another connection may hold on a full channel.
        called.received(counter);
        called.accepted(counter);
        return true;
    }
    let give_up = Shutdown::new();
    let put = tokio::task::spawn_blocking({
        let processor = processor.clone();
        let give_up = give_up.clone();
        let source = source.to_string();
        move || {
            let Ok(mut p) = processor.lock() else {
                return false;
            };
            called.received(p.counter());
            let max = p.max_batch().max(1);
            let total = events.len();
            let mut rest = events;
            while !rest.is_empty() {
                let tail = if rest.len() > max {
                    rest.split_off(max)
                } else {
                    Vec::new()
                };
                let chunk = std::mem::replace(&mut rest, tail);
                if let PutOutcome::Abandoned { lost } = p.put_blocking(chunk, &give_up) {
                    warn!(source = %source, "{lost} of {total} events from a client could not be stored in time; the client is answered FAILED and sends them again");
                    return false;
                }
            }
            called.accepted(p.counter());
            true
        }
    });
    tokio::pin!(put);
    let timeout = tokio::time::sleep(PUT_TIMEOUT);
    tokio::pin!(timeout);
    let mut agent_stopping = false;
    loop {
        tokio::select! {
            stored = &mut put => return stored.unwrap_or(false),
            _ = &mut timeout, if !give_up.is_stopping() => give_up.trigger(Instant::now()),
            _ = shutdown.stopped(), if !agent_stopping => {
                agent_stopping = true;
                give_up.trigger(shutdown.deadline().unwrap_or_else(Instant::now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flume's AvroSource and ThriftSource count each call once, with its events; an empty
    /// `appendBatch` is still a call received and accepted, with no events.
    #[test]
    fn each_call_is_counted_once_and_an_empty_batch_too() {
        let (channel, processor, counter) = crate::source::processor::memory_pipeline(10, 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let put = RpcPut::new("r1", processor, &Shutdown::new());
        let events = |n: usize| (0..n).map(|i| Event::new(i.to_string())).collect();
        rt.block_on(async {
            // Five events through a transactionCapacity of 2: three puts, one call.
            for (batch, called) in [
                (events(5), Called::AppendBatch),
                (events(0), Called::AppendBatch),
                (events(1), Called::Append),
            ] {
                assert!(put.store(batch, called).await);
            }
        });
        assert_eq!(counter.append_batch_received.get(), 2);
        assert_eq!(counter.append_batch_accepted.get(), 2);
        assert_eq!(counter.append_received.get(), 1);
        assert_eq!(counter.append_accepted.get(), 1);
        assert_eq!(counter.event_received.get(), 6);
        assert_eq!(counter.event_accepted.get(), 6);
        assert_eq!(channel.len(), 6);
    }
}
