#!/usr/bin/env bash
# Chaos: three `consort serve` instances on one throwaway PostgreSQL fire cheap `command`
# runs every second while, every few seconds, a random instance is killed with SIGKILL (and
# started again with its instance id 0 to 4 s later) or PostgreSQL is restarted. Each execution of a run
# writes one marker file named after its run id, so applications are counted from what the
# kind actually started. At the end every instance is stopped with SIGTERM, and the line
#   chaos: runs=N applications=A doubled=D orphaned=O lost=L
# says: run rows; executions; executions beyond one per fire (a fire is a trigger and its
# scheduled time; a recovery re-fire counts with the fire it recovers); runs still EXECUTING
# plus executions without a run row; scheduled seconds of a cron trigger without a run.
# A line on stderr counts fail-overs (an instance recovered by another, from their logs) and
# false ones (while that instance was alive).
# Sizes: CONSORT_CHAOS_SECS (60), CONSORT_CHAOS_JOBS (4); CONSORT_CHAOS_RECOVERY=1 (below);
# CONSORT_CHAOS_KEEP=1 keeps the logs and the database's directory.
#
# `chaos spark` (or CONSORT_CHAOS_KIND=spark): the runs are `spark` runs on the kubernetes
# backend, against a real Kubernetes API server with the SparkApplication CRD (the
# consort-rigs `spark_operator` example starts it and plays the Spark Operator: RUNNING, then
# COMPLETED a second later). Applications are the SparkApplication objects, each tied to its
# run by its run key; jobs request recovery, so a run abandoned after submitting would show
# as doubled. Orphaned also counts applications of ABANDONED runs (nobody follows them), and
# the second line adds applications never completed, runs whose handle was never recorded
# and applications adopted by their key after a kill between submitting and recording.
# Loopback only; it stops by itself.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
secs="${CONSORT_CHAOS_SECS:-60}"
jobs="${CONSORT_CHAOS_JOBS:-4}"
kind="${1:-${CONSORT_CHAOS_KIND:-command}}"
case "$kind" in
  command | spark) ;;
  *) echo "chaos: unknown kind '$kind': use command or spark" >&2; exit 2 ;;
esac

# Correctness, not speed: a debug build is enough (and shared with the tests).
cargo build -q -p consort
bin="$CARGO_TARGET_DIR/debug/consort"
if [ "$kind" = spark ]; then
  cargo build -q -p consort-rigs --example spark_operator
  operator="$CARGO_TARGET_DIR/debug/examples/spark_operator"
fi

pg_bin="${CONSORT_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[ -x "$pg_bin/initdb" ] || { echo "chaos: PostgreSQL server binaries not found; run scripts/setup" >&2; exit 1; }

work="$(mktemp -d /tmp/consort-chaos.XXXXXX)"
markers="$work/markers"
mkdir -p "$markers"
pids=()
pg_started=""
operator_pid=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$operator_pid" ]; then kill -TERM "$operator_pid" 2>/dev/null; wait "$operator_pid" 2>/dev/null; fi
  [ -n "$pg_started" ] && as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
  if [ "${CONSORT_CHAOS_KEEP:-0}" = 1 ]; then echo "chaos: kept $work" >&2; else rm -rf "$work"; fi
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

if [ "$kind" = spark ]; then
  # The API server and the operator first; the instances' kubernetes backend points at it.
  "$operator" serve >"$work/operator.out" 2>"$work/operator.log" &
  operator_pid=$!
  kubeconfig=""
  for _ in $(seq 1 1800); do
    kubeconfig="$(sed -n 's/^kubeconfig //p' "$work/operator.out" 2>/dev/null)"
    [ -n "$kubeconfig" ] && break
    kill -0 "$operator_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$kubeconfig" ]; then
    echo "chaos: the Kubernetes API server rig did not start; its log ends with:" >&2
    tail -5 "$work/operator.log" >&2
    exit 1
  fi
  cat >>"$work/consort.toml" <<TOML
[spark]
default_backend = "kubernetes"
kubernetes_image = "apache/spark:4.0.1"
kubernetes_kubeconfig = "$kubeconfig"
kubernetes_namespace = "spark-jobs"
TOML
fi

