//! The registry in Prometheus' text exposition format (version 0.0.4), served at
//! `/metrics/prometheus`.
//!
//! Names follow Prometheus' conventions rather than Flume's: `rflume_<kind>_<what>`, counters
//! end in `_total`, times are seconds, the component is a label (`{channel="c1"}`). Every family
//! has its `# HELP` and `# TYPE` lines, and families are written whole (Prometheus rejects a
//! family split across the page). The Kafka sink adds librdkafka's view: queue depth, requests in
//! flight, per-broker state and round-trip time.

use std::fmt::Write as _;

use super::health::{self, Thresholds};
use super::{Group, Registry};

enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its samples are collected first, then written in one block.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<(String, String)>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }
    fn add(&mut self, labels: &[(&str, &str)], value: impl ToString) {
        let mut l = String::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                l.push(',');
            }
            let _ = write!(l, "{k}=\"{}\"", escape(v));
        }
        self.samples.push((l, value.to_string()));
    }
    fn write(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        for (labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", self.name);
            }
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Declares the families in the order they are written, as `let` bindings named after them.
macro_rules! families {
    ($($var:ident = $name:literal, $kind:ident, $help:literal;)*) => {
        $(let mut $var = Family::new($name, Kind::$kind, $help);)*
    };
}

/// The whole page.
pub fn render(registry: &Registry, thresholds: &Thresholds) -> String {
    families! {
        info = "rflume_component_info", Gauge, "A running component: its kind, name and Flume type (always 1).";
        up = "rflume_component_up", Gauge, "1 while the component's runner thread runs, else 0.";
        started = "rflume_component_start_time_seconds", Gauge, "When the component last started (Flume's StartTime), Unix seconds.";
        src_received = "rflume_source_events_received_total", Counter, "Events the source read (Flume's EventReceivedCount).";
        src_accepted = "rflume_source_events_accepted_total", Counter, "Events the source committed to its channels (EventAcceptedCount).";
        src_batches_received = "rflume_source_batches_received_total", Counter, "Batches the source read (AppendBatchReceivedCount).";
        src_batches_accepted = "rflume_source_batches_accepted_total", Counter, "Batches the source committed (AppendBatchAcceptedCount).";
        src_read_fail = "rflume_source_event_read_failures_total", Counter, "Failures reading input (EventReadFail).";
        src_write_fail = "rflume_source_channel_write_failures_total", Counter, "Puts refused by a channel, retried (ChannelWriteFail).";
        src_generic_fail = "rflume_source_processing_failures_total", Counter, "Other processing failures (GenericProcessingFail).";
        src_connections = "rflume_source_open_connections", Gauge, "Open client connections (OpenConnectionCount).";
        src_files = "rflume_source_open_files", Gauge, "Files a TAILDIR source holds open.";
        src_pos_fail = "rflume_source_position_write_failures_total", Counter, "TAILDIR position-file writes that failed.";
        src_pos_unsaved = "rflume_source_positions_unsaved", Gauge, "TAILDIR: 1 while the last position-file write failed (the positions on disk are stale).";
        src_unrouted = "rflume_source_events_unrouted_total", Counter, "Events the multiplexing selector had no channel for (no mapping, no selector.default), dropped as Flume drops them (Unrouted).";
        src_long_split = "rflume_source_long_lines_split_total", Counter, "Lines longer than rflume.maxLineLength shipped as several events (LongLinesSplit).";
        src_long_truncated = "rflume_source_long_lines_truncated_total", Counter, "Lines longer than rflume.maxLineLength cut to that length (LongLinesTruncated).";
        src_kafka_get = "rflume_source_kafka_get_seconds_total", Counter, "Kafka: time gathering the batches that had records, from the batch's first poll to its end (KafkaEventGetTimer).";
        src_kafka_commit = "rflume_source_kafka_commit_seconds_total", Counter, "Kafka: time in offset commits (KafkaCommitTimer).";
        src_kafka_empty = "rflume_source_kafka_empty_polls_total", Counter, "Kafka: batches that ended on a poll without records (KafkaEmptyCount).";
        ch_events = "rflume_channel_events", Gauge, "Events in the channel (ChannelSize).";
        ch_capacity = "rflume_channel_capacity_events", Gauge, "The channel's capacity (ChannelCapacity).";
        ch_fill = "rflume_channel_fill_ratio", Gauge, "ChannelSize / ChannelCapacity, 0 to 1.";
        ch_put_attempt = "rflume_channel_put_attempts_total", Counter, "Events offered to the channel (EventPutAttemptCount).";
        ch_put = "rflume_channel_events_put_total", Counter, "Events committed into the channel (EventPutSuccessCount).";
        ch_take_attempt = "rflume_channel_take_attempts_total", Counter, "Take attempts (EventTakeAttemptCount).";
        ch_take = "rflume_channel_events_taken_total", Counter, "Events taken and committed out of the channel (EventTakeSuccessCount).";
        ch_kafka_get = "rflume_channel_kafka_get_seconds_total", Counter, "Kafka channel: time polling records for takes (KafkaEventGetTimer).";
        ch_kafka_send = "rflume_channel_kafka_send_seconds_total", Counter, "Kafka channel: time from sending a put's records to Kafka's last acknowledgement, committed puts (KafkaEventSendTimer).";
        ch_kafka_commit = "rflume_channel_kafka_commit_seconds_total", Counter, "Kafka channel: time in offset commits (KafkaCommitTimer).";
        ch_rolled_back = "rflume_channel_events_rolled_back_total", Counter, "Kafka channel: events of take transactions rolled back, handed out again (RollbackCount).";
        ch_file_errors = "rflume_channel_file_errors_total", Counter, "File channel I/O errors by operation (Flume's EventPutErrorCount, EventTakeErrorCount, CheckpointWriteErrorCount, CheckpointBackupWriteErrorCount).";
        sk_drained = "rflume_sink_events_drained_total", Counter, "Events delivered and committed (EventDrainSuccessCount).";
        sk_attempt = "rflume_sink_event_drain_attempts_total", Counter, "Events taken for delivery, retries included (EventDrainAttemptCount).";
        sk_complete = "rflume_sink_batches_complete_total", Counter, "Takes that filled a whole batch (BatchCompleteCount).";
        sk_underflow = "rflume_sink_batches_underflow_total", Counter, "Takes smaller than a batch (BatchUnderflowCount).";
        sk_empty = "rflume_sink_batches_empty_total", Counter, "Takes that found the channel empty (BatchEmptyCount).";
        sk_rollback = "rflume_sink_rollbacks_total", Counter, "Batches rolled back to the channel after a failed delivery (RollbackCount).";
        sk_write_fail = "rflume_sink_write_failures_total", Counter, "Failed deliveries (EventWriteFail).";
        sk_conn_created = "rflume_sink_connections_created_total", Counter, "Connections created (ConnectionCreatedCount).";
        sk_conn_failed = "rflume_sink_connections_failed_total", Counter, "Connections failed (ConnectionFailedCount).";
        sk_dead_lettered = "rflume_sink_events_dead_lettered_total", Counter, "Kafka: events Kafka refused for good, written to the dead-letter file and committed (DeadLetteredCount).";
        sk_rejected_dropped = "rflume_sink_events_rejected_dropped_total", Counter, "Kafka: events Kafka refused for good, dropped under rflume.onRejected = drop (RejectedDroppedCount).";
        sk_send_time = "rflume_sink_kafka_send_seconds_total", Counter, "Time from take to acknowledgement of committed batches (KafkaEventSendTimer).";
        sk_in_flight = "rflume_sink_batches_in_flight", Gauge, "Take transactions sent and not yet acknowledged.";
        sk_failing = "rflume_sink_failing_seconds", Gauge, "How long deliveries have been failing; 0 while they succeed.";
        k_queue = "rflume_kafka_producer_queue_messages", Gauge, "Messages in librdkafka's producer queue (msg_cnt).";
        k_queue_bytes = "rflume_kafka_producer_queue_bytes", Gauge, "Bytes in librdkafka's producer queue (msg_size).";
        k_requests = "rflume_kafka_requests_in_flight", Gauge, "Produce requests awaiting a broker's response (waitresp_cnt).";
        k_messages = "rflume_kafka_messages_in_flight", Gauge, "Messages in those requests (waitresp_msg_cnt).";
        k_retries = "rflume_kafka_retries_total", Counter, "Request retries, all brokers (txretries).";
        k_errors = "rflume_kafka_transmit_errors_total", Counter, "Transmission errors, all brokers (txerrs).";
        k_broker_up = "rflume_kafka_broker_up", Gauge, "1 while librdkafka's connection to the broker is UP.";
        k_rtt = "rflume_kafka_broker_rtt_seconds", Gauge, "Broker round-trip time, average of librdkafka's last statistics window.";
        k_rtt_p99 = "rflume_kafka_broker_rtt_p99_seconds", Gauge, "Broker round-trip time, 99th percentile of the last window.";
        reloads = "rflume_config_reloads_total", Counter, "Configuration reloads, by result.";
        healthy = "rflume_healthy", Gauge, "1 when /health answers 200, else 0.";
        build = "rflume_build_info", Gauge, "rflume's version (always 1).";
    }
    for g in registry.groups() {
        let name = g.name().to_string();
        match &g {
            Group::Source(_, c) => {
                let l: &[(&str, &str)] = &[("source", &name)];
                info.add(
                    &[
                        ("kind", "source"),
                        ("name", &name),
                        ("type", c.meta.type_alias()),
                    ],
                    1,
                );
                up.add(
                    &[("kind", "source"), ("name", &name)],
                    u8::from(c.runner.is_running()),
                );
                started.add(
                    &[("kind", "source"), ("name", &name)],
                    seconds(c.lifecycle.start_ms()),
                );
                src_received.add(l, c.event_received.get());
                src_accepted.add(l, c.event_accepted.get());
                src_batches_received.add(l, c.append_batch_received.get());
                src_batches_accepted.add(l, c.append_batch_accepted.get());
                src_read_fail.add(l, c.event_read_fail.get());
                src_write_fail.add(l, c.channel_write_fail.get());
                src_generic_fail.add(l, c.generic_processing_fail.get());
                src_connections.add(l, c.open_connections.get());
                src_files.add(l, c.open_files.get());
                src_pos_fail.add(l, c.position_write_fail.get());
                src_pos_unsaved.add(l, c.positions_unsaved.get());
                src_unrouted.add(l, c.unrouted.get());
                src_long_split.add(l, c.long_line_split.get());
                src_long_truncated.add(l, c.long_line_truncated.get());
                if c.meta.type_alias() == "kafka" {
                    src_kafka_get.add(l, seconds(c.kafka_event_get_timer_ms.get() as i64));
                    src_kafka_commit.add(l, seconds(c.kafka_commit_timer_ms.get() as i64));
                    src_kafka_empty.add(l, c.kafka_empty.get());
                }
            }
            Group::Channel(_, c) => {
                let l: &[(&str, &str)] = &[("channel", &name)];
                info.add(
                    &[
                        ("kind", "channel"),
                        ("name", &name),
                        ("type", c.meta.type_alias()),
                    ],
                    1,
                );
                started.add(
                    &[("kind", "channel"), ("name", &name)],
                    seconds(c.lifecycle.start_ms()),
                );
                let (size, capacity) = (c.channel_size.get(), c.channel_capacity.get());
                ch_events.add(l, size);
                ch_capacity.add(l, capacity);
                let ratio = if capacity > 0 {
                    size as f64 / capacity as f64
                } else {
                    0.0
                };
                ch_fill.add(l, ratio);
                ch_put_attempt.add(l, c.event_put_attempt.get());
                ch_put.add(l, c.event_put_success.get());
                ch_take_attempt.add(l, c.event_take_attempt.get());
                ch_take.add(l, c.event_take_success.get());
                if c.meta.type_alias() == "kafka" {
                    ch_kafka_get.add(l, seconds(c.kafka_event_get_timer_ms.get() as i64));
                    ch_kafka_send.add(l, seconds(c.kafka_event_send_timer_ms.get() as i64));
                    ch_kafka_commit.add(l, seconds(c.kafka_commit_timer_ms.get() as i64));
                    ch_rolled_back.add(l, c.rollback.get());
                }
                if c.meta.type_alias() == "file" {
                    for (op, n) in [
                        ("put", &c.event_put_error),
                        ("take", &c.event_take_error),
                        ("checkpoint", &c.checkpoint_write_error),
                        ("backup_checkpoint", &c.checkpoint_backup_write_error),
                    ] {
                        ch_file_errors.add(&[("channel", &name), ("operation", op)], n.get());
                    }
                }
            }
            Group::Sink(_, c) => {
                let l: &[(&str, &str)] = &[("sink", &name)];
                info.add(
                    &[
                        ("kind", "sink"),
                        ("name", &name),
                        ("type", c.meta.type_alias()),
                    ],
                    1,
                );
                up.add(
                    &[("kind", "sink"), ("name", &name)],
                    u8::from(c.runner.is_running()),
                );
                started.add(
                    &[("kind", "sink"), ("name", &name)],
                    seconds(c.lifecycle.start_ms()),
                );
                sk_drained.add(l, c.event_drain_success.get());
                sk_attempt.add(l, c.event_drain_attempt.get());
                sk_complete.add(l, c.batch_complete.get());
                sk_underflow.add(l, c.batch_underflow.get());
                sk_empty.add(l, c.batch_empty.get());
                sk_rollback.add(l, c.rollback.get());
                sk_write_fail.add(l, c.event_write_fail.get());
                sk_conn_created.add(l, c.connection_created.get());
                sk_conn_failed.add(l, c.connection_failed.get());
                sk_in_flight.add(l, c.batches_in_flight.get());
                sk_failing.add(
                    l,
                    format!(
                        "{:.3}",
                        c.runner.failing_for().unwrap_or_default().as_secs_f64()
                    ),
                );
                if c.is_kafka() {
                    sk_send_time.add(l, seconds(c.kafka_event_send_timer_ms.get() as i64));
                    sk_dead_lettered.add(l, c.event_dead_lettered.get());
                    sk_rejected_dropped.add(l, c.event_rejected_dropped.get());
                    let s = &c.client;
                    k_queue.add(l, s.queue_messages.get());
                    k_queue_bytes.add(l, s.queue_bytes.get());
                    k_requests.add(l, s.in_flight_requests.get());
                    k_messages.add(l, s.in_flight_messages.get());
                    k_retries.add(l, s.retries.get());
                    k_errors.add(l, s.errors.get());
                    for b in s.brokers() {
                        let bl: &[(&str, &str)] = &[("sink", &name), ("broker", &b.name)];
                        k_broker_up.add(bl, u8::from(b.state == "UP"));
                        k_rtt.add(bl, format!("{:.6}", b.rtt_avg_us as f64 / 1e6));
                        k_rtt_p99.add(bl, format!("{:.6}", b.rtt_p99_us as f64 / 1e6));
                    }
                }
            }
        }
    }
    let notes = &registry.notes;
    reloads.add(&[("result", "applied")], notes.reloads_applied.get());
    reloads.add(&[("result", "rejected")], notes.reloads_rejected.get());
    healthy.add(&[], u8::from(health::evaluate(registry, thresholds).ok));
    build.add(&[("version", env!("CARGO_PKG_VERSION"))], 1);
    let mut out = String::with_capacity(8192);
    for family in [
        &info,
        &up,
        &started,
        &src_received,
        &src_accepted,
        &src_batches_received,
        &src_batches_accepted,
        &src_read_fail,
        &src_write_fail,
        &src_generic_fail,
        &src_connections,
        &src_files,
        &src_pos_fail,
        &src_pos_unsaved,
        &src_unrouted,
        &src_long_split,
        &src_long_truncated,
        &src_kafka_get,
        &src_kafka_commit,
        &src_kafka_empty,
        &ch_events,
        &ch_capacity,
        &ch_fill,
        &ch_put_attempt,
        &ch_put,
        &ch_take_attempt,
        &ch_take,
        &ch_kafka_get,
        &ch_kafka_send,
        &ch_kafka_commit,
        &ch_rolled_back,
        &sk_drained,
        &sk_attempt,
        &sk_complete,
        &sk_underflow,
        &sk_empty,
        &sk_rollback,
        &sk_write_fail,
        &sk_conn_created,
        &sk_conn_failed,
        &sk_dead_lettered,
        &sk_rejected_dropped,
        &sk_send_time,
        &sk_in_flight,
        &sk_failing,
        &k_queue,
        &k_queue_bytes,
        &k_requests,
        &k_messages,
        &k_retries,
        &k_errors,
        &k_broker_up,
        &k_rtt,
        &k_rtt_p99,
        &reloads,
        &healthy,
        &build,
    ] {
        family.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_labels() {
        let r = Registry::default();
        r.channel("c1").channel_size.set(3);
        let k = r.sink("k\"1");
        k.client.mark_kafka();
        k.event_drain_success.add(9);
        let page = render(&r, &Thresholds::default());
        assert!(page.contains("# HELP rflume_channel_events "), "{page}");
        assert!(
            page.contains(
                "# TYPE rflume_channel_events gauge\nrflume_channel_events{channel=\"c1\"} 3\n"
            ),
            "{page}"
        );
        assert!(page.contains("# TYPE rflume_sink_events_drained_total counter\nrflume_sink_events_drained_total{sink=\"k\\\"1\"} 9\n"), "{page}");
        // Every family written once.
        let types: Vec<&str> = page.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(types.len(), unique.len());
    }

    #[test]
    fn kafka_source_and_channel_counters_are_exported_for_kafka_types_only() {
        let r = Registry::default();
        let s = r.source("r1");
        s.meta.set_type("kafka");
        s.kafka_event_get_timer_ms.add(1500);
        s.kafka_commit_timer_ms.add(25);
        s.kafka_empty.add(7);
        let c = r.channel("c1");
        c.meta.set_type("kafka");
        c.kafka_event_get_timer_ms.add(2);
        c.kafka_event_send_timer_ms.add(3000);
        c.kafka_commit_timer_ms.add(4);
        c.rollback.add(9);
        r.source("r2").meta.set_type("exec");
        r.channel("c2").meta.set_type("memory");
        let page = render(&r, &Thresholds::default());
        for line in [
            "# TYPE rflume_source_kafka_get_seconds_total counter\nrflume_source_kafka_get_seconds_total{source=\"r1\"} 1.500\n",
            "rflume_source_kafka_commit_seconds_total{source=\"r1\"} 0.025\n",
            "rflume_source_kafka_empty_polls_total{source=\"r1\"} 7\n",
            "rflume_channel_kafka_get_seconds_total{channel=\"c1\"} 0.002\n",
            "rflume_channel_kafka_send_seconds_total{channel=\"c1\"} 3.000\n",
            "rflume_channel_kafka_commit_seconds_total{channel=\"c1\"} 0.004\n",
            "rflume_channel_events_rolled_back_total{channel=\"c1\"} 9\n",
        ] {
            assert!(page.contains(line), "{line} missing from {page}");
        }
        // The exec source and the memory channel have none of these families.
        let kafka_only = |l: &&str| {
            l.starts_with("rflume_source_kafka_")
                || l.starts_with("rflume_channel_kafka_")
                || l.starts_with("rflume_channel_events_rolled_back_total")
        };
        for line in page.lines().filter(kafka_only) {
            assert!(
                line.contains("source=\"r1\"") || line.contains("channel=\"c1\""),
                "{line}"
            );
        }
    }

    #[test]
    fn diverted_events_long_lines_and_unsaved_positions_are_exported() {
        let r = Registry::default();
        let s = r.source("r1");
        s.long_line_split.add(4);
        s.long_line_truncated.add(5);
        s.positions_unsaved.set(1);
        s.unrouted.add(6);
        let k = r.sink("k1");
        k.client.mark_kafka();
        k.event_dead_lettered.add(2);
        k.event_rejected_dropped.add(3);
        let page = render(&r, &Thresholds::default());
        for line in [
            "rflume_sink_events_dead_lettered_total{sink=\"k1\"} 2\n",
            "rflume_sink_events_rejected_dropped_total{sink=\"k1\"} 3\n",
            "rflume_source_long_lines_split_total{source=\"r1\"} 4\n",
            "rflume_source_long_lines_truncated_total{source=\"r1\"} 5\n",
            "rflume_source_positions_unsaved{source=\"r1\"} 1\n",
            "rflume_source_events_unrouted_total{source=\"r1\"} 6\n",
        ] {
            assert!(page.contains(line), "{line} missing from {page}");
        }
    }
}
