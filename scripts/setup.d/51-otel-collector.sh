#!/usr/bin/env bash
# The OpenTelemetry Collector the observability test exports traces to
# (crates/consort/tests/observability.rs): rigs/otel-collector, the collector's OTLP receiver and
# the contrib file exporter at release v0.161.0 (core v1.67.0), pinned in its go.mod/go.sum and
# built with Go 1.26 into $CONSORT_CACHE/otel-collector/otelcol. Rebuilt only when the rig's
# sources change; it shares the Go module and build caches with the other Go rigs. From an empty
# cache a few minutes, with a warm one nothing.
source "$(dirname "$0")/../lib.sh"
if ! command -v go >/dev/null; then
  log "Go is missing: the OpenTelemetry Collector rig is built with Go 1.26; install Go 1.26+"
  exit 1
fi
rig="$CONSORT_ROOT/rigs/otel-collector"
out="$CONSORT_CACHE/otel-collector"
mkdir -p "$out"
stamp="$out/.otelcol-$(cat "$rig/go.mod" "$rig/go.sum" "$rig/main.go" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -x "$out/otelcol" ]; then
  log "building the OpenTelemetry Collector rig into $out (a few minutes from an empty Go cache)"
  started=$SECONDS
  (cd "$rig" && env GOFLAGS=-mod=mod GOTOOLCHAIN=local GOMODCACHE="$CONSORT_CACHE/go/mod" \
    GOCACHE="$CONSORT_CACHE/go/build" go build -trimpath -ldflags="-s -w" -o "$out/otelcol.tmp" .)
  mv "$out/otelcol.tmp" "$out/otelcol"
  rm -f "$out"/.otelcol-*
  touch "$stamp"
  log "built the OpenTelemetry Collector rig in $((SECONDS - started))s"
fi
