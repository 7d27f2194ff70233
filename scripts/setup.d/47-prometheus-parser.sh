#!/usr/bin/env bash
# Prometheus' own Python client, for its OpenMetrics text parser: the metrics test
# (crates/consort/tests/metrics.rs) scrapes /metrics from a real server and parses it with
# it, so the exposition is checked by the format's reference implementation, not by us.
# A venv under $CONSORT_CACHE/venvs/prometheus; the marker names the pinned version, so
# changing the pin reinstalls.
source "$(dirname "$0")/../lib.sh"
PROMETHEUS_CLIENT_VERSION=0.26.0
venv="$CONSORT_CACHE/venvs/prometheus"
marker="$venv/.prometheus-client-$PROMETHEUS_CLIENT_VERSION"
if [ ! -f "$marker" ]; then
  log "installing prometheus_client $PROMETHEUS_CLIENT_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
  touch "$marker"
fi
