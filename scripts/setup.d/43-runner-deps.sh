#!/usr/bin/env bash
# What the governed PySpark runner (runner/consort_runner) needs beside pyspark, pinned, in the
# spark venv that 40-spark.sh makes: cryptography (HPKE, X25519, Ed25519 reports), boto3 (S3)
# and azure-storage-blob (Azure Blob) to stage inputs and upload outputs with released keys.
source "$(dirname "$0")/../lib.sh"
CRYPTOGRAPHY_VERSION=50.0.2
BOTO3_VERSION=1.44.8
AZURE_STORAGE_BLOB_VERSION=12.31.1
venv="$CONSORT_CACHE/venvs/spark"
stamp="$venv/.runner-deps-$CRYPTOGRAPHY_VERSION-$BOTO3_VERSION-$AZURE_STORAGE_BLOB_VERSION"
if [ ! -x "$venv/bin/python" ]; then
  log "the spark venv is missing at $venv; run scripts/setup.d/40-spark.sh first"
  exit 1
fi
if [ ! -f "$stamp" ]; then
  log "installing the runner's dependencies into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "cryptography==$CRYPTOGRAPHY_VERSION" \
    "boto3==$BOTO3_VERSION" \
    "azure-storage-blob==$AZURE_STORAGE_BLOB_VERSION"
  rm -f "$venv"/.runner-deps-*
  touch "$stamp"
fi
