#!/usr/bin/env bash
# Every test: installs what is missing, checks types and lint beside the Python trainer's tests, then runs
# the Jest suites (unit and integration against real PostgreSQL, Temporal, the engine, the trainer, ORT; the
# fault tests in a stream of their own beside the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IE_LOG_LEVEL=${IE_LOG_LEVEL:-warn}
# The static checks and the trainer's tests each keep one core busy: they run side by side (and, for the
# whole suite, beside starting the services the Jest streams share).
static_checks() {
  set -e
  echo "== typecheck and lint"
  npx --no-install tsc --noEmit -p .
  npx --no-install depcruise --config .dependency-cruiser.cjs activities workflows lib cli workers bench report engine scripts
  npx --no-install eslint .
  npx --no-install prettier --check . >/dev/null
}
trainer_checks() {
  set -e
  echo "== trainer: lint, types, tests"
  (cd trainer && python3 -m ruff check . ../bench/*.py && python3 -m ruff format --check . ../bench/*.py && python3 -m mypy ietrainer)
  /usr/bin/python3 -m pytest trainer/tests -q -p no:cacheprovider
}
services=""
if [ $# -eq 0 ]; then
  trap 'npx --no-install tsx scripts/test-services.ts down' EXIT
  (set -o pipefail; npx --no-install tsx scripts/test-services.ts up 2>&1 | sed -u 's/^/[services] /') &
  services=$!
fi
(set -o pipefail; static_checks 2>&1 | sed -u 's/^/[static] /') &
static=$!
(set -o pipefail; trainer_checks 2>&1 | sed -u 's/^/[trainer] /') &
trainer=$!
checks=0
wait "$static" || checks=$?
wait "$trainer" || checks=$?
if [ -n "$services" ]; then wait "$services" || checks=$?; fi
if [ "$checks" -ne 0 ]; then
  echo "static checks, trainer tests or the test services failed (lines above: [static], [trainer], [services])" >&2
  exit "$checks"
fi
echo "== jest"
if [ $# -gt 0 ]; then
  exec npx --no-install jest --ci "$@"
fi
# Two streams at once: the fault tests (test/integration/resilience) spend most of their time waiting
# (heartbeat timeouts, outages, frozen workers) on a Temporal server of their own, so the multi-host test (CPU
# for the minutes they wait) runs there too; everything else runs beside them. What both share was made above
# and is stopped after both end.
second_stream=(test/integration/resilience/ test/integration/multi-host.test.ts)
faults_port=$((${IE_TEST_TEMPORAL_PORT:-7299} - 1))
(
  set -o pipefail
  IE_TEST_TEMPORAL_PORT=$faults_port npx --no-install jest --ci "${second_stream[@]}" 2>&1 | sed -u 's/^/[faults] /'
) &
faults=$!
status=0
npx --no-install jest --ci --testPathIgnorePatterns "${second_stream[@]}" || status=$?
wait "$faults" || status=$?
exit "$status"
