#!/usr/bin/env bash
# Jar check: bytes read and time for jars of 1 MB, 100 MB and 1 GB on HDFS (minicluster: native
# RPC and WebHDFS) and S3 (moto), beside the upstream approach (read the whole jar) in the same
# run. Jars are generated on the fly. Extra arguments go to the benchmark, e.g.
# `scripts/bench jarcheck --sizes-mb 1,100 --runs 3`. The table is also written to
# $CONSORT_CACHE/bench/jarcheck.md.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
mkdir -p "$CONSORT_CACHE/bench"
cargo run -q --release -p consort-storage --example jarcheck_bench -- "$@" | tee "$CONSORT_CACHE/bench/jarcheck.md"
