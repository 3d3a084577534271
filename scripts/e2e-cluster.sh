#!/usr/bin/env bash
# npm run e2e:cluster: the real-control-plane suite (test/cluster/).
# Builds (or reuses from cache) the control plane's binaries and the function
# bundle, then runs the suite inside a network namespace of its own that has
# only a loopback interface, so nothing it starts can talk to, or be reached
# from, any other address. Every server is stopped by its PID by the suite;
# whatever PID is still listed when the suite ends is killed here too, and the
# namespace is deleted. Needs root (ip netns). Extra arguments go to vitest.
# Opt-in, session only (never CI): FLC_ACK_CONTROLLER=<a locally built ACK
# lambda-controller> and FLC_ACK_CRDS=<its release's CRD dir> play ACK's part
# with the real controller instead of the stand-in (docs/real-ack-check.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -d node_modules ]] || npm ci
[[ -f dist/function-lambda-canary.mjs && "${FLC_SKIP_BUILD:-}" == 1 ]] || npm run build --silent
bash scripts/install-control-plane.sh
bash scripts/install-crossplane.sh >/dev/null

[[ $(id -u) == 0 ]] || { echo "e2e-cluster.sh: needs root to make a network namespace (ip netns)" >&2; exit 1; }
NS="flc-e2e-$$"
PIDLIST=$(mktemp)
cleanup() {
  local f pid
  while read -r f; do
    [[ -f "$f" ]] || continue
    while read -r pid; do
      [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null && echo "e2e-cluster.sh: killed leftover pid $pid" >&2
    done <"$f"
  done <"$PIDLIST"
  rm -f "$PIDLIST"
  ip netns delete "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
export FLC_E2E_PIDFILE="$PIDLIST"
ip netns exec "$NS" npx vitest run --config vitest.cluster.config.ts "$@"
