package consort.rigs;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.MiniDFSNNTopology;
import org.apache.hadoop.hdfs.server.namenode.NameNode;

/**
 * Starts Hadoop's MiniDFSCluster (one DataNode; by default an HA pair of NameNodes sharing a
 * nameservice) with WebHDFS on, bound to 127.0.0.1, prints one READY line with its addresses as
 * JSON on stdout, then obeys commands on stdin until stdin closes:
 *
 * <ul>
 *   <li>{@code active N} makes NameNode N the active one (the other becomes standby), prints OK.
 *   <li>{@code quit} (or end of input) shuts the cluster down.
 * </ul>
 *
 * Arguments: {@code --base DIR} (required, where blocks and edits live), {@code --single} (one
 * NameNode, no HA), {@code --active N} (which NameNode starts active; default 0).
 *
 * The NameNodes run as the user {@code hdfs} (the HDFS superuser here), so clients that connect
 * under another name get real permission checks. The rig makes {@code /} writable by everyone
 * and creates {@code /private/secret.jar} readable only by its owner.
 */
public final class HdfsRig {
  private HdfsRig() {}

  public static void main(String[] args) throws Exception {
    String base = null;
    boolean ha = true;
    int active = 0;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--base" -> base = args[++i];
        case "--single" -> ha = false;
        case "--active" -> active = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (base == null) {
      throw new IllegalArgumentException("--base DIR is required");
    }
    if (System.getenv("HADOOP_USER_NAME") == null) {
      System.setProperty("HADOOP_USER_NAME", "hdfs");
    }

    Configuration conf = new HdfsConfiguration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base);
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setBoolean("dfs.permissions.enabled", true);
    conf.setInt("dfs.replication", 1);
    conf.set("hadoop.security.authentication", "simple");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    // Quick failovers in the `active N` command.
    conf.setInt("dfs.ha.tail-edits.period", 1);

    MiniDFSCluster.Builder builder = new MiniDFSCluster.Builder(conf).numDataNodes(1).format(true);
    if (ha) {
      builder.nnTopology(MiniDFSNNTopology.simpleHATopology());
    }
    MiniDFSCluster cluster = builder.build();
    int count = ha ? 2 : 1;
    if (ha) {
      cluster.transitionToActive(active);
    }
    cluster.waitActive();

    FileSystem fs = ha ? cluster.getFileSystem(active) : cluster.getFileSystem();
    fs.setPermission(new Path("/"), new FsPermission((short) 0777));
    Path priv = new Path("/private");
    fs.mkdirs(priv);
    fs.setPermission(priv, new FsPermission((short) 0700));
    try (OutputStream out = fs.create(new Path("/private/secret.jar"))) {
      out.write("not for you".getBytes(StandardCharsets.UTF_8));
    }

    StringBuilder json = new StringBuilder();
    json.append("{\"ha\":").append(ha);
    json.append(",\"nameservice\":\"").append(ha ? "minidfs-ns" : "").append('"');
    json.append(",\"active\":").append(ha ? active : 0);
    json.append(",\"superuser\":\"hdfs\",\"namenodes\":[");
    List<String> nns = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      NameNode nn = cluster.getNameNode(i);
      nns.add(
          "{\"name\":\"" + (ha ? "nn" + (i + 1) : "nn") + "\",\"rpc\":\"127.0.0.1:"
              + nn.getNameNodeAddress().getPort() + "\",\"http\":\"127.0.0.1:"
              + nn.getHttpAddress().getPort() + "\"}");
    }
    json.append(String.join(",", nns)).append("]}");
    System.out.println("READY " + json);
    System.out.flush();

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      line = line.trim();
      if (line.equals("quit")) {
        break;
      }
      if (line.startsWith("active ") && ha) {
        int next = Integer.parseInt(line.substring(7).trim());
        cluster.transitionToStandby(1 - next);
        cluster.transitionToActive(next);
        System.out.println("OK active " + next);
      } else {
        System.out.println("ERR unknown command " + line);
      }
      System.out.flush();
    }
    cluster.shutdown(true);
    System.exit(0);
  }
}
