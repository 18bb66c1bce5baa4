#!/usr/bin/env bash
# Every test: installs what is missing, checks types and lint, runs the Python trainer's tests, then
# the Jest suites (unit and integration against real PostgreSQL, Temporal, the engine, the trainer, ORT; the
# fault tests in a stream of their own beside the rest).
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
if [ $# -gt 0 ]; then
  exec npx --no-install jest --ci "$@"
fi
# Two streams at once: the fault tests (test/integration/resilience) spend most of their time waiting
# (heartbeat timeouts, outages, frozen workers) on a Temporal server of their own; everything else runs
# beside them. What both share is made first and stopped after both end.
npx --no-install tsx scripts/test-services.ts up
trap 'npx --no-install tsx scripts/test-services.ts down' EXIT
faults_port=$((${IE_TEST_TEMPORAL_PORT:-7299} - 1))
(
  set -o pipefail
  IE_TEST_TEMPORAL_PORT=$faults_port npx --no-install jest --ci test/integration/resilience 2>&1 | sed -u 's/^/[faults] /'
) &
faults=$!
status=0
npx --no-install jest --ci --testPathIgnorePatterns '/test/integration/resilience/' || status=$?
wait "$faults" || status=$?
exit "$status"
