package consort.rigs;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.PrivilegedExceptionAction;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.MiniDFSNNTopology;
import org.apache.hadoop.hdfs.server.namenode.NameNode;
import org.apache.hadoop.net.NetUtils;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.apache.hadoop.yarn.server.nodemanager.NodeManager;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;
import org.apache.hadoop.yarn.webapp.util.WebAppUtils;

/**
 * A kerberized Hadoop for tests, like a CDP cluster with security on: HDFS with an HA pair of
 * NameNodes and one DataNode ({@code SecureRig hdfs …}), and YARN with one ResourceManager and
 * one NodeManager ({@code SecureRig yarn …}). {@code hadoop.security.authentication=kerberos},
 * service-level authorization on, block access tokens on, SPNEGO on every web UI and REST API
 * (WebHDFS, the RM's and NM's REST), all against an MIT KDC the caller runs.
 *
 * <p>HDFS and YARN run in two JVMs because Hadoop servers take their Kerberos identity from the
 * JVM-wide login user (each server's {@code SecurityUtil.login} replaces it, and the RPC servers
 * read it per connection): in one JVM the NameNodes would turn into {@code yarn/localhost} once the
 * ResourceManager logs in. Start {@code hdfs} first; it writes core-site.xml and hdfs-site.xml into
 * the conf dir, which {@code yarn} then reads (the ResourceManager renews HDFS delegation tokens and
 * the NodeManager localizes from HDFS) before adding yarn-site.xml. The {@code yarn} JVM also needs
 * copies of core-site.xml and hdfs-site.xml on its classpath: the NodeManager's resource localizer
 * builds a fresh Configuration.
 *
 * <p>Arguments (both roles): {@code --base DIR} (data, logs), {@code --conf-dir DIR} (the client
 * {@code HADOOP_CONF_DIR}), {@code --krb5-conf FILE} (sets {@code java.security.krb5.conf}),
 * {@code --keytab FILE} (holds {@code hdfs/localhost}, {@code yarn/localhost} and {@code
 * HTTP/localhost}), {@code --realm R}. {@code hdfs} also takes {@code
 * --data-transfer-protection authentication|integrity|privacy|none} (default authentication: SASL
 * on the DataNode's unprivileged port, as CDP does; {@code ignore.secure.ports.for.testing} spares
 * the HTTPS-only web policy that SASL would otherwise require; {@code none}: no SASL, block tokens
 * only, which only that testing switch allows on an unprivileged port). {@code yarn} takes {@code
 * --nm-memory-mb} and {@code --nm-vcores} like YarnRig.
 *
 * <p>Servers bind 127.0.0.1 and are addressed as {@code localhost} in the written configuration,
 * so clients ask for service tickets for {@code hdfs/localhost}, {@code yarn/localhost} and {@code
 * HTTP/localhost}. Each role prints one {@code READY {json}} line, then obeys stdin: {@code put
 * LOCAL HDFS_PATH} (hdfs only; as {@code hdfs/localhost} from the keytab) prints {@code OK
 * hdfs://…}; {@code active N} (hdfs only) makes NameNode N the active one and prints {@code OK
 * active N}; {@code quit} or end of input shuts down (the NodeManager kills its containers).
 */
public final class SecureRig {
  private SecureRig() {}

  private static final String NAMESERVICE = "minidfs-ns";

