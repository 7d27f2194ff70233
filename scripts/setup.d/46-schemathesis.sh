#!/usr/bin/env bash
# schemathesis, the property-based tester of the HTTP API against its own OpenAPI
# document (crates/consort/tests/schemathesis.rs), in a venv under
# $CONSORT_CACHE/venvs/schemathesis (about 90 MB, once).
source "$(dirname "$0")/../lib.sh"
# Its generator is pinned too: a run is reproducible only with the same hypothesis.
pip_venv schemathesis "schemathesis==4.32.5" "hypothesis==6.170.17"
