#!/usr/bin/env bash
# moto's S3 server (PyPI, pinned) in a venv under $CONSORT_CACHE, for
# consort-storage's S3 tests and the jarcheck benchmark:
# $CONSORT_CACHE/venvs/moto/bin/moto_server.
source "$(dirname "$0")/../lib.sh"
version="5.2.5"
venv="$CONSORT_CACHE/venvs/moto"
stamp="$venv/.installed-$version"
if [ ! -f "$stamp" ] || [ ! -x "$venv/bin/moto_server" ]; then
  log "installing moto[server]==$version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$version"
  touch "$stamp"
fi
