#!/usr/bin/env bash
# Adds replay fixtures (test/fixtures/histories) recorded from finished runs on a Temporal server: for each
# NAME=WORKFLOW_ID, the run's first execution (when it continued as new), its last one and its first
# iteration's execution, as NAME-run-first.json, NAME-run-last.json and NAME-iteration.json. index.json maps
# each file to its workflow id for test/unit/replay.test.ts. Fixtures of other names are kept: histories of
# older workflow code must go on replaying (docs/operations.md, "Deploying new workflow code").
# Usage: scripts/record-histories.sh ADDRESS NAME=WORKFLOW_ID [NAME=WORKFLOW_ID…]
#   e.g. scripts/record-histories.sh 127.0.0.1:7233 timedout=it-timedout-abc
set -euo pipefail
cd "$(dirname "$0")/.."
address=${1:?usage: record-histories.sh ADDRESS NAME=WORKFLOW_ID [NAME=WORKFLOW_ID…]}
shift
[ $# -gt 0 ] || { echo "name at least one NAME=WORKFLOW_ID to record" >&2; exit 2; }
temporal=${TEMPORAL_CLI:-temporal}
out=test/fixtures/histories
index=$out/index.json
[ -f "$index" ] || echo '{}' >"$index"
add() { # FILE WORKFLOW_ID
  python3 - "$index" "$1" "$2" <<'PY'
import json, sys
path, file, workflow_id = sys.argv[1:]
with open(path) as f:
    index = json.load(f)
index[file] = workflow_id
with open(path, "w") as f:
    json.dump(index, f, indent=2)
    f.write("\n")
PY
}
for pair in "$@"; do
  name=${pair%%=*}
  id=${pair#*=}
  [ -n "$name" ] && [ -n "$id" ] && [ "$name" != "$pair" ] || { echo "expected NAME=WORKFLOW_ID, got '$pair'" >&2; exit 2; }
  first=$("$temporal" workflow list --address "$address" -o json \
    --query "WorkflowId='$id' AND ExecutionStatus='ContinuedAsNew'" |
    python3 -c 'import json,sys; runs=json.load(sys.stdin); print(runs[-1]["execution"]["runId"] if runs else "")')
  if [ -n "$first" ]; then
    "$temporal" workflow show --address "$address" -w "$id" -r "$first" -o json >"$out/$name-run-first.json"
    add "$name-run-first.json" "$id"
  fi
  "$temporal" workflow show --address "$address" -w "$id" -o json >"$out/$name-run-last.json"
  add "$name-run-last.json" "$id"
  "$temporal" workflow show --address "$address" -w "$id-iter-000" -o json >"$out/$name-iteration.json"
  add "$name-iteration.json" "$id-iter-000"
  echo "recorded $name ($id) from $address into $out"
done
