#!/usr/bin/env bash
# What a Prometheus scrape costs: p50/p99 of `GET /metrics` through a real
# `consort_server::serve` on one keep-alive connection, with 1,000 cron triggers in the
# store and the scheduler's driver firing them beside it, interleaved with `GET /health` on
# the same connection (the floor: the same socket and layers, nothing to encode). Target:
# scrape p99 < 10 ms. Ends with the summary line
#   metrics: triggers=1000 scrapes=N fired_during=F bytes=B scrape_p50_ms=… scrape_p99_ms=… health_p50_ms=… health_p99_ms=… ratio_p50=…
# CONSORT_BENCH_SCRAPES (1000) sizes it. Method and figures: docs/observability.md.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
cargo bench -q -p consort-server --bench metrics
