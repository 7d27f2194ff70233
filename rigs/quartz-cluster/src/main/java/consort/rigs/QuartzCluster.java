package consort.rigs;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TimeZone;
import java.util.stream.Collectors;
import org.quartz.CronScheduleBuilder;
import org.quartz.DisallowConcurrentExecution;
import org.quartz.Job;
import org.quartz.JobBuilder;
import org.quartz.JobDetail;
import org.quartz.JobExecutionContext;
import org.quartz.JobKey;
import org.quartz.Scheduler;
import org.quartz.SimpleScheduleBuilder;
import org.quartz.Trigger;
import org.quartz.TriggerBuilder;
import org.quartz.TriggerKey;
import org.quartz.impl.StdSchedulerFactory;
import org.quartz.impl.matchers.GroupMatcher;

/**
 * Quartz 2.5.2 with its clustered JDBC job store (JobStoreTX, PostgreSQLDelegate) on a
 * PostgreSQL database given as a JDBC URL:
 *
 * <pre>
 *   schema   URL                                    create the QRTZ_* tables (Quartz's own script)
 *   populate URL TRIGGERS REPEATS INTERVAL_MS START_MS   the benchmark's trigger set (no-op job)
 *   mix      URL TRIGGERS                           the scale benchmark's trigger mix (no-op jobs)
 *   node     URL INSTANCE SECONDS OUT_FILE          run one clustered instance, record its fires
 *                                                   (SECONDS 0: until standard input ends)
 *   sample   URL                                    jobs and triggers of every supported shape,
 *                                                   for consort's Quartz import test
 * </pre>
 *
 * A node writes one line per fire: trigger name, scheduled and actual fire time (epoch ms).
 */
public final class QuartzCluster {
    /** Where a node writes its fires as they happen (kept out of the heap, so out of its RSS). */
    static volatile PrintWriter fires;

    /** The benchmark's job: records the fire and does nothing else. */
    public static final class NoopJob implements Job {
        @Override
        public void execute(JobExecutionContext context) {
            PrintWriter out = fires;
            if (out != null) {
                String line = context.getTrigger().getKey().getName() + "\t"
                        + context.getScheduledFireTime().getTime() + "\t" + context.getFireTime().getTime();
                synchronized (out) {
                    out.println(line);
                }
            }
        }
    }

    /** A non-concurrent job class for the import sample. */
    @DisallowConcurrentExecution
    public static final class SerialJob implements Job {
        @Override
        public void execute(JobExecutionContext context) {}
    }

    static Properties properties(String url, String instance, boolean properties) {
        Properties p = new Properties();
        p.setProperty("org.quartz.scheduler.instanceName", "consort-bench");
        p.setProperty("org.quartz.scheduler.instanceId", instance);
        p.setProperty("org.quartz.scheduler.skipUpdateCheck", "true");
        p.setProperty("org.quartz.scheduler.batchTriggerAcquisitionMaxCount", "100");
        p.setProperty("org.quartz.threadPool.threadCount", "100");
        p.setProperty("org.quartz.jobStore.class", "org.quartz.impl.jdbcjobstore.JobStoreTX");
        p.setProperty("org.quartz.jobStore.driverDelegateClass", "org.quartz.impl.jdbcjobstore.PostgreSQLDelegate");
        p.setProperty("org.quartz.jobStore.dataSource", "ds");
        p.setProperty("org.quartz.jobStore.isClustered", "true");
        p.setProperty("org.quartz.jobStore.acquireTriggersWithinLock", "true");
        p.setProperty("org.quartz.jobStore.misfireThreshold", "60000");
        p.setProperty("org.quartz.jobStore.useProperties", Boolean.toString(properties));
        p.setProperty("org.quartz.dataSource.ds.provider", "hikaricp");
        p.setProperty("org.quartz.dataSource.ds.driver", "org.postgresql.Driver");
        p.setProperty("org.quartz.dataSource.ds.URL", url);
        p.setProperty("org.quartz.dataSource.ds.maxConnections", "40");
        return p;
    }