  public static void main(String[] args) throws Exception {
    if (args.length == 0 || !(args[0].equals("hdfs") || args[0].equals("yarn"))) {
      throw new IllegalArgumentException("usage: SecureRig hdfs|yarn --base DIR --conf-dir DIR "
          + "--krb5-conf FILE --keytab FILE --realm R");
    }
    Map<String, String> opts = new LinkedHashMap<>();
    for (int i = 1; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("bad argument " + args[i]);
      }
      String key = args[i].substring(2);
      if (!java.util.Set.of("base", "conf-dir", "krb5-conf", "keytab", "realm",
          "data-transfer-protection", "nm-memory-mb", "nm-vcores").contains(key)) {
        throw new IllegalArgumentException("unknown argument " + args[i]);
      }
      opts.put(key, args[++i]);
    }
    for (String required : new String[] {"base", "conf-dir", "krb5-conf", "keytab", "realm"}) {
      if (!opts.containsKey(required)) {
        throw new IllegalArgumentException("--" + required + " is required");
      }
    }
    // Before any Hadoop class reads the default realm (KerberosName caches it).
    System.setProperty("java.security.krb5.conf", new File(opts.get("krb5-conf")).getAbsolutePath());
    if (args[0].equals("hdfs")) {
      hdfs(opts);
    } else {
      yarn(opts);
    }
  }

  private static void security(Configuration conf, Map<String, String> opts) {
    String realm = opts.get("realm");
    String keytab = new File(opts.get("keytab")).getAbsolutePath();
    String http = "HTTP/localhost@" + realm;
    conf.set("hadoop.security.authentication", "kerberos");
    conf.setBoolean("hadoop.security.authorization", true);
    // SPNEGO on every HttpServer2 (NameNode, DataNode, ResourceManager, NodeManager).
    conf.set("hadoop.http.filter.initializers",
        "org.apache.hadoop.security.AuthenticationFilterInitializer");
    conf.set("hadoop.http.authentication.type", "kerberos");
    conf.set("hadoop.http.authentication.simple.anonymous.allowed", "false");
    conf.set("hadoop.http.authentication.kerberos.principal", http);
    conf.set("hadoop.http.authentication.kerberos.keytab", keytab);
    conf.set("hadoop.security.auth_to_local", "DEFAULT");
    // The signer's secret: a random one per rig, not ~/hadoop-http-auth-signature-secret.
    conf.set("hadoop.http.authentication.signature.secret.file", secretFile(opts.get("base")));
  }

  private static String secretFile(String base) {
    File f = new File(base, "http-signature-secret");
    try {
      if (!f.isFile()) {
        byte[] bytes = new byte[32];
        new java.security.SecureRandom().nextBytes(bytes);
        f.getParentFile().mkdirs();
        java.nio.file.Files.writeString(f.toPath(), java.util.HexFormat.of().formatHex(bytes));
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return f.getAbsolutePath();
  }

  private static void hdfs(Map<String, String> opts) throws Exception {
    long started = System.nanoTime();
    String realm = opts.get("realm");
    String keytab = new File(opts.get("keytab")).getAbsolutePath();
    String hdfsPrincipal = "hdfs/localhost@" + realm;
    String http = "HTTP/localhost@" + realm;
    String protection = opts.getOrDefault("data-transfer-protection", "authentication");

    Configuration conf = new HdfsConfiguration();
    security(conf, opts);
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(opts.get("base"), "dfs").getAbsolutePath());
    conf.setInt("dfs.replication", 1);
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setBoolean("dfs.permissions.enabled", true);
    conf.set("dfs.namenode.kerberos.principal", hdfsPrincipal);
    conf.set("dfs.namenode.keytab.file", keytab);
    conf.set("dfs.namenode.kerberos.internal.spnego.principal", http);
    conf.set("dfs.datanode.kerberos.principal", hdfsPrincipal);
    conf.set("dfs.datanode.keytab.file", keytab);
    conf.set("dfs.web.authentication.kerberos.principal", http);
    conf.set("dfs.web.authentication.kerberos.keytab", keytab);
    conf.setBoolean("dfs.block.access.token.enable", true);
    if (!protection.equals("none")) {
      conf.set("dfs.data.transfer.protection", protection);
    }
    conf.setBoolean("ignore.secure.ports.for.testing", true);
    conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
    conf.set("dfs.namenode.http-bind-host", "127.0.0.1");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    conf.setInt("dfs.ha.tail-edits.period", 1);
    UserGroupInformation.setConfiguration(conf);

    MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf)
        .nnTopology(MiniDFSNNTopology.simpleHATopology())
        .numDataNodes(1)
        .format(true)
        .build();
    dfs.transitionToActive(0);
    dfs.waitActive();

    UserGroupInformation hdfsUser =
        UserGroupInformation.loginUserFromKeytabAndReturnUGI(hdfsPrincipal, keytab);
    FileSystem fs = hdfsUser.doAs((PrivilegedExceptionAction<FileSystem>) () -> dfs.getFileSystem(0));
    hdfsUser.doAs((PrivilegedExceptionAction<Void>) () -> {
      // Clients (consort@REALM, Spark's staging dirs) may write anywhere, like YarnRig's HDFS.
      fs.setPermission(new Path("/"), new FsPermission((short) 0777));
      for (String dir : new String[] {"/tmp", "/user"}) {
        fs.mkdirs(new Path(dir));
        fs.setPermission(new Path(dir), new FsPermission((short) 01777));
      }
      Path home = new Path("/user/consort");
      fs.mkdirs(home);
      fs.setOwner(home, "consort", "consort");
      return null;
    });

    List<String> nns = new ArrayList<>();
    List<String> nnIds = new ArrayList<>();
    Map<String, String> hdfsSite = new LinkedHashMap<>();
    hdfsSite.put("dfs.nameservices", NAMESERVICE);
    for (int i = 0; i < 2; i++) {
      NameNode nn = dfs.getNameNode(i);
      String id = "nn" + (i + 1);
      String rpc = "localhost:" + nn.getNameNodeAddress().getPort();
      String web = "localhost:" + nn.getHttpAddress().getPort();
      nnIds.add(id);
      nns.add("{\"name\":\"" + id + "\",\"rpc\":\"" + rpc + "\",\"http\":\"" + web + "\"}");
      hdfsSite.put("dfs.namenode.rpc-address." + NAMESERVICE + "." + id, rpc);
      hdfsSite.put("dfs.namenode.http-address." + NAMESERVICE + "." + id, web);
    }
    hdfsSite.put("dfs.ha.namenodes." + NAMESERVICE, String.join(",", nnIds));
    hdfsSite.put("dfs.client.failover.proxy.provider." + NAMESERVICE,
        "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider");
    hdfsSite.put("dfs.replication", "1");
    hdfsSite.put("dfs.webhdfs.enabled", "true");
    hdfsSite.put("dfs.namenode.kerberos.principal", hdfsPrincipal);
    hdfsSite.put("dfs.datanode.kerberos.principal", hdfsPrincipal);
    hdfsSite.put("dfs.web.authentication.kerberos.principal", http);
    hdfsSite.put("dfs.block.access.token.enable", "true");
    if (!protection.equals("none")) {
      hdfsSite.put("dfs.data.transfer.protection", protection);
    }

    String defaultFs = "hdfs://" + NAMESERVICE;
    Map<String, String> core = new LinkedHashMap<>();
    core.put("fs.defaultFS", defaultFs);
    core.put("hadoop.security.authentication", "kerberos");
    core.put("hadoop.security.authorization", "true");
    core.put("hadoop.rpc.protection", "authentication");
    core.put("hadoop.security.auth_to_local", "DEFAULT");

    File out = new File(opts.get("conf-dir"));
    out.mkdirs();
    write(new File(out, "core-site.xml"), core);
    write(new File(out, "hdfs-site.xml"), hdfsSite);

    System.out.println("READY {\"nameservice\":\"" + NAMESERVICE + "\",\"fs\":\"" + defaultFs
        + "\",\"active\":0,\"namenodes\":[" + String.join(",", nns)
        + "],\"data_transfer_protection\":\"" + protection + "\",\"conf_dir\":\""
        + json(out.getAbsolutePath()) + "\",\"dfs_ms\":" + (System.nanoTime() - started) / 1_000_000
        + "}");
    System.out.flush();

    commands(line -> {
      // put LOCAL HDFS_PATH: the local path may hold spaces, the HDFS path may not.
      int last = line.lastIndexOf(' ');
      if (line.startsWith("put ") && last > 4) {
        Path to = new Path(line.substring(last + 1));
        File from = new File(line.substring(4, last));
        hdfsUser.doAs((PrivilegedExceptionAction<Void>) () -> {
          fs.mkdirs(to.getParent());
          fs.copyFromLocalFile(false, true, new Path(from.toURI()), to);
          return null;
        });
        return "OK " + defaultFs + to.toUri().getPath();
      }
      // active N: NameNode N becomes the active one, the other standby.
      if (line.startsWith("active ")) {
        int next = Integer.parseInt(line.substring(7).trim());
        dfs.transitionToStandby(1 - next);
        dfs.transitionToActive(next);
        return "OK active " + next;
      }
      return null;
    });
    dfs.shutdown(true);
    System.exit(0);
  }

  private static void yarn(Map<String, String> opts) throws Exception {
    long started = System.nanoTime();
    String realm = opts.get("realm");
    String keytab = new File(opts.get("keytab")).getAbsolutePath();
    String yarnPrincipal = "yarn/localhost@" + realm;
    String http = "HTTP/localhost@" + realm;
    int nmMemory = Integer.parseInt(opts.getOrDefault("nm-memory-mb", "8192"));
    int nmVcores = Integer.parseInt(opts.getOrDefault("nm-vcores", "4"));
    File out = new File(opts.get("conf-dir"));

    Configuration conf = new YarnConfiguration();
    // The HA nameservice and HDFS principals, as `SecureRig hdfs` wrote them.
    for (String site : new String[] {"core-site.xml", "hdfs-site.xml"}) {
      File f = new File(out, site);
      if (!f.isFile()) {
        throw new IllegalStateException(f + " is missing: start `SecureRig hdfs` first");
      }
      conf.addResource(f.toURI().toURL());
    }
    security(conf, opts);
    conf.set(YarnConfiguration.RM_PRINCIPAL, yarnPrincipal);
    conf.set(YarnConfiguration.RM_KEYTAB, keytab);
    conf.set(YarnConfiguration.NM_PRINCIPAL, yarnPrincipal);
    conf.set(YarnConfiguration.NM_KEYTAB, keytab);
    conf.set(YarnConfiguration.RM_WEBAPP_SPNEGO_USER_NAME_KEY, http);
    conf.set(YarnConfiguration.RM_WEBAPP_SPNEGO_KEYTAB_FILE_KEY, keytab);
    conf.set(YarnConfiguration.NM_WEBAPP_SPNEGO_USER_NAME_KEY, http);
    conf.set(YarnConfiguration.NM_WEBAPP_SPNEGO_KEYTAB_FILE_KEY, keytab);
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
    conf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
    conf.setLong(YarnConfiguration.NM_MIN_PER_DISK_FREE_SPACE_MB, 0);
    conf.setBoolean(YarnConfiguration.LOG_AGGREGATION_ENABLED, false);
    conf.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 600);
    if (System.getenv("JAVA_HOME") == null) {
      conf.set(YarnConfiguration.NM_ADMIN_USER_ENV, "JAVA_HOME=" + System.getProperty("java.home"));
    }
    conf.set(YarnConfiguration.NM_ENV_WHITELIST,
        conf.get(YarnConfiguration.NM_ENV_WHITELIST, YarnConfiguration.DEFAULT_NM_ENV_WHITELIST)
            + ",SPARK_LOCAL_IP");
    conf.set("yarn.scheduler.capacity.root.queues", "default,etl");
    for (String queue : new String[] {"default", "etl"}) {
      conf.set("yarn.scheduler.capacity.root." + queue + ".capacity", "50");
      conf.set("yarn.scheduler.capacity.root." + queue + ".maximum-capacity", "100");
      conf.set("yarn.scheduler.capacity.root." + queue + ".user-limit-factor", "2");
    }
    conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "1.0");
    UserGroupInformation.setConfiguration(conf);
    // MiniYARNCluster's ResourceManager and NodeManager skip their own keytab login (made for
    // tests with simple auth): log this JVM in as yarn/localhost, whom both then run as.
    UserGroupInformation.loginUserFromKeytab(yarnPrincipal, keytab);

    File yarnDir = new File(opts.get("base"), "yarn").getAbsoluteFile();
    System.setProperty("test.build.data", yarnDir.getPath());
    MiniYARNCluster yarn = new MiniYARNCluster("consort-yarn", 1, 1, 1, 1);
    yarn.init(conf);
    yarn.start();
    if (!yarn.waitForNodeManagersToConnect(60_000)) {
      throw new IllegalStateException("the NodeManager did not register with the ResourceManager");
    }

    ResourceManager rm = yarn.getResourceManager();
    Configuration rmConf = rm.getConfig();
    String rmAddress = port(rmConf, YarnConfiguration.RM_ADDRESS);
    String scheduler = port(rmConf, YarnConfiguration.RM_SCHEDULER_ADDRESS);
    String tracker = port(rmConf, YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS);
    String admin = port(rmConf, YarnConfiguration.RM_ADMIN_ADDRESS);
    String webapp = "localhost:"
        + NetUtils.createSocketAddr(WebAppUtils.getRMWebAppURLWithoutScheme(rmConf)).getPort();
    NodeManager nm = yarn.getNodeManager(0);
    String nmWeb = "localhost:" + nm.getNMContext().getHttpPort();

    Map<String, String> yarnSite = new LinkedHashMap<>();
    yarnSite.put(YarnConfiguration.RM_ADDRESS, rmAddress);
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_ADDRESS, scheduler);
    yarnSite.put(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, tracker);
    yarnSite.put(YarnConfiguration.RM_ADMIN_ADDRESS, admin);
    yarnSite.put(YarnConfiguration.RM_WEBAPP_ADDRESS, webapp);
    yarnSite.put(YarnConfiguration.RM_PRINCIPAL, yarnPrincipal);
    yarnSite.put(YarnConfiguration.NM_PRINCIPAL, yarnPrincipal);
    yarnSite.put(YarnConfiguration.RM_WEBAPP_SPNEGO_USER_NAME_KEY, http);
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, "128");
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, String.valueOf(nmMemory));
    write(new File(out, "yarn-site.xml"), yarnSite);

    System.out.println("READY {\"rm\":\"" + rmAddress + "\",\"scheduler\":\"" + scheduler
        + "\",\"webapp\":\"" + webapp + "\",\"nm_webapp\":\"" + nmWeb + "\",\"conf_dir\":\""
        + json(out.getAbsolutePath()) + "\",\"work_dir\":\""
        + json(yarn.getTestWorkDir().getAbsolutePath()) + "\",\"yarn_ms\":"
        + (System.nanoTime() - started) / 1_000_000 + "}");
    System.out.flush();

    commands(line -> null);
    yarn.stop();
    System.exit(0);
  }

  private interface Command {
    /** The reply to a command line, or null when it is not one. */
    String run(String line) throws Exception;
  }

  private static void commands(Command command) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      line = line.trim();
      if (line.equals("quit")) {
        break;
      }
      String reply;
      try {
        reply = command.run(line);
        if (reply == null) {
          reply = "ERR unknown command " + line;
        }
      } catch (Exception e) {
        reply = "ERR " + e.toString().replace('\n', ' ');
      }
      System.out.println(reply);
      System.out.flush();
    }
    // A shutdown that hangs must not outlive the test that started us.
    Thread halt = new Thread(() -> {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(1);
    });
    halt.setDaemon(true);
    halt.start();
  }

  /** The bound port of a ResourceManager service, addressed as localhost. */
  private static String port(Configuration conf, String key) {
    return "localhost:" + conf.getSocketAddr(key, "0.0.0.0:0", 0).getPort();
  }

  private static String json(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"");
  }

  private static void write(File file, Map<String, String> props) throws Exception {
    Configuration c = new Configuration(false);
    props.forEach(c::set);
    // Whole or not at all: clients may read the conf dir at any moment.
    File tmp = new File(file.getPath() + ".tmp");
    try (OutputStream os = new FileOutputStream(tmp)) {
      c.writeXml(os);
    }
    java.nio.file.Files.move(tmp.toPath(), file.toPath(),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }
}
