#!/usr/bin/env bash
# The dashboard's browser test (crates/consort/tests/dashboard.rs): Debian's chromium and
# playwright-core (driver only; it never downloads a browser here), installed with `npm ci`
# from the committed tests/browser/package-lock.json into $CONSORT_CACHE/node/browser.
# The marker names the lock file's hash, so changing the pin reinstalls.
source "$(dirname "$0")/../lib.sh"
apt_install chromium
# playwright-core must not fetch browsers, even by a postinstall step.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
src="$CONSORT_ROOT/tests/browser"
dest="$CONSORT_CACHE/node/browser"
lock_hash="$(sha256sum "$src/package-lock.json" | cut -c1-16)"
marker="$dest/.installed-$lock_hash"
if [ ! -f "$marker" ]; then
  log "installing playwright-core (tests/browser/package-lock.json) into $dest"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  (cd "$dest" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  touch "$marker"
fi
command -v chromium >&2
