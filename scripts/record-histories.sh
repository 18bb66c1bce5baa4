#!/usr/bin/env bash
# Records the replay fixtures (test/fixtures/histories) from finished runs on a Temporal server: for each
# NAME=WORKFLOW_ID, the run's first execution, its last one (after Continue-As-New) and its first
# iteration's execution; index.json maps each file to its workflow id for test/unit/replay.test.ts.
# Usage: scripts/record-histories.sh ADDRESS NAME=WORKFLOW_ID [NAME=WORKFLOW_ID…]
#   e.g. scripts/record-histories.sh 127.0.0.1:7305 controlled=it-control-abc retried=it-retry-def
set -euo pipefail
cd "$(dirname "$0")/.."
address=${1:?usage: record-histories.sh ADDRESS NAME=WORKFLOW_ID [NAME=WORKFLOW_ID…]}
shift
[ $# -gt 0 ] || { echo "name at least one NAME=WORKFLOW_ID to record" >&2; exit 2; }
temporal=${TEMPORAL_CLI:-temporal}
out=test/fixtures/histories
rm -f "$out"/*.json
entries=()
for pair in "$@"; do
  name=${pair%%=*}
  id=${pair#*=}
  [ -n "$name" ] && [ -n "$id" ] && [ "$name" != "$pair" ] || { echo "expected NAME=WORKFLOW_ID, got '$pair'" >&2; exit 2; }
  first=$("$temporal" workflow list --address "$address" -o json \
    --query "WorkflowId='$id' AND ExecutionStatus='ContinuedAsNew'" |
    python3 -c 'import json,sys; runs=json.load(sys.stdin); print(runs[-1]["execution"]["runId"] if runs else "")')
  if [ -n "$first" ]; then
    "$temporal" workflow show --address "$address" -w "$id" -r "$first" -o json >"$out/$name-run-first.json"
    entries+=("\"$name-run-first.json\": \"$id\"")
  fi
  "$temporal" workflow show --address "$address" -w "$id" -o json >"$out/$name-run-last.json"
  "$temporal" workflow show --address "$address" -w "$id-iter-000" -o json >"$out/$name-iteration.json"
  entries+=("\"$name-run-last.json\": \"$id\"" "\"$name-iteration.json\": \"$id-iter-000\"")
done
{
  echo "{"
  for i in "${!entries[@]}"; do
    sep=","
    [ "$i" -eq $((${#entries[@]} - 1)) ] && sep=""
    echo "  ${entries[$i]}$sep"
  done
  echo "}"
} >"$out/index.json"
echo "recorded ${#entries[@]} histories from $address into $out"
