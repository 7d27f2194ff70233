#!/usr/bin/env bash
# The dashboard's first paint to interactive, in Debian's chromium (48-browser.sh): a release
# `consort serve` on SQLite with CONSORT_BENCH_RUNS (10,000) runs fired by the scheduler and 70
# jobs, each page loaded CONSORT_BENCH_LOADS (20) times on a fresh tab; the time from navigation
# to the page's `consort:ready:PAGE` mark (first table drawn, buttons enabled) beside the floor,
# the same API calls fetched from the same tab. One line per page:
#   dashboard: page=jobs runs=10000 loads=20 interactive_p50_ms=… p90_ms=… max_ms=… api_floor_p50_ms=… ratio=… target_ms=1000 met
# Target: p90 < 1000 ms. Method and figures: docs/dashboard.md "Benchmark".
# CONSORT_BENCH_PROFILE=debug measures a debug build instead (an upper bound, when there is no
# time for a release build).
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
profile="${CONSORT_BENCH_PROFILE:-release}"
if [ "$profile" = debug ]; then cargo build -q -p consort; else cargo build -q --release -p consort; fi
scratch="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$scratch"' EXIT
# Keep all the runs (retention would trim each job to 1,000) and let the benchmark poll freely.
printf '[auth]\nrate_per_sec = 100000\nrate_burst = 100000\n[scheduler]\nruns_per_job = 0\n' >"$scratch/consort.toml"
env -u CONSORT_CONFIG -u CONSORT_TOKEN "$CARGO_TARGET_DIR/$profile/consort" serve --config "$scratch/consort.toml" \
  --listen 127.0.0.1:0 --data-dir "$scratch/data" >"$scratch/stdout" 2>"$scratch/server.log" &
server=$!
for _ in $(seq 100); do grep -q 'http://' "$scratch/stdout" 2>/dev/null && break; sleep 0.2; done
url="http://$(grep -o 'http://[^ ]*' "$scratch/stdout" | head -1 | sed 's|http://||')"
CONSORT_URL="$url" CONSORT_ADMIN_TOKEN="$(cat "$scratch/data/admin.token")" \
  CONSORT_PLAYWRIGHT="$CONSORT_CACHE/node/browser/node_modules/playwright-core" CONSORT_PROFILE="$scratch/profile" \
  CONSORT_BENCH_BUILD="$profile" node "$CONSORT_ROOT/tests/browser/bench.mjs"
