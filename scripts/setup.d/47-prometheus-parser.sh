#!/usr/bin/env bash
# Prometheus' own Python client, for its OpenMetrics text parser: the observability test
# (crates/consort/tests/observability.rs) scrapes /metrics from a real server and parses it
# with it, so the exposition is checked by the format's reference implementation, not by us.
# A venv under $CONSORT_CACHE/venvs/prometheus.
source "$(dirname "$0")/../lib.sh"
pip_venv prometheus "prometheus_client==0.26.0"
