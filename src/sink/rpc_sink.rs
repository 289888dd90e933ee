//! What Flume's RPC sinks (`AbstractRpcSink`: avro and thrift) share whatever their protocol:
//! one connection, opened at start (a collector that is down then is only a warning) and again
//! for the next batch after a failed call or once `reset-connection-interval` passed; one call
//! per batch, whose take commits only after the collector answered `OK` (see
//! `SinkCore::settle_call`). The protocols differ only in [`RpcClient`].

use std::time::{Duration, Instant};

use tracing::warn;

use super::{Sink, SinkCore, SinkError, Status, EMPTY_CHANNEL_WAIT};
use crate::event::Event;

/// One protocol's client: how it connects and makes one `appendBatch` call.
pub(super) trait RpcClient: Send {
    fn core(&self) -> &SinkCore;
    fn batch_size(&self) -> usize;
    /// The sink's `reset-connection-interval` (zero: never).
    fn reset_connection_interval(&self) -> Duration;
    /// When the open connection was made; `None` when there is none.
    fn connected_since(&self) -> Option<Instant>;
    /// What Flume's sink logs when its client cannot connect at start, e.g. "Unable to create
    /// Rpc client".
    fn connect_failure_words(&self) -> &'static str;
    /// The start-up warning to give about TLS, if any (Flume's clients do not check the
    /// collector's host name against its certificate).
    fn tls_warning(&self) -> Option<String>;
    /// Opens the connection, replacing any.
    fn connect(&mut self) -> Result<(), String>;
    /// Sends one batch over the open connection and waits for the answer.
    fn call(&mut self, events: &[Event]) -> Result<(), String>;
    /// Drops the connection, if any.
    fn close(&mut self);
}

/// A sink over an [`RpcClient`].
pub(super) struct RpcSink<C>(pub C);

impl<C: RpcClient> RpcSink<C> {
    fn call(&mut self, events: &[Event]) -> Result<(), String> {
        let client = &mut self.0;
        let reset = client.reset_connection_interval();
        if !reset.is_zero()
            && client
                .connected_since()
                .is_some_and(|t| t.elapsed() >= reset)
        {
            client.close();
        }
        if client.connected_since().is_none() {
            client.connect()?;
        }
        client.call(events)
    }
}

impl<C: RpcClient> Sink for RpcSink<C> {
    fn core(&self) -> &SinkCore {
        self.0.core()
    }

    fn start(&mut self) -> Result<(), SinkError> {
        let client = &mut self.0;
        if let Some(words) = client.tls_warning() {
            warn!(sink = %client.core().name, "{words}");
        }
        // As Flume: a collector that is down at start is only a warning; the first batch retries.
        if let Err(e) = client.connect() {
            let words = client.connect_failure_words();
            warn!(sink = %client.core().name, "{words}: {e}");
        }
        Ok(())
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        let Some(txn) = self.0.core().take(self.0.batch_size(), EMPTY_CHANNEL_WAIT) else {
            return self.0.core().empty();
        };
        let answer = self.call(txn.events());
        if answer.is_err() {
            // As Flume: a failed call destroys the client; the next batch reconnects.
            self.0.close();
        }
        self.0.core().settle_call(txn, answer)
    }

    fn stop(&mut self, _deadline: Instant) {
        self.0.close();
    }
}
