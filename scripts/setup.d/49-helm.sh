#!/usr/bin/env bash
# The Helm chart's test tools (crates/consort/tests/helm.rs), both built from the Go module proxy
# with Go 1.26 into $CONSORT_CACHE/helm:
# - helm v3.22.0 itself (`go install helm.sh/helm/v3/cmd/helm@v3.22.0`, pinned by the version:
#   the build uses helm's own go.mod and go.sum);
# - kube-validate (rigs/kube-validate, pinned in its go.mod/go.sum): decodes rendered manifests
#   strictly with client-go's scheme, the Kubernetes API's own Go types.
# Each is rebuilt only when its pin or sources change. They share the Go module and build caches
# with the Kubernetes API server rig (35-kube-apiserver.sh): from an empty cache the two take a
# few minutes, with a warm one nothing.
source "$(dirname "$0")/../lib.sh"
if ! command -v go >/dev/null; then
  log "Go is missing: helm and kube-validate are built with Go 1.26; install Go 1.26+"
  exit 1
fi
HELM_VERSION=v3.22.0
# The Kubernetes version `helm template` and `helm lint` assume without a cluster: helm's Makefile
# derives it from the client-go it builds with (v0.37.0 -> 1.37); `go install` alone would leave
# the source default, 1.20.
HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in pkg/lint/rules pkg/chartutil; do
  HELM_LDFLAGS+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=37"
done
out="$CONSORT_CACHE/helm"
mkdir -p "$out"
go_env=(GOFLAGS=-mod=mod GOTOOLCHAIN=local GOMODCACHE="$CONSORT_CACHE/go/mod" GOCACHE="$CONSORT_CACHE/go/build")

helm_stamp="$out/.helm-$(echo "$HELM_VERSION $HELM_LDFLAGS" | sha256sum | cut -c1-16)"
if [ ! -x "$out/helm" ] || [ ! -f "$helm_stamp" ]; then
  log "building helm $HELM_VERSION into $out (a few minutes from an empty Go cache)"
  started=$SECONDS
  rm -f "$out"/.helm-*
  # `go install module@version` builds with the module's own go.mod: helm's pins, not ours.
  env "${go_env[@]}" GOFLAGS= GOBIN="$out/bin.tmp" \
    go install -trimpath -ldflags="$HELM_LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$out/bin.tmp/helm" "$out/helm"
  rmdir "$out/bin.tmp"
  touch "$helm_stamp"
  log "built helm in $((SECONDS - started))s"
fi

rig="$CONSORT_ROOT/rigs/kube-validate"
stamp="$out/.kube-validate-$(cat "$rig/go.mod" "$rig/go.sum" "$rig/main.go" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -x "$out/kube-validate" ]; then
  log "building kube-validate into $out"
  started=$SECONDS
  (cd "$rig" && env "${go_env[@]}" go build -trimpath -ldflags="-s -w" -o "$out/kube-validate.tmp" .)
  mv "$out/kube-validate.tmp" "$out/kube-validate"
  rm -f "$out"/.kube-validate-*
  touch "$stamp"
  log "built kube-validate in $((SECONDS - started))s"
fi
