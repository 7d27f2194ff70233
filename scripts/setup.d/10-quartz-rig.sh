#!/usr/bin/env bash
# Quartz 2.5.2 (Maven Central), the oracle for differential cron tests and the
# benchmark peer: rigs/quartz, built once per change of its sources.
source "$(dirname "$0")/../lib.sh"
rig="$CONSORT_ROOT/rigs/quartz"
stamp="$rig/target/.built-$(cat "$rig/pom.xml" "$rig"/src/main/java/consort/rigs/*.java | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  (cd "$rig" && mvn -q -B -Dstyle.color=never package -DskipTests)
  touch "$stamp"
fi
