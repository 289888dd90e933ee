//! What Flume's RPC sinks (`AbstractRpcSink`: avro and thrift) share whatever their protocol:
//! one connection, opened at start (a collector that is down then is only a warning) and again
//! for the next batch after a failed call or once `reset-connection-interval` passed; one call
//! per batch, whose take commits only after the collector answered `OK` (see
//! `SinkCore::settle_call`). The protocols differ only in [`RpcClient`].

use std::time::Instant;

use tracing::warn;

use super::{Sink, SinkCore, SinkError, Status, EMPTY_CHANNEL_WAIT};
use crate::event::Event;
use crate::rpc::settings::ClientSettings;

/// One protocol's client: how it connects and makes one `appendBatch` call.
pub(super) trait RpcClient: Send {
    /// Flume's type name for the sink (`avro`, `thrift`).
    const KIND: &'static str;
    /// What Flume's sink logs when its client cannot connect at start, e.g. "Unable to create
    /// Rpc client".
    const CONNECT_FAILURE: &'static str;
    fn core(&self) -> &SinkCore;
    fn settings(&self) -> &ClientSettings;
    /// Whether TLS is on with certificates checked by a truststore: Flume's clients do not check
    /// the collector's host name against its certificate, which rflume warns about at start.
    fn tls_without_host_check(&self) -> bool;
    /// When the open connection was made; `None` when there is none.
    fn connected_since(&self) -> Option<Instant>;
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
        let reset = client.settings().reset_connection_interval;
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
        if client.tls_without_host_check() {
            warn!(sink = %client.core().name, "ssl = true: as Flume's {} sink, rflume does not check that the certificate of {} names that host; any certificate the truststore vouches for is accepted", C::KIND, client.settings().hostname);
        }
        // As Flume: a collector that is down at start is only a warning; the first batch retries.
        if let Err(e) = client.connect() {
            warn!(sink = %client.core().name, "{}: {e}", C::CONNECT_FAILURE);
        }
        Ok(())
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        let Some(txn) = self
            .0
            .core()
            .take(self.0.settings().batch_size, EMPTY_CHANNEL_WAIT)
        else {
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
