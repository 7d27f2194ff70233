#!/usr/bin/env bash
# Spark control-plane benchmark: fire → spark-submit started (ms, through the
# scheduler on SQLite and the `spark` kind) and the overhead of running the
# example job through consort's local backend over a bare spark-submit.
# Ends with one `spark: …` line. CONSORT_BENCH_FIRES, CONSORT_BENCH_SPARK_RUNS size it.
source "$(dirname "$0")/../lib.sh"
cargo bench -q -p consort-spark --bench spark_overhead --manifest-path "$CONSORT_ROOT/Cargo.toml"
