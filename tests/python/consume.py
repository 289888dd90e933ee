"""A consumer that no one here wrote: reads a topic with kafka-python (a pure-Python Kafka client,
not librdkafka) the way Spark's Kafka source does — partitions assigned, offsets its own, no
consumer group — and prints one JSON object per record on stdout, for tests/foreign_consumer.rs.

With --avro, each value is also decoded with fastavro as a bare Avro datum of Flume's
AvroFlumeEvent schema (flume-ng-sdk/src/main/avro/flume.avdl), the way a Spark job using Flume's
format would decode it; a value that is not exactly one such datum is an error.

Stops once --expected records were read and nothing more came for --linger seconds (so a late
duplicate is still seen), or at --timeout; it never judges the records: the test does.
"""

import argparse
import base64
import io
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

FLUME_EVENT_SCHEMA = {
    "type": "record",
    "name": "AvroFlumeEvent",
    "namespace": "org.apache.flume.source.avro",
    "fields": [
        {"name": "headers", "type": {"type": "map", "values": "string"}},
        {"name": "body", "type": "bytes"},
    ],
}


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def decode_flume_event(value, schema):
    import fastavro

    buf = io.BytesIO(value)
    datum = fastavro.schemaless_reader(buf, schema)
    rest = len(value) - buf.tell()
    if rest:
        raise ValueError(f"{rest} bytes after the AvroFlumeEvent datum")
    return {"headers": datum["headers"], "body": b64(datum["body"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--expected", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--linger", type=float, default=1.0)
    ap.add_argument("--avro", action="store_true")
    args = ap.parse_args()

    schema = None
    if args.avro:
        import fastavro

        schema = fastavro.parse_schema(FLUME_EVENT_SCHEMA)

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # As the tests' librdkafka consumers: the broker answers a fetch at once.
        fetch_max_wait_ms=10,
        client_id="rflume-test-kafka-python",
    )
    partitions = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, 0)

    records = []
    deadline = time.monotonic() + args.timeout
    last_record = time.monotonic()
    while time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=100)
        for tp, messages in polled.items():
            for m in messages:
                last_record = time.monotonic()
                record = {
                    "partition": m.partition,
                    "offset": m.offset,
                    "key": b64(m.key),
                    "value": b64(m.value),
                    "headers": [[k, b64(v)] for k, v in (m.headers or [])],
                    "timestamp": m.timestamp,
                }
                if schema is not None:
                    record["avro"] = decode_flume_event(m.value, schema)
                records.append(record)
        if len(records) >= args.expected and time.monotonic() - last_record >= args.linger:
            break
    consumer.close()
    for r in records:
        sys.stdout.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
