#!/usr/bin/env bash
# Builds the Kubernetes control plane the end-to-end test runs (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) from the Go modules pinned in
# tests/e2e/controlplane/go.mod, into target/e2e-controlplane/<version>-<go.sum hash>/bin.
#
# A finished build is reused (a marker file is written last), so reruns take well under a
# second; Go's own module and build caches make a rebuild after `cargo clean` fast as well.
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/../.." && pwd)"
module_dir="$repo_root/tests/e2e/controlplane"

if ! command -v go >/dev/null; then
  echo "error: the end-to-end test needs Go (>= 1.26) to build the Kubernetes control plane" >&2
  exit 1
fi

k8s_version="$(awk '/^require k8s.io\/kubernetes / {print $3}' "$module_dir/go.mod")"
if [ -z "$k8s_version" ]; then
  k8s_version="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$module_dir/go.mod")"
fi
# The cache key covers the pins and this script (its flags).
pin_hash="$(cat "$module_dir/go.mod" "$module_dir/go.sum" "$0" | sha256sum | cut -c1-12)"
out_dir="$repo_root/target/e2e-controlplane/${k8s_version}-${pin_hash}"
bin_dir="$out_dir/bin"

# complete_build: the marker is there and every binary is non-empty (a copy of target/ made
# while the disk was full once left the marker next to empty binaries, which "run" silently).
complete_build() {
  local binary
  [ -f "$out_dir/complete" ] || return 1
  for binary in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -s "$bin_dir/$binary" ] || return 1
  done
}

if complete_build; then
  echo "$bin_dir"
  exit 0
fi

echo "building Kubernetes ${k8s_version} control plane and etcd into $bin_dir (cold: many minutes on 2 cores)" >&2
# Builds for other pins or flags are stale: drop them (about 500 MB each).
rm -rf "$repo_root/target/e2e-controlplane"
mkdir -p "$bin_dir"
start="$(date +%s)"
# Version stamps a release build gets from hack/lib/version.sh (else the binaries report
# v0.0.0-master and clients see no server version).
minor="${k8s_version#v1.}"
minor="${minor%%.*}"
build_date="$(cd "$module_dir" && GOFLAGS=-mod=readonly go list -m -json k8s.io/kubernetes | jq -r '.Time // "1970-01-01T00:00:00Z"')"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
(
  cd "$module_dir"
  # One `go build` for all five commands so shared packages compile once.
  # -mod=readonly: go.mod and go.sum are pinned; a mismatch is an error, not an update.
  CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags="$ldflags" -o "$bin_dir/" \
    go.etcd.io/etcd/server/v3 \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
)
# The etcd server's main package is named after its module directory.
if [ -f "$bin_dir/v3" ]; then mv "$bin_dir/v3" "$bin_dir/etcd"; fi
if [ -f "$bin_dir/server" ]; then mv "$bin_dir/server" "$bin_dir/etcd"; fi
for binary in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  if [ ! -x "$bin_dir/$binary" ]; then
    echo "error: the control-plane build did not produce $binary" >&2
    exit 1
  fi
done
echo "$k8s_version" >"$out_dir/complete"
echo "built in $(($(date +%s) - start))s" >&2
echo "$bin_dir"
