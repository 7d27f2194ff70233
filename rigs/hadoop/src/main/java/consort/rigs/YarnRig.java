package consort.rigs;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.net.NetUtils;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.apache.hadoop.yarn.server.nodemanager.NodeManager;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;
import org.apache.hadoop.yarn.webapp.util.WebAppUtils;

/**
 * Starts a MiniDFSCluster (one NameNode, one DataNode) and a MiniYARNCluster (one
 * ResourceManager with the CapacityScheduler, one NodeManager) in this JVM, all bound to
 * 127.0.0.1, writes a client {@code HADOOP_CONF_DIR} (core-site.xml, hdfs-site.xml,
 * yarn-site.xml), prints one READY line with the addresses as JSON on stdout, then obeys
 * commands on stdin until stdin closes:
 *
 * <ul>
 *   <li>{@code put LOCAL_FILE HDFS_PATH} copies a file into HDFS, prints {@code OK hdfs://…}.
 *   <li>{@code quit} (or end of input) shuts both clusters down (the NodeManager kills its
 *       containers).
 * </ul>
 *
 * <p>Arguments: {@code --base DIR} (required: HDFS data), {@code --conf-dir DIR} (required:
 * where the client configuration is written), {@code --nm-memory-mb N} (default 8192),
 * {@code --nm-vcores N} (default 4). The YARN work directory (the NodeManager's local and log
 * directories, so the containers' logs) is {@code DIR/yarn/consort-yarn}.
 *
 * <p>Sized for a Spark driver (the application master in cluster mode) plus an executor on a
 * small machine: memory and virtual-memory checks are off, the smallest container is 128 MiB,
 * and application masters may use the whole queue. Queues: {@code default} and {@code etl}
 * (half the cluster each, both may grow to all of it). Log aggregation is off, so the
 * NodeManager keeps container logs on its local disk and serves them over its REST API, and
 * container directories are kept for ten minutes after an application ends, for debugging.
 * Everything runs as the user who started the rig (the HDFS superuser here).
 */
public final class YarnRig {
  private YarnRig() {}

