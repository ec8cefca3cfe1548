#!/usr/bin/env bash
# find-xla-cuda.sh finds XLA's CUDA PJRT plugin for the xla:cuda backend (build tag xla, see
# layers/backend/xla.go) and prints a directory for $PJRT_PLUGIN_LIBRARY_PATH that holds it as
# go-xla expects: <dir>/pjrt_c_api_cuda_plugin.so, with the NVIDIA libraries at <dir>/../nvidia
# (go-xla points XLA at them). Nothing is downloaded: the plugin is the one jax installs
# (pip's jax-cuda13-pjrt or jax-cuda12-pjrt: jax_plugins/xla_cuda13/xla_cuda_plugin.so, the
# NVIDIA libraries in site-packages/nvidia), found in
#   1. $XLA_CUDA_PLUGIN, the path of the .so itself;
#   2. the site-packages of $PYTHON (default python3), then of /opt/torch/.venv/bin/python3
#      (the H200 image's) and /usr/bin/python3.
# The links go under .cache/xla-cuda/ at the module root ($XLA_CUDA_CACHE overrides). With no
# plugin it exits 1, naming every place it looked.
#
# Usage: export PJRT_PLUGIN_LIBRARY_PATH="$(scripts/find-xla-cuda.sh)"; GOMLX_BACKEND=xla:cuda bin/realm-xla …
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${XLA_CUDA_CACHE:-$root/.cache/xla-cuda}"
looked=()
plugin=""
if [[ -n "${XLA_CUDA_PLUGIN:-}" ]]; then
  looked+=("\$XLA_CUDA_PLUGIN=$XLA_CUDA_PLUGIN")
  [[ -f "$XLA_CUDA_PLUGIN" ]] && plugin="$XLA_CUDA_PLUGIN"
fi
if [[ -z "$plugin" ]]; then
  for py in "${PYTHON:-python3}" /opt/torch/.venv/bin/python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || { looked+=("$py (not installed)"); continue; }
    sites="$("$py" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("-packages")]))' 2>/dev/null || true)"
    while IFS= read -r site; do
      [[ -n "$site" ]] || continue
      for v in 13 12; do
        looked+=("$site/jax_plugins/xla_cuda$v/xla_cuda_plugin.so")
        if [[ -z "$plugin" && -f "$site/jax_plugins/xla_cuda$v/xla_cuda_plugin.so" ]]; then
          plugin="$site/jax_plugins/xla_cuda$v/xla_cuda_plugin.so"
        fi
      done
    done <<< "$sites"
    [[ -n "$plugin" ]] && break
  done
fi
if [[ -z "$plugin" ]]; then
  {
    echo "find-xla-cuda: no CUDA PJRT plugin found (pip install jax-cuda13-pjrt or jax-cuda12-pjrt, or set XLA_CUDA_PLUGIN); looked at:"
    printf '  %s\n' "${looked[@]}" | awk '!seen[$0]++'
  } >&2
  exit 1
fi
site="$(dirname "$(dirname "$(dirname "$plugin")")")" # …/site-packages
mkdir -p "$cache/lib"
ln -sfn "$plugin" "$cache/lib/pjrt_c_api_cuda_plugin.so"
if [[ -d "$site/nvidia" ]]; then
  ln -sfn "$site/nvidia" "$cache/nvidia"
else
  echo "find-xla-cuda: no NVIDIA libraries at $site/nvidia: XLA will look for CUDA in the system's paths" >&2
fi
echo "$cache/lib"
