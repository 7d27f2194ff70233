package consort.rigs;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.TimeZone;
import org.quartz.CronExpression;

/**
 * Quartz's answer for each line {@code EXPR<TAB>ZONE<TAB>START_EPOCH_S} on stdin,
 * in the format of the {@code expected} column of quartz-cron-vectors.tsv:
 * {@code ERR}, {@code NONE}, or up to five comma-separated epoch seconds.
 * Any exception, at parse or evaluation time, is {@code ERR}.
 */
public final class CronEval {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] cols = line.split("\t", -1);
            out.write(cols.length == 3 ? answer(cols[0], cols[1], Long.parseLong(cols[2])) : "ERR");
            out.write('\n');
        }
        out.flush();
    }

    static String answer(String expr, String zone, long startSeconds) {
        try {
            CronExpression cron = new CronExpression(expr);
            cron.setTimeZone(TimeZone.getTimeZone(zone));
            StringBuilder sb = new StringBuilder();
            Date t = new Date(startSeconds * 1000L);
            for (int i = 0; i < 5; i++) {
                t = cron.getNextValidTimeAfter(t);
                if (t == null) break;
                if (sb.length() > 0) sb.append(',');
                sb.append(t.getTime() / 1000L);
            }
            return sb.length() == 0 ? "NONE" : sb.toString();
        } catch (Exception | Error e) {
            return "ERR";
        }
    }
}
