#!/usr/bin/env bash
# npm run demo: the default example end to end, on a fresh clone.
# Installs dependencies if needed, builds, makes sure the pinned Crossplane CLI
# exists (built from source once, then cached), starts the function on a free
# loopback port, renders examples/canary-composed with the real
# `crossplane render`, prints the rendered Alias and the XR status, and stops
# the function.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -d node_modules ]] || npm ci
npm run build --silent
bash scripts/install-crossplane.sh >/dev/null
CROSSPLANE="${FLC_TOOLS_DIR:-$HOME/.cache/function-lambda-canary/tools}/crossplane-v2.2.1/crossplane"
EXAMPLE=examples/canary-composed

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
LOG=$(mktemp)
node dist/function-lambda-canary.mjs --insecure --address "127.0.0.1:${PORT}" >"$LOG" 2>&1 &
FN_PID=$!
trap 'kill -TERM "$FN_PID" 2>/dev/null || true; wait "$FN_PID" 2>/dev/null || true; rm -f "$LOG" "${FUNCTIONS:-}"' EXIT
for _ in $(seq 1 50); do grep -q '"listening"' "$LOG" && break; sleep 0.1; done
grep -q '"listening"' "$LOG" || { cat "$LOG" >&2; echo "demo: the function did not start" >&2; exit 1; }

# The example's functions.yaml points at localhost:9443; point it at our port.
FUNCTIONS=$(mktemp --suffix=.yaml)
sed "s|runtime-development-target: .*|runtime-development-target: 127.0.0.1:${PORT}|" "$EXAMPLE/functions.yaml" >"$FUNCTIONS"

echo "# crossplane render $EXAMPLE (function on 127.0.0.1:${PORT})"
OUT=$("$CROSSPLANE" render "$EXAMPLE/xr.yaml" "$EXAMPLE/composition.yaml" "$FUNCTIONS" \
  --observed-resources="$EXAMPLE/observed.yaml" --include-function-results)
printf '%s\n' "$OUT" | node --input-type=module -e '
import { readFileSync } from "node:fs";
import { parseAllDocuments, stringify } from "yaml";
const docs = parseAllDocuments(readFileSync(0, "utf8")).map((d) => d.toJS()).filter(Boolean);
const show = (title, o) => console.log(`\n## ${title}\n---\n${stringify(o).trimEnd()}`);
const alias = docs.find((d) => d.kind === "Alias");
show("Rendered ACK Alias", { apiVersion: alias.apiVersion, kind: alias.kind, metadata: { name: alias.metadata.name, namespace: alias.metadata.namespace }, spec: alias.spec });
const { conditions, ...status } = docs[0].status;
show("LambdaCanary status", status);
for (const r of docs.filter((d) => d.kind === "Result")) console.log(`\n${r.severity}: ${r.message}`);
'
