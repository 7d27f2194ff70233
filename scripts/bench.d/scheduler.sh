#!/usr/bin/env bash
# Scheduler throughput, lateness and commits per fire: consort (embedded SQLite; three
# instances on one PostgreSQL) against Quartz 2.5.2's clustered JDBC store on the same
# PostgreSQL, same trigger set, no-op job, in one run. Ends with the summary line
#   scheduler: store=postgres instances=3 triggers=N fires=F lost=L doubled=D fires_per_s=X quartz_fires_per_s=Y p99_late_ms=Z
# Sizes: CONSORT_BENCH_TRIGGERS (1000), CONSORT_BENCH_REPEATS (49), CONSORT_BENCH_QUARTZ_SECS (30).
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
cargo build -q --release -p consort-store --example scheduler_bench
exec "$CARGO_TARGET_DIR/release/examples/scheduler_bench" "$@"
