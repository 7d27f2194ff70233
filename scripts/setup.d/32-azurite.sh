#!/usr/bin/env bash
# Azurite (npm, pinned; 3.35.0 is the last release that runs on Node 20), the
# Azure Blob emulator for consort-storage's tests:
# $CONSORT_CACHE/azurite/node_modules/.bin/azurite-blob.
source "$(dirname "$0")/../lib.sh"
version="3.35.0"
dir="$CONSORT_CACHE/azurite"
stamp="$dir/.installed-$version"
if [ ! -f "$stamp" ] || [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
  log "installing azurite@$version into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-audit --no-fund --prefix "$dir" "azurite@$version" >/dev/null)
  touch "$stamp"
fi
