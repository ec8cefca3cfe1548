#!/usr/bin/env bash
# fetch-xla-cpu.sh downloads XLA's CPU PJRT plugin for the optional xla:cpu backend (build tag
# xla, see layers/backend/xla.go) and prints the directory that holds pjrt_c_api_cpu_plugin.so,
# the value for $PJRT_PLUGIN_LIBRARY_PATH. The Go module proxy ships no PJRT plugin and go-xla's
# own installer downloads from GitHub, which this project's machines cannot reach; the plugin
# comes from PyPI instead: lammps-jax-pjrt-cpu 0.11.2 (Apache-2.0, licence and third-party
# notices in the wheel), the unmodified //xla/pjrt/c:pjrt_c_api_cpu_plugin.so of jaxlib
# 0.11.2's XLA, PJRT C API 0.115. The wheel (63 MB, 200 MB unpacked) is pinned by version and
# SHA-256, and is unpacked under .cache/xla-cpu/ at the module root. Idempotent: a second run
# only prints the directory.
#
# Usage: export PJRT_PLUGIN_LIBRARY_PATH="$(scripts/fetch-xla-cpu.sh)"   (PYTHON=python3 by default)
#        GOMLX_BACKEND=xla:cpu go test -tags xla ./layers/backend
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/xla-cpu"
python="${PYTHON:-python3}"
pkg="lammps-jax-pjrt-cpu"
version="0.11.2"
wheel_sha256="1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1"
plugin="$cache/plugin/pjrt_c_api_cpu_plugin.so"

if [[ -f "$plugin" ]]; then
  dirname "$plugin"
  exit 0
fi

mkdir -p "$cache/wheels"
wheel="$(ls "$cache"/wheels/lammps_jax_pjrt_cpu-"$version"-*.whl 2>/dev/null | head -n 1 || true)"
if [[ -z "$wheel" ]]; then
  "$python" -m pip download --no-deps --only-binary=:all: --dest "$cache/wheels" "$pkg==$version" >&2
  wheel="$(ls "$cache"/wheels/lammps_jax_pjrt_cpu-"$version"-*.whl | head -n 1)"
fi
if ! echo "$wheel_sha256  $wheel" | sha256sum --check --status; then
  echo "fetch-xla-cpu: $wheel does not have the pinned SHA-256 $wheel_sha256; removed" >&2
  rm -f "$wheel"
  exit 1
fi

tmp="$(mktemp -d "$cache/unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$python" -m zipfile -e "$wheel" "$tmp" >&2
so="$(find "$tmp" -name pjrt_c_api_cpu_plugin.so | head -n 1)"
if [[ -z "$so" ]]; then
  echo "fetch-xla-cpu: $wheel holds no pjrt_c_api_cpu_plugin.so" >&2
  exit 1
fi
chmod 0755 "$so"
rm -rf "$cache/plugin"
mkdir -p "$cache/plugin"
mv "$so" "$cache/plugin/"
# Keep the licence and notices beside the library.
find "$tmp" -path '*dist-info/licenses/*' -type f -exec cp {} "$cache/plugin/" \;
rm -rf "$tmp"
trap - EXIT
dirname "$plugin"