  public static void main(String[] args) throws Exception {
    String base = null;
    String confDir = null;
    int nmMemory = 8192;
    int nmVcores = 4;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--base" -> base = args[++i];
        case "--conf-dir" -> confDir = args[++i];
        case "--nm-memory-mb" -> nmMemory = Integer.parseInt(args[++i]);
        case "--nm-vcores" -> nmVcores = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (base == null || confDir == null) {
      throw new IllegalArgumentException("--base DIR and --conf-dir DIR are required");
    }
    long started = System.nanoTime();

    Configuration conf = new YarnConfiguration();
    // HDFS.
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(base, "dfs").getAbsolutePath());
    conf.setInt("dfs.replication", 1);
    conf.set("hadoop.security.authentication", "simple");
    conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
    conf.set("dfs.namenode.http-bind-host", "127.0.0.1");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf).numDataNodes(1).format(true).build();
    dfs.waitActive();
    FileSystem fs = dfs.getFileSystem();
    fs.setPermission(new Path("/"), new FsPermission((short) 0777));
    for (String dir : new String[] {"/tmp", "/user"}) {
      fs.mkdirs(new Path(dir));
      fs.setPermission(new Path(dir), new FsPermission((short) 01777));
    }
    String defaultFs = "hdfs://127.0.0.1:" + dfs.getNameNodePort();
    conf.set("fs.defaultFS", defaultFs);
    long dfsReady = System.nanoTime();

    // YARN.
    conf.set(YarnConfiguration.RM_BIND_HOST, "127.0.0.1");
    conf.set(YarnConfiguration.NM_BIND_HOST, "127.0.0.1");
    conf.setInt(YarnConfiguration.YARN_MINICLUSTER_NM_PMEM_MB, nmMemory);
    conf.setInt(YarnConfiguration.NM_PMEM_MB, nmMemory);
    conf.setInt(YarnConfiguration.NM_VCORES, nmVcores);
    conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, nmMemory);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES, nmVcores);
    // A busy test machine's disk must not turn the only node unhealthy.
    conf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
    conf.setLong(YarnConfiguration.NM_MIN_PER_DISK_FREE_SPACE_MB, 0);
    conf.setBoolean(YarnConfiguration.LOG_AGGREGATION_ENABLED, false);
    conf.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 600);
    // Containers run `$JAVA_HOME/bin/java`: give them this JVM's when the environment has none.
    // (The admin environment is appended to a container's own value, so only for JAVA_HOME,
    // which Spark leaves alone.)
    if (System.getenv("JAVA_HOME") == null) {
      conf.set(YarnConfiguration.NM_ADMIN_USER_ENV, "JAVA_HOME=" + System.getProperty("java.home"));
    }
    // Containers inherit SPARK_LOCAL_IP from the rig's environment (set it to 127.0.0.1 to keep
    // Spark drivers and executors on loopback too), unless the application sets its own.
    conf.set(
        YarnConfiguration.NM_ENV_WHITELIST,
        conf.get(YarnConfiguration.NM_ENV_WHITELIST, YarnConfiguration.DEFAULT_NM_ENV_WHITELIST)
            + ",SPARK_LOCAL_IP");
    conf.set("yarn.scheduler.capacity.root.queues", "default,etl");
    for (String queue : new String[] {"default", "etl"}) {
      conf.set("yarn.scheduler.capacity.root." + queue + ".capacity", "50");
      conf.set("yarn.scheduler.capacity.root." + queue + ".maximum-capacity", "100");
      conf.set("yarn.scheduler.capacity.root." + queue + ".user-limit-factor", "2");
    }
    conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "1.0");

    // Its work directory (NodeManager local and log dirs) goes under test.build.data.
    File yarnDir = new File(base, "yarn").getAbsoluteFile();
    System.setProperty("test.build.data", yarnDir.getPath());
    MiniYARNCluster yarn = new MiniYARNCluster("consort-yarn", 1, 1, 1, 1);
    yarn.init(conf);
    yarn.start();
    if (!yarn.waitForNodeManagersToConnect(60_000)) {
      throw new IllegalStateException("the NodeManager did not register with the ResourceManager");
    }
    long yarnReady = System.nanoTime();

    ResourceManager rm = yarn.getResourceManager();
    Configuration rmConf = rm.getConfig();
    String rmAddress = port(rmConf, YarnConfiguration.RM_ADDRESS);
    String scheduler = port(rmConf, YarnConfiguration.RM_SCHEDULER_ADDRESS);
    String tracker = port(rmConf, YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS);
    String admin = port(rmConf, YarnConfiguration.RM_ADMIN_ADDRESS);
    String webapp = loopback(
        NetUtils.createSocketAddr(WebAppUtils.getRMWebAppURLWithoutScheme(rmConf)).getPort());
    NodeManager nm = yarn.getNodeManager(0);
    String nmWeb = loopback(nm.getNMContext().getHttpPort());

    File out = new File(confDir);
    out.mkdirs();
    Map<String, String> core = new LinkedHashMap<>();
    core.put("fs.defaultFS", defaultFs);
    core.put("hadoop.security.authentication", "simple");
    write(new File(out, "core-site.xml"), core);
    Map<String, String> hdfs = new LinkedHashMap<>();
    hdfs.put("dfs.replication", "1");
    write(new File(out, "hdfs-site.xml"), hdfs);
    Map<String, String> yarnSite = new LinkedHashMap<>();
    yarnSite.put(YarnConfiguration.RM_ADDRESS, rmAddress);
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_ADDRESS, scheduler);
    yarnSite.put(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, tracker);
    yarnSite.put(YarnConfiguration.RM_ADMIN_ADDRESS, admin);
    yarnSite.put(YarnConfiguration.RM_WEBAPP_ADDRESS, webapp);
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, "128");
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, String.valueOf(nmMemory));
    write(new File(out, "yarn-site.xml"), yarnSite);

    String ready = "{\"fs\":\"" + defaultFs + "\",\"rm\":\"" + rmAddress
        + "\",\"scheduler\":\"" + scheduler + "\",\"webapp\":\"" + webapp
        + "\",\"nm_webapp\":\"" + nmWeb + "\",\"conf_dir\":\"" + json(out.getAbsolutePath())
        + "\",\"work_dir\":\"" + json(yarn.getTestWorkDir().getAbsolutePath())
        + "\",\"dfs_ms\":" + (dfsReady - started) / 1_000_000
        + ",\"yarn_ms\":" + (yarnReady - dfsReady) / 1_000_000 + "}";
    System.out.println("READY " + ready);
    System.out.flush();

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      line = line.trim();
      if (line.equals("quit")) {
        break;
      }
      try {
        // put LOCAL HDFS_PATH: the local path may hold spaces, the HDFS path may not.
        int last = line.lastIndexOf(' ');
        if (line.startsWith("put ") && last > 4) {
          Path to = new Path(line.substring(last + 1));
          File from = new File(line.substring(4, last));
          fs.mkdirs(to.getParent());
          fs.copyFromLocalFile(false, true, new Path(from.toURI()), to);
          System.out.println("OK " + defaultFs + to.toUri().getPath());
        } else {
          System.out.println("ERR unknown command " + line);
        }
      } catch (Exception e) {
        System.out.println("ERR " + e.toString().replace('\n', ' '));
      }
      System.out.flush();
    }
    yarn.stop();
    dfs.shutdown(true);
    System.exit(0);
  }

  /** The bound port of a ResourceManager service, on 127.0.0.1 (the RM binds there). */
  private static String port(Configuration conf, String key) {
    return loopback(conf.getSocketAddr(key, "0.0.0.0:0", 0).getPort());
  }

  private static String loopback(int port) {
    return "127.0.0.1:" + port;
  }

  private static String json(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"");
  }

  private static void write(File file, Map<String, String> props) throws Exception {
    Configuration c = new Configuration(false);
    props.forEach(c::set);
    try (OutputStream os = new FileOutputStream(file)) {
      c.writeXml(os);
    }
  }
}
