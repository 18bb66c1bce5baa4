#!/usr/bin/env bash
# Records the replay fixtures from a finished run: its first execution, its last (after Continue-As-New)
# and its first iteration. Usage: scripts/record-histories.sh WORKFLOW_ID [TEMPORAL_ADDRESS]
set -euo pipefail
cd "$(dirname "$0")/.."
id=${1:?usage: record-histories.sh WORKFLOW_ID [ADDRESS]}
address=${2:-${TEMPORAL_ADDRESS:-127.0.0.1:7233}}
out=test/fixtures/histories
first=$(temporal workflow list --address "$address" -o json \
  --query "WorkflowId='$id' AND ExecutionStatus='ContinuedAsNew'" | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["execution"]["runId"])')
temporal workflow show --address "$address" -w "$id" -r "$first" -o json >"$out/run-first-iteration.json"
temporal workflow show --address "$address" -w "$id" -o json >"$out/run-last-iteration.json"
temporal workflow show --address "$address" -w "$id-iter-000" -o json >"$out/iteration.json"
cat >"$out/index.json" <<JSON
{
  "run-first-iteration.json": "$id",
  "run-last-iteration.json": "$id",
  "iteration.json": "$id-iter-000"
}
JSON
echo "recorded $id into $out"
