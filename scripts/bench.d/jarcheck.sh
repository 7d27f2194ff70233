#!/usr/bin/env bash
# Jar check: bytes read and time for jars of 1 MB, 100 MB and 1 GB on HDFS (minicluster: native
# RPC and WebHDFS) and S3 (moto and s3s-fs), beside the upstream approach (read the whole jar) in the same
# run. Jars are generated on the fly. Extra arguments go to the benchmark, e.g.
# `scripts/bench jarcheck --sizes-mb 1,100 --runs 3`. The table is also written to
# $CONSORT_CACHE/bench/jarcheck.md.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
mkdir -p "$CONSORT_CACHE/bench"
# s3s-fs (the Rust registry, pinned; bench only, so CI does not build it) serves ranges from plain
# files, unlike moto, which loads a whole object to answer a range request.
if [ ! -x "$CONSORT_CACHE/s3s-fs/bin/s3s-fs" ]; then
  log "installing s3s-fs 0.14.1 into $CONSORT_CACHE/s3s-fs (about 2 minutes)"
  CARGO_TARGET_DIR="$CONSORT_CACHE/target-s3s" cargo install -q --locked --root "$CONSORT_CACHE/s3s-fs" s3s-fs@0.14.1 --features binary
fi
cargo run -q --release -p consort-storage --example jarcheck_bench -- "$@" | tee "$CONSORT_CACHE/bench/jarcheck.md"
