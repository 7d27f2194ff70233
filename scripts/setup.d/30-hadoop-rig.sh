#!/usr/bin/env bash
# Hadoop 3.5.0's MiniDFSCluster (Maven Central) for consort-storage's HDFS tests
# and the jarcheck benchmark: rigs/hadoop, built into $CONSORT_CACHE/rigs/hadoop
# once per change of its sources. Tests read the classpath from classpath.txt there.
source "$(dirname "$0")/../lib.sh"
rig="$CONSORT_ROOT/rigs/hadoop"
out="$CONSORT_CACHE/rigs/hadoop"
stamp="$out/.built-$(cat "$rig/pom.xml" "$rig"/src/main/java/consort/rigs/*.java "$rig"/src/main/resources/* | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -f "$out/classpath.txt" ]; then
  log "building the Hadoop minicluster rig into $out"
  (cd "$rig" && mvn -q -B -Dstyle.color=never -Drig.out="$out" package -DskipTests)
  (cd "$out" && printf '%s' "$out/hadoop-rig-0.1.0.jar$(for j in lib/*.jar; do printf ':%s' "$out/$j"; done)" > classpath.txt)
  touch "$stamp"
fi
