#!/usr/bin/env bash
# The README's main job: REALM end to end on the embedded Factbook (see `realm demo -h`).
# Extra arguments are passed to `realm demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p bin
go build -o bin/realm ./cmd/realm
exec bin/realm demo "$@"
