// The seed's "Spark Streaming pulls from Flume" in its Spark 2.4 form: a DStream job with Spark's
// push-based Flume receiver (FlumeUtils.createStream: an Avro RPC server speaking Flume's
// AvroSourceProtocol, written by the Spark project) counting the lines rflume's avro sink sends.
//
// Run by tests/spark_flume.rs, compiled there with `javac --release 8` against Spark 2.4.8's jars:
//   java -cp ... FlumeLineCount HOST PORT OUT_DIR [deflate]
// (deflate: the receiver's enableDecompression, for an avro sink with compression-type = deflate).
// Java rather than pyspark 2.4: pyspark 2.4's bundled cloudpickle cannot be imported on Python
// 3.8+ (this machine has 3.11), while the JVM side runs on Java 17 with --add-opens.
//
// The word-count shape with whole lines as the words: each 1-second batch's countByValue() is
// merged into a running table, which is then written to OUT_DIR/counts.tsv ("count\t
// line" rows, temp file + atomic rename) for the test to read. The receiver is up once this
// process listens on PORT (the test waits for that).
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.Map;

import org.apache.spark.SparkConf;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.streaming.Durations;
import org.apache.spark.streaming.api.java.JavaDStream;
import org.apache.spark.streaming.api.java.JavaStreamingContext;
import org.apache.spark.streaming.flume.FlumeUtils;
import org.apache.spark.streaming.flume.SparkFlumeEvent;

import scala.Tuple2;

public final class FlumeLineCount {
    // Static: the tasks run in this JVM (local mode) and merge into it; the driver publishes it
    // after each batch's job has finished.
    private static final ConcurrentHashMap<String, Long> TABLE = new ConcurrentHashMap<>();
    private static final AtomicLong BATCH_LINES = new AtomicLong();

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        Path out = Paths.get(args[2]);
        boolean deflate = args.length > 3 && args[3].equals("deflate");

        SparkConf conf = new SparkConf()
                // One core for the receiver, one for the batches.
                .setMaster("local[2]")
                .setAppName("rflume-flume-line-count")
                .set("spark.ui.enabled", "false")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.local.dir", out.resolve("spark-local").toString());
        JavaStreamingContext ssc = new JavaStreamingContext(conf, Durations.seconds(1));
        ssc.sparkContext().setLogLevel("WARN");

        // MEMORY_ONLY: one local executor, nothing to replicate to (the default _2 level warns).
        JavaDStream<String> lines = FlumeUtils.createStream(ssc, host, port, StorageLevel.MEMORY_ONLY(), deflate)
                .map((SparkFlumeEvent e) -> StandardCharsets.UTF_8.decode(e.event().getBody()).toString());
        lines.countByValue().foreachRDD((rdd, time) -> {
            // Merged where the partitions are (the driver's JVM: local mode), not via collect():
            // Spark 2.4's ClosureCleaner walks collect()'s closure up to java.lang.Object, whose
            // Java 17 class file its ASM 6 cannot read ("Unsupported class file major version 61").
            rdd.foreachPartition(part -> {
                while (part.hasNext()) {
                    Tuple2<String, Long> t = part.next();
                    TABLE.merge(t._1(), t._2(), Long::sum);
                    BATCH_LINES.addAndGet(t._2());
                }
            });
            long batch = BATCH_LINES.getAndSet(0);
            if (batch > 0 || !Files.exists(out.resolve("counts.tsv"))) {
                publish(out);
                System.out.println("batch " + time + ": " + batch + " lines, " + TABLE.size() + " distinct");
            }
        });

        ssc.start();
        System.out.println("streaming context started");
        ssc.awaitTermination();
    }

    private static void publish(Path out) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Long> e : TABLE.entrySet()) {
            sb.append(e.getValue()).append('\t').append(e.getKey()).append('\n');
        }
        Path tmp = out.resolve(".counts.tsv.tmp");
        Files.write(tmp, sb.toString().getBytes(StandardCharsets.UTF_8));
        Files.move(tmp, out.resolve("counts.tsv"), StandardCopyOption.ATOMIC_MOVE);
    }
}