    static Scheduler scheduler(String url, String instance, boolean useProperties) throws Exception {
        return new StdSchedulerFactory(properties(url, instance, useProperties)).getScheduler();
    }

    public static void main(String[] args) throws Exception {
        switch (args.length > 0 ? args[0] : "") {
            case "schema" -> schema(args[1]);
            case "populate" -> populate(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Long.parseLong(args[4]), Long.parseLong(args[5]));
            case "mix" -> mix(args[1], Integer.parseInt(args[2]));
            case "node" -> node(args[1], args[2], Long.parseLong(args[3]), args[4]);
            case "sample" -> sample(args[1]);
            default -> {
                System.err.println("usage: schema URL | populate URL TRIGGERS REPEATS INTERVAL_MS START_MS"
                        + " | mix URL TRIGGERS | node URL INSTANCE SECONDS OUT | sample URL");
                System.exit(2);
            }
        }
    }

    static void schema(String url) throws Exception {
        String sql;
        try (InputStream in = Scheduler.class.getResourceAsStream("/org/quartz/impl/jdbcjobstore/tables_postgres.sql")) {
            sql = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines()
                    .filter(l -> !l.trim().startsWith("--"))
                    .collect(Collectors.joining("\n"));
        }
        try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement()) {
            for (String statement : sql.split(";")) {
                String s = statement.trim();
                if (!s.isEmpty() && !s.equalsIgnoreCase("commit")) {
                    st.execute(s);
                }
            }
        }
    }

    static void populate(String url, int triggers, int repeats, long intervalMs, long startMs) throws Exception {
        Scheduler s = scheduler(url, "populate", false);
        JobDetail job = JobBuilder.newJob(NoopJob.class).withIdentity("load", "DEFAULT").storeDurably().build();
        Set<Trigger> set = new HashSet<>();
        for (int i = 0; i < triggers; i++) {
            set.add(TriggerBuilder.newTrigger()
                    .withIdentity(String.format("t%05d", i), "load")
                    .forJob(job)
                    .startAt(new Date(startMs + (i % 7)))
                    .withSchedule(SimpleScheduleBuilder.simpleSchedule()
                            .withIntervalInMilliseconds(intervalMs)
                            .withRepeatCount(repeats)
                            .withMisfireHandlingInstructionIgnoreMisfires())
                    .build());
        }
        Map<JobDetail, Set<? extends Trigger>> all = new HashMap<>();
        all.put(job, set);
        s.scheduleJobs(all, true);
        s.shutdown(false);
    }

    /**
     * The scale benchmark's mix (crates/consort/benches/scale.rs, the same per trigger index):
     * per 100 triggers 1 every second, 9 every minute, 30 hourly, 55 daily, 5 paused; half in
     * UTC, half in America/New_York; ten triggers per job, jobs over 100 groups. Stored a
     * thousand jobs per transaction.
     */
    static void mix(String url, int triggers) throws Exception {
        Scheduler s = scheduler(url, "populate", false);
        int jobs = (triggers + 9) / 10;
        for (int from = 0; from < jobs; from += 1000) {
            Map<JobDetail, Set<? extends Trigger>> batch = new HashMap<>();
            for (int j = from; j < Math.min(jobs, from + 1000); j++) {
                String group = String.format("team%02d", j % 100);
                JobDetail job = JobBuilder.newJob(NoopJob.class).withIdentity(String.format("job%06d", j), group)
                        .storeDurably().build();
                Set<Trigger> set = new HashSet<>();
                for (int i = j * 10; i < Math.min(triggers, (j + 1) * 10); i++) {
                    int sec = i % 60, min = (i / 60) % 60, hour = (i / 3600) % 24;
                    String expression = switch (i % 100) {
                        case 0 -> "* * * * * ?";
                        case 1, 2, 3, 4, 5, 6, 7, 8, 9 -> sec + " * * * * ?";
                        default -> i % 100 < 40 ? sec + " " + min + " * * * ?" : sec + " " + min + " " + hour + " * * ?";
                    };
                    String zone = i % 2 == 0 ? "UTC" : "America/New_York";
                    set.add(TriggerBuilder.newTrigger()
                            .withIdentity(String.format("t%06d", i), i % 100 >= 95 ? "paused" : group)
                            .forJob(job)
                            .withSchedule(CronScheduleBuilder.cronSchedule(expression)
                                    .inTimeZone(TimeZone.getTimeZone(zone)))
                            .build());
                }
                batch.put(job, set);
            }
            s.scheduleJobs(batch, true);
        }
        s.pauseTriggers(GroupMatcher.triggerGroupEquals("paused"));
        s.shutdown(false);
    }

    static void node(String url, String instance, long seconds, String out) throws Exception {
        long count;
        try (PrintWriter writer = new PrintWriter(Files.newBufferedWriter(Paths.get(out), StandardCharsets.UTF_8))) {
            fires = writer;
            Scheduler s = scheduler(url, instance, false);
            s.start();
            if (seconds > 0) {
                Thread.sleep(seconds * 1000);
            } else {
                // Until the benchmark closes our standard input.
                while (System.in.read() != -1) {}
            }
            s.standby();
            Thread.sleep(500);
            s.shutdown(true);
            fires = null;
        }
        try (var lines = Files.lines(Paths.get(out))) {
            count = lines.count();
        }
        System.out.println(instance + " fired " + count);
    }

    /** Jobs and triggers of every shape consort imports; the scheduler is never started. */
    static void sample(String url) throws Exception {
        Scheduler s = scheduler(url, "sample", true);
        JobDetail report = JobBuilder.newJob(NoopJob.class).withIdentity("report", "finance")
                .withDescription("nightly report").usingJobData("region", "emea").usingJobData("retries", "3")
                .storeDurably().requestRecovery().build();
        JobDetail serial = JobBuilder.newJob(SerialJob.class).withIdentity("serial", "ops").build();
        s.addJob(report, false);
        long start = 1_893_456_000_000L; // 2030-01-01T00:00:00Z
        s.scheduleJob(TriggerBuilder.newTrigger().withIdentity("nightly", "finance").forJob(report)
                .withDescription("every night at 02:30 Rome time").withPriority(7).startAt(new Date(start))
                .endAt(new Date(start + 365L * 86_400_000L))
                .withSchedule(CronScheduleBuilder.cronSchedule("0 30 2 * * ?")
                        .inTimeZone(TimeZone.getTimeZone("Europe/Rome"))
                        .withMisfireHandlingInstructionDoNothing())
                .usingJobData("format", "pdf").build());
        s.scheduleJob(TriggerBuilder.newTrigger().withIdentity("month-end", "finance").forJob(report)
                .startAt(new Date(start))
                .withSchedule(CronScheduleBuilder.cronSchedule("0 0 18 L * ?")
                        .inTimeZone(TimeZone.getTimeZone("America/New_York"))
                        .withMisfireHandlingInstructionFireAndProceed())
                .build());
        s.scheduleJob(serial, TriggerBuilder.newTrigger().withIdentity("every-5-min", "ops").forJob(serial)
                .startAt(new Date(start))
                .withSchedule(SimpleScheduleBuilder.simpleSchedule().withIntervalInMinutes(5).repeatForever()
                        .withMisfireHandlingInstructionNextWithRemainingCount())
                .build());
        s.scheduleJob(TriggerBuilder.newTrigger().withIdentity("three-times", "ops").forJob(serial)
                .startAt(new Date(start)).withPriority(2)
                .withSchedule(SimpleScheduleBuilder.simpleSchedule().withIntervalInSeconds(30).withRepeatCount(2)
                        .withMisfireHandlingInstructionIgnoreMisfires())
                .build());
        s.scheduleJob(TriggerBuilder.newTrigger().withIdentity("once", "ops").forJob(serial)
                .startAt(new Date(start)).build());
        s.pauseTrigger(TriggerKey.triggerKey("three-times", "ops"));
        s.shutdown(false);
    }
}
