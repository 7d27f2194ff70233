#!/usr/bin/env bash
# How consort's cost grows with the store: release `consort serve` on SQLite (one instance) and
# on one PostgreSQL (three instances), seeded with 1,000 to 100,000 triggers (a realistic mix)
# and up to 10 million runs; fires/s, lateness, store cycle, commits per fire, database size,
# RSS and the list/get endpoints' p99 while the triggers fire; Quartz 2.5.2's clustered JDBC
# store (three JVMs) on the same PostgreSQL with the same mix, once per trigger count
# (CONSORT_BENCH_QUARTZ=0 leaves it out; setup builds rigs/quartz-cluster). One line per size:
#   scale: store=S instances=I triggers=T runs=R fires_per_s=X p99_late_ms=Y ... api_p99_ms=Z rss_mb=M
# Sizes: CONSORT_BENCH_SIZES (1000:0,10000:0,100000:0,100000:1000000,100000:10000000),
# CONSORT_BENCH_STORES (sqlite,postgres), CONSORT_BENCH_SECS (30). Method: docs/benchmarks/scale.md.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
cargo bench -q -p consort --bench scale
