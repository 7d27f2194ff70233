#!/usr/bin/env bash
# Clean-room runs: (1) the governance overhead of the run call — every check of the checklist,
# the run and its grants committed with their ledger entries, no Spark — on SQLite and
# PostgreSQL (crates/store/examples/cleanroom_run_bench.rs); (2) the example of
# examples/cleanroom end to end — the run call, the governed runner's attestation, key
# release, consent checks and events, on local Spark — beside a bare spark-submit of the same
# SQL (examples/cleanroom/bare_query.py), alternating, CONSORT_BENCH_ROUNDS times (3). Ends with
#   cleanroom: store=S run_calls=N overhead_p50_ms=X overhead_p99_ms=Y    (one per store)
#   cleanroom: e2e_s=X bare_spark_submit_s=Y ratio=Z                     (medians)
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
rounds="${CONSORT_BENCH_ROUNDS:-3}"
log "clean-room run: governance overhead (no Spark)"
cargo run -q --release -p consort-store --example cleanroom_run_bench

log "clean-room run: the example end to end, beside a bare spark-submit"
cargo build -q --release -p consort
bin="$CARGO_TARGET_DIR/release/consort"
spark_home="$("$CONSORT_CACHE/venvs/spark/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$CONSORT_CACHE/venvs/spark/bin/python"
dir="$(mktemp -d "${TMPDIR:-/tmp}/consort-bench-cleanroom.XXXXXX")"
mkdir -p "$dir/bank" "$dir/retailer" "$dir/output" "$dir/data"
cp examples/cleanroom/bank_customers.csv "$dir/bank/"
cp examples/cleanroom/retail_purchases.csv "$dir/retailer/"
printf '[cleanroom]\nsimulated_tee_key_file = "%s/tee.key"\n' "$dir" >"$dir/consort.toml"
"$bin" serve --config "$dir/consort.toml" --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/serve.out" 2>"$dir/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
url=""
for _ in $(seq 1 240); do
  url="$(grep -o 'http://[0-9.:]*' "$dir/serve.out" 2>/dev/null | head -n 1 || true)"
  [ -n "$url" ] && break
  sleep 0.25
done
[ -n "$url" ] || { log "consort serve did not start; see $dir/serve.log"; exit 1; }

e2e=()
bare=()
for round in $(seq 1 "$rounds"); do
  # The governed run: the sandbox sets the room up, then the run's own created→ended time is
  # what is compared (setting a room up is not part of running a query).
  sed -e "s|@DIR@|$dir|g" -e "s|@ROOM@|bench-$round|g" examples/cleanroom/sandbox.yaml >"$dir/sandbox-$round.yaml"
  out="$("$bin" cleanroom sandbox "$dir/sandbox-$round.yaml" --server "$url" --data-dir "$dir/data")"
  job="$(printf '%s' "$out" | "$CONSORT_CACHE/venvs/spark/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')"
  status="$("$bin" cleanroom --json status "bench-$round" "$job" --server "$url" --data-dir "$dir/data")"
  e2e+=("$(printf '%s' "$status" | "$CONSORT_CACHE/venvs/spark/bin/python" -c '
import json, sys
run = json.load(sys.stdin)
assert run["state"] == "SUCCEEDED", run
print("%.2f" % ((run["ended_ms"] - run["created_ms"]) / 1000))')")
  start=$(date +%s%N)
  "$spark_home/bin/spark-submit" --master 'local[2]' examples/cleanroom/bare_query.py \
    "$dir/bank" "$dir/retailer" "$dir/bare-$round" >"$dir/bare-$round.log" 2>&1
  bare+=("$(python3 -c "print('%.2f' % (($(date +%s%N) - $start) / 1e9))")")
  log "round $round: governed ${e2e[-1]} s, bare spark-submit ${bare[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_e2e="$(median "${e2e[@]}")"
m_bare="$(median "${bare[@]}")"
ratio="$(python3 -c "print('%.2f' % ($m_e2e / $m_bare))")"
echo "cleanroom: e2e_s=$m_e2e bare_spark_submit_s=$m_bare ratio=$ratio"
