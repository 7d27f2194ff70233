#!/usr/bin/env bash
# schemathesis, the property-based tester of the HTTP API against its own OpenAPI
# document (crates/consort/tests/schemathesis.rs), in a venv under
# $CONSORT_CACHE/venvs/schemathesis. The marker file names the pinned version, so
# changing the pin reinstalls.
source "$(dirname "$0")/../lib.sh"
SCHEMATHESIS_VERSION=4.32.5
venv="$CONSORT_CACHE/venvs/schemathesis"
if [ ! -f "$venv/.schemathesis-$SCHEMATHESIS_VERSION" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv (about 90 MB, once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  touch "$venv/.schemathesis-$SCHEMATHESIS_VERSION"
fi
