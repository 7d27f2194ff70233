#!/usr/bin/env bash
# Provisioner latency: POST /v1/validate and POST /v1/provision through a real `consort serve`
# (release), the jar on HDFS over RPC (the Hadoop minicluster rig), for jars of 1 MB and 1 GB,
# beside the upstream approach in the same run (WebHDFS GETFILESTATUS, then the whole jar read
# over WebHDFS to find the class). Prints one line per size:
#   provisioner: jar=1GB validate_p50_ms=… validate_p99_ms=… provision_p50_ms=… provision_p99_ms=… upstream_p50_ms=… ratio=…
# Targets: validate p99 < 50 ms for any jar size, provision p99 < 100 ms. Sizes:
# CONSORT_BENCH_SIZES_MB (1,1024), CONSORT_BENCH_REQUESTS (200), CONSORT_BENCH_UPSTREAM_RUNS. About 3 minutes once built; the
# 1 GB jar lives in memory and on the rig's disk only while it is measured.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
cargo bench -q -p consort --bench provisioner
