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
npx vitest run "$@"
