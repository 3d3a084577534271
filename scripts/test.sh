#!/usr/bin/env bash
# npm test: compile, make sure the pinned Crossplane CLIs are installed (they
# are cached under ~/.cache after the first run), then run every vitest suite.
# Extra arguments go to vitest (e.g. `npm test -- test/package.test.ts`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -d node_modules ]] || npm ci
npm run build
bash scripts/install-crossplane.sh
bash scripts/install-functions.sh
# Besides vitest's own report, print one plain closing line ("N passed, N
# failed, N skipped") that CI systems read, from vitest's JSON report.
report=$(mktemp --suffix=.json)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`\nTests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || echo "Tests: 0 passed, 1 failed (no test report was written)"
rm -f "$report"
exit "$status"
