#!/usr/bin/env bash
# Cron benchmark: ns per next-fire call and per parse for the 7 shapes × 2 zones of
# quartz.md §3.4, for consort-cron, the `cron` and `croner` crates and Quartz 2.5.2,
# all in this one run, plus heap allocations per consort call. Prints one markdown
# table. Method (same on every side): chained calls, warmed, best of 5 × 200,000.
# `scripts/bench cron` runs it after setup (which builds rigs/quartz).
# CONSORT_BENCH_CALLS=N shortens the rounds (for a quick look, not for figures).
source "$(dirname "$0")/../lib.sh"
calls="${CONSORT_BENCH_CALLS:-200000}"
rig="$CONSORT_ROOT/rigs/quartz"

log "cron bench: building the Rust side"
cargo bench -q -p consort-cron --bench next_fire --no-run --manifest-path "$CONSORT_ROOT/Cargo.toml" 2>&1 \
  | grep -v '^ *Executable' >&2 || true

quartz_out="$(mktemp)"
trap 'rm -f "$quartz_out"' EXIT
log "cron bench: Quartz 2.5.2 (JVM, warmed loop)"
java -Xms256m -Xmx256m -XX:+UseParallelGC -cp "$rig/target/classes:$rig/target/lib/*" \
  consort.rigs.CronBench "$calls" >"$quartz_out"

log "cron bench: consort, cron, croner"
CONSORT_BENCH_QUARTZ="$quartz_out" CONSORT_BENCH_CALLS="$calls" \
  cargo bench -q -p consort-cron --bench next_fire --manifest-path "$CONSORT_ROOT/Cargo.toml"
