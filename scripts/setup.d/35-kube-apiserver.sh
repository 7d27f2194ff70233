#!/usr/bin/env bash
# A real Kubernetes API server for the `kubernetes` Spark backend's tests: the standalone CRD API
# server (k8s.io/apiextensions-apiserver, pinned in rigs/kube-apiserver/go.mod, from the Go module
# proxy) and etcd (Debian's etcd-server), plus openssl for the test's certificates. The test starts
# them itself (temp dir, 127.0.0.1, free ports). Built into $CONSORT_CACHE/rigs/kube-apiserver once
# per change of the rig's sources; from an empty Go cache the build takes several minutes.
source "$(dirname "$0")/../lib.sh"
command -v etcd >/dev/null || apt_install etcd-server
command -v openssl >/dev/null || apt_install openssl
if ! command -v go >/dev/null; then
  log "Go is missing: the CRD API server is built with Go 1.26 (rigs/kube-apiserver/go.mod); install Go 1.26+"
  exit 1
fi
rig="$CONSORT_ROOT/rigs/kube-apiserver"
out="$CONSORT_CACHE/rigs/kube-apiserver"
stamp="$out/.built-$(cat "$rig/go.mod" "$rig/go.sum" "$rig/main.go" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -x "$out/apiextensions-apiserver" ]; then
  log "building the Kubernetes CRD API server into $out (several minutes from an empty Go cache)"
  mkdir -p "$out"
  started=$SECONDS
  (cd "$rig" && GOFLAGS=-mod=mod GOTOOLCHAIN=local GOMODCACHE="$CONSORT_CACHE/go/mod" GOCACHE="$CONSORT_CACHE/go/build" \
    go build -trimpath -ldflags="-s -w" -o "$out/apiextensions-apiserver.tmp" .)
  mv "$out/apiextensions-apiserver.tmp" "$out/apiextensions-apiserver"
  rm -f "$out"/.built-*
  touch "$stamp"
  log "built the CRD API server in $((SECONDS - started))s"
fi
