#!/usr/bin/env bash
# Quartz 2.5.2 with its clustered JDBC store on PostgreSQL (Maven Central): the peer in
# `scripts/bench scheduler` and `scripts/bench scale`, and the source database of the Quartz
# import test. Built once per change of its sources, into rigs/quartz-cluster/target (jar + lib/).
source "$(dirname "$0")/../lib.sh"
command -v mvn >/dev/null || apt_install maven
command -v java >/dev/null || apt_install openjdk-17-jdk-headless
rig="$CONSORT_ROOT/rigs/quartz-cluster"
stamp="$rig/target/.built-$(cat "$rig/pom.xml" "$rig"/src/main/java/consort/rigs/*.java | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  (cd "$rig" && mvn -q -B -Dstyle.color=never package -DskipTests)
  touch "$stamp"
fi
