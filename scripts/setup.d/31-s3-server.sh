#!/usr/bin/env bash
# moto's S3 server (pinned) in a venv under $CONSORT_CACHE, for consort-storage's S3 tests
# and the jarcheck benchmark: $CONSORT_CACHE/venvs/moto/bin/moto_server.
source "$(dirname "$0")/../lib.sh"
pip_venv moto "moto[server]==5.2.5"