start_instance() {
  local i="$1"
  CONSORT_STORE_URL="$url" CONSORT_INSTANCE_ID="chaos-$i" CONSORT_COMMAND_KIND=true CONSORT_AUTH_MODE=none \
    CONSORT_LOG="warn,consort_spark::kind=info" "$bin" serve --config "$work/consort.toml" --listen 127.0.0.1:0 --data-dir "$work/data$i" \
    >"$work/out$i" 2>>"$work/log$i" &
  pids[$i]=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$work/out$i" 2>/dev/null && return 0; sleep 0.1; done
  echo "chaos: instance $i did not start; its log ends with:" >&2; tail -5 "$work/log$i" >&2; exit 1
}
for i in 0 1 2; do start_instance "$i"; done
# Where instance 0 listens now (a restart moves it).
server() { grep -o 'http://[0-9.:]*' "$work/out0" | head -1; }

# Each `command` run leaves one marker per execution: RUNID.PID. A `spark` run's application
# is a SparkApplication named by its run key.
script="echo \$CONSORT_TRIGGER > $markers/\$CONSORT_RUN_ID.\$\$; sleep 0.2"
data="$(python3 -c 'import json,sys; print(json.dumps({"program": "/bin/sh", "args": ["-c", sys.argv[1]]}))' "$script")"
[ "$kind" = spark ] && data='{"jar": "local:///opt/spark/examples/jars/spark-examples.jar", "className": "org.apache.spark.examples.SparkPi", "retryDelaySecs": 1}'
# CONSORT_CHAOS_RECOVERY=1: the jobs request recovery, so a run abandoned by a killed
# instance is fired again; a `command` run cannot be re-attached to, so when it had already
# started, that re-fire is a second application of the fire, and counts as doubled.
recovery=()
[ "${CONSORT_CHAOS_RECOVERY:-0}" = 1 ] || [ "$kind" = spark ] && recovery=(--requests-recovery)
for j in $(seq 1 "$jobs"); do
  "$bin" jobs put "chaos.j$j" --kind "$kind" --data "$data" --cron '* * * * * ?' "${recovery[@]}" \
    --server "$(server)" >/dev/null
done

end=$((SECONDS + secs))
kills=0
: >"$work/kills"
pg_restarts=0
while [ "$SECONDS" -lt "$end" ]; do
  sleep "$((2 + RANDOM % 3))"
  if [ $((RANDOM % 4)) = 0 ]; then
    as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w restart \
      -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=100" >/dev/null
    pg_restarts=$((pg_restarts + 1))
  else
    i=$((RANDOM % 3))
    killed_at="$(date +%s.%N)"
    kill -KILL "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
    kills=$((kills + 1))
    # Down for 0 to 4 s: a quick restart recovers its own previous life; a longer outage
    # (beyond check-in interval plus grace, 2 s) is failed over by a survivor, which adopts
    # the instance's Spark runs.
    sleep "$((RANDOM % 5))"
    start_instance "$i"
    echo "$i $killed_at $(date +%s.%N)" >>"$work/kills"
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

runs="$(sql "SELECT count(*) FROM consort_all_runs")"
# Executions per run id, from the markers or the SparkApplications (RUN_ID<TAB>STATE each).
if [ "$kind" = spark ]; then
  "$operator" count "$kubeconfig" >"$work/applications.tsv"
  cut -f1 "$work/applications.tsv" >"$work/executions"
else
  find "$markers" -type f -printf '%f\n' | cut -d. -f1 >"$work/executions"
fi
applications="$(wc -l <"$work/executions")"
# Executions per fire: a recovery re-fire belongs to the fire of the run it recovers.
sort "$work/executions" | uniq -c | awk '{print $2 "\t" $1}' >"$work/executed.tsv"
doubled="$("$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d chaos <<SQL
CREATE TEMP TABLE executed (run_id BIGINT, n INT);
\copy executed FROM '$work/executed.tsv'
WITH fires AS (
  SELECT r.id, COALESCE(o.trigger_name, r.trigger_name) AS trigger_name,
         COALESCE(o.scheduled_ms, r.scheduled_ms) AS scheduled_ms
  FROM consort_all_runs r LEFT JOIN consort_all_runs o ON o.id = r.recovers_run
)
SELECT COALESCE(sum(n - 1), 0) FROM (
  SELECT f.trigger_name, f.scheduled_ms, sum(e.n) AS n FROM fires f JOIN executed e ON e.run_id = f.id
  GROUP BY 1, 2) per_fire WHERE n > 1;
