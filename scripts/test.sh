#!/usr/bin/env bash
# npm test: compile (the function, then the tests' types), lint, check the formatting, make sure the pinned Crossplane CLIs, upstream functions
# and the real control plane are installed (built from source once, then cached
# under ~/.cache), run every vitest suite, then the real-control-plane suite
# (npm run e2e:cluster) in its own network namespace.
# Extra arguments go to the first vitest run only, and skip the cluster suite
# (e.g. `npm test -- test/package.test.ts`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -d node_modules ]] || npm ci
npm run build
# The tests' types too (vitest only strips them): a type error fails the run.
npx tsc -p tsconfig.test.json
# Type-checked lint rules and the layering of function/ (eslint.config.js).
npm run lint
# Formatting (Prettier, .prettierrc.json): `npm run format` fixes what this reports.
npm run format:check
bash scripts/install-crossplane.sh
bash scripts/install-functions.sh
bash scripts/install-control-plane.sh
# Besides vitest's own reports, print one plain closing line ("N passed, N
# failed, N skipped") that CI systems read, from vitest's JSON reports.
unit_report=$(mktemp --suffix=.json)
cluster_report=$(mktemp --suffix=.json)
trap 'rm -f "$unit_report" "$cluster_report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$unit_report" "$@" || status=$?
if [[ $# -eq 0 ]]; then
  FLC_SKIP_BUILD=1 bash scripts/e2e-cluster.sh --reporter=default --reporter=json --outputFile.json="$cluster_report" || status=$?
fi
node -e '
const fs = require("fs");
let passed = 0, failed = 0, skipped = 0;
for (const f of process.argv.slice(1)) {
  if (!fs.existsSync(f) || fs.statSync(f).size === 0) continue;
  const r = JSON.parse(fs.readFileSync(f, "utf8"));
  passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
}
console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$unit_report" "$cluster_report" || echo "Tests: 0 passed, 1 failed (no test report was written)"
# A suite that ran no test at all, or exited non-zero, fails the run.
exit "$status"
