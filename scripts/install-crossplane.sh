#!/usr/bin/env bash
# Installs the real Crossplane CLIs the tests drive (xpkg build, beta validate,
# render), built from source through the Go module proxy, into a cache that
# later runs reuse:
#
#   ${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}/crossplane-<version>/crossplane
#   ${FLC_TOOLS_DIR:-...}/crossplane-<version>/crds/   Crossplane's own CRDs, copied
#                                                      from the module source, so that
#                                                      `crossplane beta validate` can
#                                                      check XRDs/Compositions offline.
#
# A version whose binary already exists, runs and reports that version is
# skipped. Prints one line per CLI: "crossplane <version> <path>".
#
# Go's module and build caches live in $HOME (go env GOMODCACHE / GOCACHE), so
# later runs on the same machine recompile nothing (a cold build takes ~4 min
# for v1.16.0 and ~12 min for v2.2.1, mostly module downloads; warm, seconds).
set -euo pipefail

TOOLS_DIR="${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}"
VERSIONS=(v1.16.0 v2.2.1)

die() {
  echo "install-crossplane.sh: $*" >&2
  exit 1
}

need_go() {
  command -v go >/dev/null 2>&1 ||
    die "'go' was not found on PATH, and crossplane $1 is not in $TOOLS_DIR yet. The Crossplane CLIs are built from source: install Go (1.25.9 or newer; it fetches go1.22.12 for the v1.16.0 build through the module proxy) and run this script again."
}

mkdir -p "$TOOLS_DIR"

# True when $1 is an executable crossplane CLI that reports version $2.
cli_ok() {
  local bin=$1 want=$2 out
  [[ -x "$bin" ]] || return 1
  out=$("$bin" version --client 2>/dev/null) || return 1
  [[ "$out" == *"$want"* ]]
}

# Copies <module dir>/cluster/crds into $2 (Crossplane's own CRDs: XRD,
# Composition, Function, ...). Go's module cache is read-only; the copy is not.
copy_crds() {
  local moddir=$1 dest=$2 tmp
  [[ -d "$moddir/cluster/crds" ]] || die "no cluster/crds in $moddir"
  tmp=$(mktemp -d "$dest.tmp.XXXXXX")
  cp "$moddir"/cluster/crds/*.yaml "$tmp/"
  chmod -R u+w,go+rX "$tmp"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

build_v1_16_0() {
  local out=$1 work=$2
  # v1.16 is built with a Go toolchain of its release line (go1.22.x, fetched
  # through the module proxy as golang.org/toolchain), not with the local Go.
  GOTOOLCHAIN=go1.22.12 GOBIN="$work/bin" go install \
    -ldflags "-s -w -X github.com/crossplane/crossplane/internal/version.version=v1.16.0" \
    github.com/crossplane/crossplane/cmd/crank@v1.16.0
  mv "$work/bin/crank" "$out"
  GOTOOLCHAIN=go1.22.12 go mod download -json github.com/crossplane/crossplane@v1.16.0 >"$work/mod.json"
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$work/mod.json" >"$work/moddir"
}

build_v2_2_1() {
  local out=$1 work=$2
  # `go install github.com/crossplane/crossplane/v2/cmd/crank@v2.2.1` cannot be
  # used: it asks the proxy for the /v2 version list (deprecation check), which
  # the proxy here refuses. A throw-away module that requires the release
  # builds the same package without that query.
  mkdir -p "$work/mod"
  cat >"$work/mod/go.mod" <<'EOF'
module flc/crossplane-cli-build

go 1.25.9

require github.com/crossplane/crossplane/v2 v2.2.1
EOF
  (
    cd "$work/mod"
    go build -mod=mod -ldflags "-s -w -X github.com/crossplane/crossplane/v2/internal/version.version=v2.2.1" \
      -o "$out" github.com/crossplane/crossplane/v2/cmd/crank
    go list -mod=mod -m -f '{{.Dir}}' github.com/crossplane/crossplane/v2 >"$work/moddir"
  )
}

main() {
  for version in "${VERSIONS[@]}"; do
    dir="$TOOLS_DIR/crossplane-$version"
    bin="$dir/crossplane"
    if cli_ok "$bin" "$version" && [[ -f "$dir/crds/apiextensions.crossplane.io_compositions.yaml" ]]; then
      echo "crossplane $version $bin"
      continue
    fi
    need_go "$version"
    mkdir -p "$dir"
    work=$(mktemp -d "${TMPDIR:-/tmp}/flc-crossplane-$version.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    echo "install-crossplane.sh: building crossplane $version from source (takes minutes on a cold Go cache)..." >&2
    start=$SECONDS
    case "$version" in
      v1.16.0) build_v1_16_0 "$work/crossplane" "$work" ;;
      v2.2.1) build_v2_2_1 "$work/crossplane" "$work" ;;
      *) die "no recipe for $version" ;;
    esac
    cli_ok "$work/crossplane" "$version" || die "the crossplane $version binary that was just built does not run or report $version"
    moddir=$(cat "$work/moddir")
    [[ -n "$moddir" ]] || die "could not locate the module source of crossplane $version"
    copy_crds "$moddir" "$dir/crds"
    # Move into place last, so an interrupted build never leaves a binary that
    # a later run would take for a finished one.
    mv -f "$work/crossplane" "$bin"
    rm -rf "$work"
    trap - EXIT
    echo "install-crossplane.sh: built crossplane $version in $((SECONDS - start))s" >&2
    echo "crossplane $version $bin"
  done
}

# Everything above is only definitions: bash has parsed the whole file before
# anything runs, so editing it mid-run cannot derail a build.
main "$@"
