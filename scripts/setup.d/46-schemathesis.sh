#!/usr/bin/env bash
# schemathesis, the property-based tester of the HTTP API against its own OpenAPI
# document (crates/consort/tests/schemathesis.rs), in a venv under
# $CONSORT_CACHE/venvs/schemathesis. The marker file names the pinned version, so
# changing the pin reinstalls.
source "$(dirname "$0")/../lib.sh"
SCHEMATHESIS_VERSION=4.32.5
# Its generator too: a run is reproducible only with the same hypothesis.
HYPOTHESIS_VERSION=6.170.17
venv="$CONSORT_CACHE/venvs/schemathesis"
marker="$venv/.schemathesis-$SCHEMATHESIS_VERSION-hypothesis-$HYPOTHESIS_VERSION"
if [ ! -f "$marker" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv (about 90 MB, once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    "hypothesis==$HYPOTHESIS_VERSION"
  touch "$marker"
fi
