#!/usr/bin/env bash
# Installs the real upstream composition functions that the resolver examples
# run before ours (test/e2e-resolver.test.ts, examples/resolver-*) and that the
# benchmark runs side by side with ours (bench/bench.ts), built from source
# through the Go module proxy, into the same cache as the Crossplane CLIs:
#
#   ${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}/<name>-<version>/<name>
#   ${FLC_TOOLS_DIR:-...}/<name>-<version>/meta/crossplane.yaml   its package metadata
#   ${FLC_TOOLS_DIR:-...}/<name>-<version>/input/   the function's Input CRD(s), copied
#                                                  from the module source, so that
#                                                  `crossplane beta validate` can check
#                                                  a Composition's step inputs offline.
#
# A function whose binary already exists and runs, and whose Input CRDs were
# copied, is skipped. Prints one line
# per function: "<name> <version> <path>".
#
# Run one by hand (it is a plain gRPC server; Crossplane's render CLI talks to
# it through the Development runtime):
#
#   function-patch-and-transform --insecure --address=127.0.0.1:9444
#   function-go-templating --insecure --address=127.0.0.1:9445
set -euo pipefail

TOOLS_DIR="${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}"

# function-patch-and-transform v0.5.0: the newest release the module proxy
# reachable from CI serves in full (later tags answer 403). It speaks the
# v1beta1 RunFunction protocol; crossplane v1.16 calls that one, and v2.2.1
# falls back to it when v1 is unimplemented.
PT_MODULE=github.com/crossplane-contrib/function-patch-and-transform
PT_VERSION=v0.5.0

# function-go-templating v0.4.1: the only release the module proxy here serves
# (later versions answer 403 on .mod and .zip). Built on function-sdk-go v0.1.0,
# it serves only the v1beta1 RunFunction service (wire-identical to v1) and
# takes --insecure --address like ours. The checksum database reachable here
# does not know this module, so its two go.sum lines are pinned below (as the
# proxy served them); its dependencies are still checked against the database.
GT_MODULE=github.com/crossplane-contrib/function-go-templating
GT_VERSION=v0.4.1
GT_SUMS="$GT_MODULE $GT_VERSION h1:MR0iZDOlcxXHdAcTmY+WmdtBAjlwNh8C+BHLwx9MdQ8=
$GT_MODULE $GT_VERSION/go.mod h1:Z4xn7/TtTDIyUgnwSkO48mLHyDdwH+GLQBax8GtR44g="

die() {
  echo "install-functions.sh: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 ||
  die "'go' was not found on PATH. The upstream functions are built from source: install Go (>= 1.21) and run this script again."

mkdir -p "$TOOLS_DIR"

# True when $1 is an executable function binary that answers --help.
fn_ok() {
  [[ -x "$1" ]] && "$1" --help >/dev/null 2>&1
}

# Builds package $2 of module $1 at version $3 into $4, and copies the
# module's package/input/*.yaml (its Input CRDs) into the directory $5.
# $6, if given, are go.sum lines to start from (pinned checksums).
#
# `go install $1@$3` cannot be used: it asks the proxy for the module's version
# list (deprecation check), which the proxy here refuses. A throw-away module
# that requires the release builds the same main package, with the release's
# own dependency versions (minimal version selection over its go.mod alone).
build_main() {
  local module=$1 pkg=$2 version=$3 out=$4 input=$5 sums=${6:-} work moddir
  work=$(mktemp -d "${TMPDIR:-/tmp}/flc-fn-build.XXXXXX")
  mkdir -p "$work/mod"
  cat >"$work/mod/go.mod" <<EOF
module flc/upstream-function-build

go 1.21

require $module $version
EOF
  [[ -z "$sums" ]] || printf '%s\n' "$sums" >"$work/mod/go.sum"
  if ! (cd "$work/mod" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$work/bin" "$pkg" &&
    go list -mod=mod -m -f '{{.Dir}}' "$module" >"$work/moddir"); then
    rm -rf "$work"
    return 1
  fi
  moddir=$(cat "$work/moddir")
  if [[ -z "$moddir" ]] || ! compgen -G "$moddir/package/input/*.yaml" >/dev/null; then
    rm -rf "$work"
    echo "install-functions.sh: no package/input/*.yaml in the module source of $module@$version" >&2
    return 1
  fi
  # Go's module cache is read-only; the copy is not.
  rm -rf "$input"
  mkdir -p "$input"
  cp "$moddir"/package/input/*.yaml "$input/"
  chmod -R u+w,go+rX "$input"
  # The package metadata too, so the cluster suite can build and install the
  # function as a real Function package.
  rm -rf "$input/../meta"
  mkdir -p "$input/../meta"
  cp "$moddir"/package/crossplane.yaml "$input/../meta/crossplane.yaml"
  chmod -R u+w,go+rX "$input/../meta"
  mv -f "$work/bin" "$out"
  rm -rf "$work"
}

install_fn() {
  local name=$1 module=$2 pkg=$3 version=$4 sums=${5:-} dir bin start
  dir="$TOOLS_DIR/$name-$version"
  bin="$dir/$name"
  if fn_ok "$bin" && compgen -G "$dir/input/*.yaml" >/dev/null && [[ -f "$dir/meta/crossplane.yaml" ]]; then
    echo "$name $version $bin"
    return
  fi
  mkdir -p "$dir"
  echo "install-functions.sh: building $name $version from source (takes minutes on a cold Go cache)..." >&2
  start=$SECONDS
  # Built next to its final place and moved in last, so an interrupted build
  # never leaves a binary that a later run would take for a finished one.
  build_main "$module" "$pkg" "$version" "$bin.tmp" "$dir/input" "$sums" || die "could not build $module@$version"
  fn_ok "$bin.tmp" || die "the $name binary that was just built does not run"
  mv -f "$bin.tmp" "$bin"
  echo "install-functions.sh: built $name $version in $((SECONDS - start))s" >&2
  echo "$name $version $bin"
}

install_fn function-patch-and-transform "$PT_MODULE" "$PT_MODULE" "$PT_VERSION"
install_fn function-go-templating "$GT_MODULE" "$GT_MODULE" "$GT_VERSION" "$GT_SUMS"
