#!/usr/bin/env bash
# Chaos: three `consort serve` instances on one throwaway PostgreSQL fire cheap `command`
# runs every second while, every few seconds, a random instance is killed with SIGKILL (and
# started again with its instance id) or PostgreSQL is restarted. Each execution of a run
# writes one marker file named after its run id, so applications are counted from what the
# kind actually started. At the end every instance is stopped with SIGTERM, and the line
#   chaos: runs=N applications=A doubled=D orphaned=O lost=L
# says: run rows; executions; executions beyond one per fire (a fire is a trigger and its
# scheduled time; a recovery re-fire counts with the fire it recovers); runs still EXECUTING
# plus executions without a run row; scheduled seconds of a cron trigger without a run.
# Sizes: CONSORT_CHAOS_SECS (60), CONSORT_CHAOS_JOBS (4); CONSORT_CHAOS_RECOVERY=1 (below).
# Loopback only; it stops by itself.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
secs="${CONSORT_CHAOS_SECS:-60}"
jobs="${CONSORT_CHAOS_JOBS:-4}"

# Correctness, not speed: a debug build is enough (and shared with the tests).
cargo build -q -p consort
bin="$CARGO_TARGET_DIR/debug/consort"

pg_bin="${CONSORT_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[ -x "$pg_bin/initdb" ] || { echo "chaos: PostgreSQL server binaries not found; run scripts/setup" >&2; exit 1; }

work="$(mktemp -d /tmp/consort-chaos.XXXXXX)"
markers="$work/markers"
mkdir -p "$markers"
pids=()
pg_started=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  [ -n "$pg_started" ] && as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"
chmod 777 "$markers"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_pg "$pg_bin/initdb" -D "$work/pg" -A trust -U postgres --no-sync -E UTF8 --locale C >/dev/null
pg_start() {
  as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
  pg_started=1
}
pg_start
"$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE chaos" >/dev/null
url="postgres://postgres@127.0.0.1:$port/chaos"
sql() { "$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d chaos -c "$1"; }

# Fail-over within seconds: a killed instance is failed over 2 to 3 s after its last check-in.
cat >"$work/consort.toml" <<TOML
[scheduler]
checkin_interval_ms = 1000
failure_grace_ms = 1000
TOML

start_instance() {
  local i="$1"
  CONSORT_STORE_URL="$url" CONSORT_INSTANCE_ID="chaos-$i" CONSORT_COMMAND_KIND=true CONSORT_AUTH_MODE=none \
    CONSORT_LOG=warn "$bin" serve --config "$work/consort.toml" --listen 127.0.0.1:0 --data-dir "$work/data$i" \
    >"$work/out$i" 2>>"$work/log$i" &
  pids[$i]=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$work/out$i" 2>/dev/null && return 0; sleep 0.1; done
  echo "chaos: instance $i did not start; its log ends with:" >&2; tail -5 "$work/log$i" >&2; exit 1
}
for i in 0 1 2; do start_instance "$i"; done
# Where instance 0 listens now (a restart moves it).
server() { grep -o 'http://[0-9.:]*' "$work/out0" | head -1; }

# Each run leaves one marker per execution: RUNID.PID.
script="echo \$CONSORT_TRIGGER > $markers/\$CONSORT_RUN_ID.\$\$; sleep 0.2"
data="$(python3 -c 'import json,sys; print(json.dumps({"program": "/bin/sh", "args": ["-c", sys.argv[1]]}))' "$script")"
# CONSORT_CHAOS_RECOVERY=1: the jobs request recovery, so a run abandoned by a killed
# instance is fired again; a `command` run cannot be re-attached to, so when it had already
# started, that re-fire is a second application of the fire, and counts as doubled.
recovery=()
[ "${CONSORT_CHAOS_RECOVERY:-0}" = 1 ] && recovery=(--requests-recovery)
for j in $(seq 1 "$jobs"); do
  "$bin" jobs put "chaos.j$j" --kind command --data "$data" --cron '* * * * * ?' "${recovery[@]}" \
    --server "$(server)" >/dev/null
done

end=$((SECONDS + secs))
kills=0
pg_restarts=0
while [ "$SECONDS" -lt "$end" ]; do
  sleep "$((2 + RANDOM % 3))"
  if [ $((RANDOM % 4)) = 0 ]; then
    as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w restart \
      -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=100" >/dev/null
    pg_restarts=$((pg_restarts + 1))
  else
    i=$((RANDOM % 3))
    kill -KILL "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
    kills=$((kills + 1))
    start_instance "$i"
  fi
done

# Stop firing, let the cluster recover what the last kill left, then stop every instance.
for j in $(seq 1 "$jobs"); do "$bin" jobs pause "chaos.j$j" --server "$(server)" >/dev/null; done
sleep 25
stopped=0
for i in 0 1 2; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
for i in 0 1 2; do
  if wait "${pids[$i]}" 2>/dev/null; then stopped=$((stopped + 1)); fi
  pids[$i]=""
done

runs="$(sql "SELECT count(*) FROM consort_runs")"
applications="$(find "$markers" -type f | wc -l)"
# Executions per fire: a recovery re-fire belongs to the fire of the run it recovers.
find "$markers" -type f -printf '%f\n' | cut -d. -f1 | sort | uniq -c | awk '{print $2 "\t" $1}' >"$work/executed.tsv"
doubled="$("$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d chaos <<SQL
CREATE TEMP TABLE executed (run_id BIGINT, n INT);
\copy executed FROM '$work/executed.tsv'
WITH fires AS (
  SELECT r.id, COALESCE(o.trigger_name, r.trigger_name) AS trigger_name,
         COALESCE(o.scheduled_ms, r.scheduled_ms) AS scheduled_ms
  FROM consort_runs r LEFT JOIN consort_runs o ON o.id = r.recovers_run
)
SELECT COALESCE(sum(n - 1), 0) FROM (
  SELECT f.trigger_name, f.scheduled_ms, sum(e.n) AS n FROM fires f JOIN executed e ON e.run_id = f.id
  GROUP BY 1, 2) per_fire WHERE n > 1;
SQL
)"
abandoned="$(sql "SELECT count(*) FROM consort_runs WHERE state = 'ABANDONED'")"
orphaned_runs="$(sql "SELECT count(*) FROM consort_runs WHERE state = 'EXECUTING'")"
unknown="$("$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d chaos <<SQL
CREATE TEMP TABLE executed (run_id BIGINT, n INT);
\copy executed FROM '$work/executed.tsv'
SELECT count(*) FROM executed e WHERE NOT EXISTS (SELECT 1 FROM consort_runs r WHERE r.id = e.run_id);
SQL
)"
orphaned=$((orphaned_runs + unknown))
# Lost: seconds between a trigger's first and last scheduled fire without a run (misfires
# are not expected: outages here are far shorter than the 60 s threshold).
lost="$(sql "SELECT COALESCE(sum((max_s - min_s) / 1000 + 1 - n), 0) FROM ( \
  SELECT trigger_name, min(scheduled_ms) AS min_s, max(scheduled_ms) AS max_s, count(DISTINCT scheduled_ms) AS n \
  FROM consort_runs WHERE trigger_group <> 'RECOVERING_JOBS' GROUP BY trigger_name) t")"
echo "chaos: kills=$kills postgres_restarts=$pg_restarts secs=$secs stopped_cleanly=$stopped/3 abandoned=$abandoned" >&2
echo "chaos: runs=$runs applications=$applications doubled=$doubled orphaned=$orphaned lost=$lost"
