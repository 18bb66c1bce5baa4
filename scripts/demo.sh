#!/usr/bin/env bash
# The main job: installs what is missing, then runs Internet Explorer on the default target (pets).
# Extra arguments go to `ie demo` (e.g. --iterations 2 --keep-services).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx cli/main.ts demo "$@"
