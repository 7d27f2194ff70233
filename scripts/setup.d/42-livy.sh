#!/usr/bin/env bash
# Apache Livy's server (Maven Central) for consort-spark's livy tests: rigs/livy
# lays out a Livy distribution's jars/ under $CONSORT_CACHE/rigs/livy, once per
# change of the pom. The tests write conf/livy.conf per run and start
#   java -cp "$CONSORT_CACHE/rigs/livy/jars/*:CONF_DIR" org.apache.livy.server.LivyServer
# with SPARK_HOME = the pyspark that 40-spark.sh installs (batches run spark-submit).
source "$(dirname "$0")/../lib.sh"
rig="$CONSORT_ROOT/rigs/livy"
out="$CONSORT_CACHE/rigs/livy"
stamp="$out/.built-$(sha256sum < "$rig/pom.xml" | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -f "$out/jars/livy-server-0.7.1-incubating.jar" ]; then
  log "assembling the Livy server's jars into $out"
  rm -rf "$out"
  (cd "$rig" && mvn -q -B -Dstyle.color=never -Drig.out="$out" package)
  touch "$stamp"
fi
