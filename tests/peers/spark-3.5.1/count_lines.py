"""The seed's Spark side, in its Structured Streaming form: count the lines of a Kafka topic.

Run by tests/spark_streaming.rs as `python3 count_lines.py BOOTSTRAP TOPIC OUT_DIR CHECKPOINT`
(PYTHONPATH: the pip-installed pyspark; PYSPARK_SUBMIT_ARGS: the Kafka connector's jars). The
classic word-count shape with whole lines as the words: after every micro-batch the complete
table line -> count is written to OUT_DIR/counts.json (atomically: temp file + rename), which the
test reads. Every line must end up counted exactly once.
"""
import json
import os
import sys

from pyspark.sql import SparkSession

bootstrap, topic, out_dir, checkpoint = sys.argv[1:5]

spark = (
    SparkSession.builder.master("local[2]")
    .appName("rflume-line-count")
    # Two cores: two shuffle partitions, not 200; no UI port to collide with other tests.
    .config("spark.sql.shuffle.partitions", "2")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.local.dir", os.path.join(out_dir, "spark-local"))
    .getOrCreate()
)
spark.sparkContext.setLogLevel("WARN")

lines = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", bootstrap)
    .option("subscribe", topic)
    .option("startingOffsets", "earliest")
    .load()
    .selectExpr("CAST(value AS STRING) AS line")
)
counts = lines.groupBy("line").count()


def publish(batch, batch_id):
    table = {row["line"]: row["count"] for row in batch.collect()}
    tmp = os.path.join(out_dir, ".counts.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"batch": batch_id, "counts": table}, f)
    os.replace(tmp, os.path.join(out_dir, "counts.json"))
    print(f"batch {batch_id}: {len(table)} distinct lines", flush=True)


query = (
    counts.writeStream.outputMode("complete")
    .foreachBatch(publish)
    .option("checkpointLocation", checkpoint)
    .trigger(processingTime="1 second")
    .start()
)
print("query started", flush=True)
query.awaitTermination()
