#!/usr/bin/env bash
# A real OpenID provider for consort-auth's JWT tests: the certified `oidc-provider` npm
# package, pinned with its whole tree in rigs/oidc/package-lock.json, installed by `npm ci`
# into $CONSORT_CACHE/rigs/oidc/node_modules once per change of the lockfile. The tests run
# rigs/oidc/server.mjs from the clone with `--node-modules` pointing there.
source "$(dirname "$0")/../lib.sh"
command -v npm >/dev/null || apt_install nodejs npm
rig="$CONSORT_ROOT/rigs/oidc"
out="$CONSORT_CACHE/rigs/oidc"
stamp="$out/.installed-$(cat "$rig/package.json" "$rig/package-lock.json" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -f "$out/node_modules/oidc-provider/package.json" ]; then
  log "installing oidc-provider (rigs/oidc/package-lock.json) into $out"
  rm -rf "$out"
  mkdir -p "$out"
  cp "$rig/package.json" "$rig/package-lock.json" "$rig/.npmrc" "$out/"
  (cd "$out" && npm ci --silent --no-audit --no-fund >/dev/null)
  touch "$stamp"
fi
