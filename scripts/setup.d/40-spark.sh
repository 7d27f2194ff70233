#!/usr/bin/env bash
# Apache Spark for the local and standalone backends and the example jobs:
# the pyspark package (it carries a full Spark: spark-submit, spark-class, jars)
# in a venv under $CONSORT_CACHE/venvs/spark. SPARK_HOME is the package directory.
source "$(dirname "$0")/../lib.sh"
PYSPARK_VERSION=4.3.0
venv="$CONSORT_CACHE/venvs/spark"
if [ ! -f "$venv/.pyspark-$PYSPARK_VERSION" ]; then
  log "installing pyspark $PYSPARK_VERSION into $venv (about 460 MB, once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
  touch "$venv/.pyspark-$PYSPARK_VERSION"
fi
