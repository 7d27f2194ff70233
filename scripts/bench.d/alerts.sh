#!/usr/bin/env bash
# How soon an alert leaves after its run ends: a failing run's end (its job kind returning)
# to the alert's arrival at a webhook receiver (axum on 127.0.0.1) and at an SMTP server
# (aiosmtpd, scripts/setup.d/50-smtp.sh), through the scheduler's driver on SQLite and the
# Alerter installed as `consort serve` installs it. Target: within 1 s. Ends with the line
#   alerts: runs=N webhook_p50_ms=… webhook_p99_ms=… webhook_max_ms=… mail_p50_ms=… mail_p99_ms=… mail_max_ms=… elapsed_s=…
# CONSORT_BENCH_ALERTS (200) sets how many runs. Method: docs/alerts.md.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
cargo bench -q -p consort --bench alerts
