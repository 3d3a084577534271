#!/usr/bin/env bash
# Installs the real control plane the cluster suite (test/cluster/) runs:
# etcd, kube-apiserver, kube-controller-manager, kubectl, Crossplane core,
# an in-memory OCI registry, and moto (the AWS API), all from the package
# registries this project may use: Go modules built from source through the
# module proxy, moto from PyPI into a virtualenv. Into a cache later runs reuse:
#
#   ${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}/control-plane/bin/<tool>
#   .../control-plane/crossplane-crds/   Crossplane v2.2.1's own CRDs (core init reads them)
#   .../control-plane/moto/bin/moto_server
#
# A tool whose binary exists and reports the pinned version is skipped. Prints
# one line per tool: "<tool> <version> <path>". Go's caches in $HOME make a
# rebuild take seconds; cold, about 12 minutes on 2 cores.
set -euo pipefail

TOOLS_DIR="${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}"
CP_DIR="$TOOLS_DIR/control-plane"
BIN="$CP_DIR/bin"
K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
CROSSPLANE_VERSION=v2.2.1
REGISTRY_VERSION=v0.20.7
MOTO_VERSION=5.2.5

die() {
  echo "install-control-plane.sh: $*" >&2
  exit 1
}
command -v go >/dev/null 2>&1 || die "'go' was not found on PATH: the control plane is built from source; install Go 1.25+ and run this again."
mkdir -p "$BIN"

# A stamp file next to each binary records the version it was built at, so a
# pin change rebuilds it and an interrupted build (no stamp) is redone.
have() { [[ -x "$BIN/$1" && "$(cat "$BIN/$1.version" 2>/dev/null)" == "$2" ]]; }
done_tool() {
  echo "$2" >"$BIN/$1.version"
  echo "$1 $2 $BIN/$1"
}

# Writes a throw-away module in $1 that requires $2 (module@version lines).
throwaway_module() {
  local dir=$1
  shift
  mkdir -p "$dir"
  {
    echo "module flc/control-plane-build"
    echo
    echo "go 1.25.0"
    echo
    for req in "$@"; do echo "require ${req%@*} ${req#*@}"; done
  } >"$dir/go.mod"
}