SQL
)"
abandoned="$(sql "SELECT count(*) FROM consort_all_runs WHERE state = 'ABANDONED'")"
orphaned_runs="$(sql "SELECT count(*) FROM consort_all_runs WHERE state = 'EXECUTING'")"
unknown="$("$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d chaos <<SQL
CREATE TEMP TABLE executed (run_id BIGINT, n INT);
\copy executed FROM '$work/executed.tsv'
SELECT count(*) FROM executed e WHERE NOT EXISTS (SELECT 1 FROM consort_all_runs r WHERE r.id = e.run_id);
SQL
)"
orphaned=$((orphaned_runs + unknown))
if [ "$kind" = spark ]; then
  # An application whose run was given up: nobody follows it to its end.
  given_up="$("$pg_bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d chaos <<SQL
CREATE TEMP TABLE executed (run_id BIGINT, n INT);
\copy executed FROM '$work/executed.tsv'
SELECT COALESCE(sum(e.n), 0) FROM executed e JOIN consort_all_runs r ON r.id = e.run_id WHERE r.state = 'ABANDONED';
SQL
)"
  orphaned=$((orphaned + given_up))
  unfinished="$(awk -F'\t' '$2 != "COMPLETED"' "$work/applications.tsv" | wc -l)"
  no_handle="$(sql "SELECT count(*) FROM consort_all_runs WHERE log_location IS NULL AND state <> 'ABANDONED'")"
  failed="$(sql "SELECT count(*) FROM consort_all_runs WHERE state = 'FAILED'")"
  adopted="$(cat "$work"/log? | grep -c 'adopted the application already submitted' || true)"
  echo "chaos: spark failed=$failed unfinished_applications=$unfinished runs_without_handle=$no_handle adopted_by_key=$adopted" >&2
fi
# Fail-overs: recoveries of an instance by another one (from their logs). A false one
# happened while that instance was alive: outside every window from its SIGKILL to its
# restarted process listening (a second of slack either side for the clocks of the logs).
read -r failovers false_failovers < <(python3 - "$work" <<'PY'
import datetime, re, sys
work = sys.argv[1]
dead = {}
with open(f"{work}/kills") as kills:
    for line in kills:
        i, killed, back = line.split()
        dead.setdefault(i, []).append((float(killed) - 1, float(back) + 1))
failovers = false_failovers = 0
for o in "012":
    with open(f"{work}/log{o}") as log:
        for line in log:
            m = re.search(r"instance recovered instance=chaos-(\d) ", line)
            if not m or m.group(1) == o:
                continue
            at = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
            failovers += 1
            false_failovers += not any(a <= at <= b for a, b in dead.get(m.group(1), []))
print(failovers, false_failovers)
PY
)
# Lost: seconds between a trigger's first and last scheduled fire without a run (misfires
# are not expected: outages here are far shorter than the 60 s threshold).
lost="$(sql "SELECT COALESCE(sum((max_s - min_s) / 1000 + 1 - n), 0) FROM ( \
  SELECT trigger_name, min(scheduled_ms) AS min_s, max(scheduled_ms) AS max_s, count(DISTINCT scheduled_ms) AS n \
  FROM consort_all_runs WHERE trigger_group <> 'RECOVERING_JOBS' GROUP BY trigger_name) t")"
echo "chaos: kind=$kind kills=$kills postgres_restarts=$pg_restarts secs=$secs stopped_cleanly=$stopped/3 abandoned=$abandoned failovers=$failovers false_failovers=$false_failovers" >&2
echo "chaos: runs=$runs applications=$applications doubled=$doubled orphaned=$orphaned lost=$lost"
