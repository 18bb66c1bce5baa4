#!/usr/bin/env bash
# Every test: installs what is missing, checks types and lint, runs the Python trainer's tests, then
# the Jest suites (unit, then integration against real PostgreSQL, Temporal, the engine, the trainer, ORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IE_LOG_LEVEL=${IE_LOG_LEVEL:-warn}
echo "== typecheck and lint"
npx --no-install tsc --noEmit -p .
npx --no-install depcruise --config .dependency-cruiser.cjs activities workflows lib cli workers bench report engine scripts
npx --no-install eslint .
npx --no-install prettier --check . >/dev/null
echo "== trainer: lint, types, tests"
(cd trainer && python3 -m ruff check . ../bench/*.py && python3 -m ruff format --check . ../bench/*.py && python3 -m mypy ietrainer)
/usr/bin/python3 -m pytest trainer/tests -q -p no:cacheprovider
echo "== jest"
npx --no-install jest --ci "$@"
