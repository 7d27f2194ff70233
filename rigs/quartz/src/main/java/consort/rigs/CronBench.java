package consort.rigs;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.text.ParseException;
import java.util.Date;
import java.util.TimeZone;
import org.quartz.CronExpression;

/**
 * Quartz 2.5.2's speed on the benchmark shapes of quartz.md §3.4, measured the way
 * crates/cron/benches/next_fire.rs measures consort, cron and croner: next-fire calls
 * chained ({@code t = next(t)}) from 2026-01-01T00:00:00Z, restarting there when the
 * expression stops firing or reaches 2099; every shape and zone warmed first (so the JIT
 * has compiled the whole path), then the best of five rounds of CALLS calls. Parsing:
 * the best of five rounds of CALLS / 10 parses. Rounds are timed in thread CPU time.
 *
 * <p>Prints TSV lines {@code next|parse<TAB>shape<TAB>zone|-<TAB>ns}. The first argument,
 * if any, replaces CALLS (200,000).
 */
public final class CronBench {
    static final String[] SHAPES = {
        "0 0 12 * * ?",
        "0/5 * * * * ?",
        "0 0/30 8-17 ? * MON-FRI",
        "0 15 10 ? * 6L",
        "0 0 12 LW * ?",
        "0 0 0 ? * 6#3",
        "0 0 0 1 1 ?",
    };
    static final String[] ZONES = {"UTC", "America/New_York"};
    static final long START_MS = 1_767_225_600_000L;
    static final long END_MS = 4_070_908_800_000L;
    static final int ROUNDS = 5;

    /** Keeps results alive so the JIT cannot drop the work. */
    static volatile long sink;
    static volatile CronExpression lastParsed;
    static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** Thread CPU time, as the Rust side measures, so other work on the machine does not count. */
    static long now() {
        return THREADS.getCurrentThreadCpuTime();
    }

    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
        CronExpression[][] crons = new CronExpression[SHAPES.length][ZONES.length];
        for (int s = 0; s < SHAPES.length; s++) {
            for (int z = 0; z < ZONES.length; z++) {
                crons[s][z] = new CronExpression(SHAPES[s]);
                crons[s][z].setTimeZone(TimeZone.getTimeZone(ZONES[z]));
            }
        }
        // Warm every path before timing any of them.
        for (int s = 0; s < SHAPES.length; s++) {
            parseRound(SHAPES[s], calls / 10);
            for (int z = 0; z < ZONES.length; z++) {
                chain(crons[s][z], calls);
            }
        }
        StringBuilder out = new StringBuilder();
        for (int s = 0; s < SHAPES.length; s++) {
            for (int z = 0; z < ZONES.length; z++) {
                double best = Double.MAX_VALUE;
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = now();
                    chain(crons[s][z], calls);
                    best = Math.min(best, (double) (now() - t0) / calls);
                }
                out.append("next\t").append(SHAPES[s]).append('\t').append(ZONES[z]).append('\t')
                        .append(String.format("%.1f", best)).append('\n');
            }
            double best = Double.MAX_VALUE;
            for (int r = 0; r < ROUNDS; r++) {
                long t0 = now();
                parseRound(SHAPES[s], calls / 10);
                best = Math.min(best, (double) (now() - t0) / (calls / 10));
            }
            out.append("parse\t").append(SHAPES[s]).append("\t-\t").append(String.format("%.1f", best)).append('\n');
        }
        System.out.print(out);
        System.out.flush();
    }

    static void chain(CronExpression cron, int calls) {
        Date start = new Date(START_MS);
        Date t = start;
        for (int i = 0; i < calls; i++) {
            Date next = cron.getNextValidTimeAfter(t);
            t = next != null && next.getTime() < END_MS ? next : start;
        }
        sink += t.getTime();
    }

    static void parseRound(String expr, int n) throws ParseException {
        for (int i = 0; i < n; i++) {
            lastParsed = new CronExpression(expr);
        }
    }
}
