//! The counters in the log, for an operator without a metrics endpoint.

use tracing::info;

use crate::metrics::{Group, Registry};

/// One line per component with its lifetime totals (Flume's counter names), so that an operator
/// can reconcile what came in with what went out without a metrics endpoint.
pub(super) fn log_totals(registry: &Registry) {
    for g in registry.groups() {
        match g {
            Group::Source(name, c) => info!(
                "SOURCE.{name}: EventReceivedCount={} EventAcceptedCount={} ChannelWriteFail={} EventReadFail={} Unrouted={} LongLinesSplit={} LongLinesTruncated={} PositionWriteFail={}",
                c.event_received.get(),
                c.event_accepted.get(),
                c.channel_write_fail.get(),
                c.event_read_fail.get(),
                c.unrouted.get(),
                c.long_line_split.get(),
                c.long_line_truncated.get(),
                c.position_write_fail.get()
            ),
            Group::Channel(name, c) => info!(
                "CHANNEL.{name}: EventPutSuccessCount={} EventTakeSuccessCount={} ChannelSize={}",
                c.event_put_success.get(),
                c.event_take_success.get(),
                c.channel_size.get()
            ),
            Group::Sink(name, c) => info!(
                "SINK.{name}: EventDrainSuccessCount={} RollbackCount={} BatchCompleteCount={} BatchUnderflowCount={} DeadLetteredCount={} RejectedDroppedCount={}",
                c.event_drain_success.get(),
                c.rollback.get(),
                c.batch_complete.get(),
                c.batch_underflow.get(),
                c.event_dead_lettered.get(),
                c.event_rejected_dropped.get()
            ),
        }
    }
}