build_kubernetes() {
  local work=$1 gomod dir minor
  throwaway_module "$work/k8s" "k8s.io/kubernetes@$K8S_VERSION"
  gomod=$(cd "$work/k8s" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  # k8s.io/kubernetes points its staging modules at ./staging; the same
  # modules are published at v0.<minor>.<patch>.
  local staging="v0.${K8S_VERSION#v1.}"
  {
    grep '^godebug' "$gomod" || true
    sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*$|replace \1 => \1 '"$staging"'|p' "$gomod"
  } >>"$work/k8s/go.mod"
  minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    have "$cmd" "$K8S_VERSION" && { echo "$cmd $K8S_VERSION $BIN/$cmd"; continue; }
    (cd "$work/k8s" && go build -mod=mod -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv -f "$BIN/$cmd.tmp" "$BIN/$cmd"
    done_tool "$cmd" "$K8S_VERSION"
  done
}

build_etcd() {
  local work=$1
  have etcd "$ETCD_VERSION" && { echo "etcd $ETCD_VERSION $BIN/etcd"; return; }
  throwaway_module "$work/etcd" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  (cd "$work/etcd" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv -f "$BIN/etcd.tmp" "$BIN/etcd"
  done_tool etcd "$ETCD_VERSION"
}

build_crossplane() {
  local work=$1 moddir
  if have crossplane "$CROSSPLANE_VERSION" && [[ -f "$CP_DIR/crossplane-crds/apiextensions.crossplane.io_compositions.yaml" ]]; then
    echo "crossplane $CROSSPLANE_VERSION $BIN/crossplane"
    return
  fi
  # Not `go install ...@v2.2.1`: that asks the proxy for the /v2 version list,
  # which the proxy here refuses.
  throwaway_module "$work/xp" "github.com/crossplane/crossplane/v2@$CROSSPLANE_VERSION"
  (cd "$work/xp" && go build -mod=mod -trimpath \
    -ldflags "-s -w -X github.com/crossplane/crossplane/v2/internal/version.version=$CROSSPLANE_VERSION" \
    -o "$BIN/crossplane.tmp" github.com/crossplane/crossplane/v2/cmd/crossplane)
  moddir=$(cd "$work/xp" && go list -mod=mod -m -f '{{.Dir}}' github.com/crossplane/crossplane/v2)
  rm -rf "$CP_DIR/crossplane-crds"
  mkdir -p "$CP_DIR/crossplane-crds"
  cp "$moddir"/cluster/crds/*.yaml "$CP_DIR/crossplane-crds/"
  chmod -R u+w,go+rX "$CP_DIR/crossplane-crds"
  mv -f "$BIN/crossplane.tmp" "$BIN/crossplane"
  done_tool crossplane "$CROSSPLANE_VERSION"
}

# Crossplane v1.16.0 core: the v1 line's oldest release the proxy serves, built
# with a Go toolchain of its release line (go1.22.x, fetched through the module
# proxy as golang.org/toolchain) as scripts/install-crossplane.sh does for its CLI.
build_crossplane_v1_16() {
  local moddir v=v1.16.0
  if have crossplane-$v "$v" && [[ -f "$CP_DIR/crossplane-crds-$v/apiextensions.crossplane.io_compositions.yaml" ]]; then
    echo "crossplane-$v $v $BIN/crossplane-$v"
    return
  fi
  GOTOOLCHAIN=go1.22.12 GOBIN="$BIN/gobin-tmp" go install -trimpath \
    -ldflags "-s -w -X github.com/crossplane/crossplane/internal/version.version=$v" \
    "github.com/crossplane/crossplane/cmd/crossplane@$v"
  moddir=$(GOTOOLCHAIN=go1.22.12 go mod download -json "github.com/crossplane/crossplane@$v" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  rm -rf "$CP_DIR/crossplane-crds-$v"
  mkdir -p "$CP_DIR/crossplane-crds-$v"
  cp "$moddir"/cluster/crds/*.yaml "$CP_DIR/crossplane-crds-$v/"
  chmod -R u+w,go+rX "$CP_DIR/crossplane-crds-$v"
  mv -f "$BIN/gobin-tmp/crossplane" "$BIN/crossplane-$v"
  rm -rf "$BIN/gobin-tmp"
  done_tool "crossplane-$v" "$v"
}

build_registry() {
  local work=$1
  have registry "$REGISTRY_VERSION" && { echo "registry $REGISTRY_VERSION $BIN/registry"; return; }
  throwaway_module "$work/reg" "github.com/google/go-containerregistry@$REGISTRY_VERSION"
  (cd "$work/reg" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$BIN/registry.tmp" github.com/google/go-containerregistry/cmd/registry)
  mv -f "$BIN/registry.tmp" "$BIN/registry"
  done_tool registry "$REGISTRY_VERSION"
}

install_moto() {
  local venv="$CP_DIR/moto"
  if [[ -x "$venv/bin/moto_server" && "$(cat "$venv/.version" 2>/dev/null)" == "$MOTO_VERSION" ]]; then
    echo "moto_server $MOTO_VERSION $venv/bin/moto_server"
    return
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 was not found: moto (the AWS API the cluster suite talks to) is a Python package."
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  echo "$MOTO_VERSION" >"$venv/.version"
  echo "moto_server $MOTO_VERSION $venv/bin/moto_server"
}

WORK=""
main() {
  local start=$SECONDS
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/flc-control-plane.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  local work=$WORK
  install_moto
  build_registry "$work"
  build_etcd "$work"
  build_crossplane "$work"
  build_kubernetes "$work"
  build_crossplane_v1_16
  (( SECONDS - start < 5 )) || echo "install-control-plane.sh: done in $((SECONDS - start))s" >&2
}

main "$@"
