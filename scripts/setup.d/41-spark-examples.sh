#!/usr/bin/env bash
# The example Spark jobs (examples/spark) compiled against the installed Spark:
# $CONSORT_CACHE/examples/consort-examples.jar (+ count_range.py beside it).
source "$(dirname "$0")/../lib.sh"
spark_home="$(ls -d "$CONSORT_CACHE"/venvs/spark/lib/python3*/site-packages/pyspark | head -1)"
src="$CONSORT_ROOT/examples/spark"
out="$CONSORT_CACHE/examples"
stamp="$out/.built-$(cat "$src"/src/consort/examples/*.java "$src"/*.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  rm -rf "$out" && mkdir -p "$out/classes"
  javac -nowarn -cp "$spark_home/jars/*" -d "$out/classes" "$src"/src/consort/examples/*.java
  jar cf "$out/consort-examples.jar" -C "$out/classes" .
  cp "$src"/*.py "$out/"
  touch "$stamp"
fi
