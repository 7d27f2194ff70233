package consort.examples;

import org.apache.spark.sql.SparkSession;

/**
 * A small Spark job for consort's tests and examples.
 *
 * <p>Arguments: {@code N [MODE] [SLEEP_MS]}. Counts {@code spark.range(N)} and prints
 * {@code COUNT=N}. MODE {@code ok} (default) exits normally; {@code fail} throws after
 * counting, so the driver exits non-zero. SLEEP_MS keeps the job running that long
 * (to test kill and re-attach).
 */
public final class CountRange {
    public static void main(String[] args) throws Exception {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 1000L;
        String mode = args.length > 1 ? args[1] : "ok";
        long sleepMs = args.length > 2 ? Long.parseLong(args[2]) : 0L;
        SparkSession spark = SparkSession.builder().appName("CountRange").getOrCreate();
        try {
            System.out.println("APP_ID=" + spark.sparkContext().applicationId());
            System.out.println("COUNT=" + spark.range(n).count());
            if (sleepMs > 0) {
                Thread.sleep(sleepMs);
            }
            if ("fail".equals(mode)) {
                throw new IllegalStateException("failing on purpose (mode=fail)");
            }
        } finally {
            spark.stop();
        }
    }
}
