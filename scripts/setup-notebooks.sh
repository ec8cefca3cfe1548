#!/usr/bin/env bash
# setup-notebooks.sh installs the notebook tool chain for this checkout; it is idempotent
# (a second run checks versions and changes nothing) and needs only the package registries
# (PyPI and the Go module proxy) besides an installed Go (go.mod's version) and Python 3 with
# the venv module (Debian/Ubuntu: apt-get install python3-venv).
#
# What it installs, all inside the checkout (nothing in $HOME):
#   .venv/                       JupyterLab, nbconvert, papermill, ipykernel
#                                (tools/gonb/requirements.txt, constraints.txt)
#   .venv/bin/gonb, goimports    GoNB v0.11.3 and goimports, built from the tools module
#                                tools/gonb (its go.mod/go.sum pin both; `go install
#                                github.com/janpfeifer/gonb@v0.11.3` fails on the proxy)
#   .venv/bin/gopls              gopls v0.23.0 (later versions need a newer Go)
#   .venv/share/jupyter/kernels/gonb/   the kernel spec (`gonb --install` with
#                                JUPYTER_DATA_DIR), its env puts .venv/bin and Go on PATH
#
# Usage: scripts/setup-notebooks.sh        then: source .venv/bin/activate && jupyter lab notebooks/
# Env:   PYTHON (default python3), SKIP_CONSTRAINTS=1 to resolve the Python pins afresh
#        (for a Python other than 3.11 if a pinned wheel is missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

python="${PYTHON:-python3}"
venv="$root/.venv"
tools="$root/tools/gonb"
gonb_version="v0.11.3"
gopls_version="v0.23.0"

log() { printf '[setup-notebooks] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null || die "go not found on PATH (install Go $(sed -n 's/^go //p' go.mod))"
command -v "$python" >/dev/null || die "$python not found"

# 1. Python virtual environment with the pinned Jupyter tooling.
if [[ ! -x "$venv/bin/python" ]]; then
  log "creating $venv"
  "$python" -m venv "$venv" || die "python venv failed (Debian/Ubuntu: apt-get install -y python3-venv)"
fi
req="$tools/requirements.txt"
cons="$tools/constraints.txt"
stamp="$venv/.realm-requirements.sha256"
want="$(cat "$req" "$([[ -f "$cons" ]] && echo "$cons" || echo /dev/null)" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  log "installing Python packages from $req"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  args=(-r "$req")
  if [[ -f "$cons" && "${SKIP_CONSTRAINTS:-0}" != 1 ]]; then args+=(-c "$cons"); fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
  echo "$want" >"$stamp"
else
  log "Python packages up to date"
fi

# 2. GoNB, goimports (tools module) and gopls, into .venv/bin.
bin="$venv/bin"
# (gonb -V prints v0.11.1 for v0.11.3, a stale version.txt upstream: read the build info instead.)
have="$(go version -m "$bin/gonb" 2>/dev/null | awk '$1 == "mod" {print $3}' || true)"
if [[ "$have" != "$gonb_version" || ! -x "$bin/goimports" ]]; then
  log "building gonb $gonb_version and goimports from $tools"
  (cd "$tools" && GOEXPERIMENT='' go build -o "$bin/" github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports)
else
  log "gonb $gonb_version and goimports present"
fi
if [[ "$("$bin/gopls" version 2>/dev/null || true)" != *"$gopls_version"* ]]; then
  log "installing gopls $gopls_version"
  GOBIN="$bin" GOEXPERIMENT='' go install "golang.org/x/tools/gopls@$gopls_version"
else
  log "gopls $gopls_version present"
fi

# 3. Register the kernel in the venv's Jupyter data dir (rewritten on every run: cheap, and it
#    follows the checkout if it moved). gonb --install checks goimports/gopls on PATH.
export PATH="$bin:$PATH"
kernels="$venv/share/jupyter"
JUPYTER_DATA_DIR="$kernels" "$bin/gonb" --install >/dev/null 2>&1 ||
  JUPYTER_DATA_DIR="$kernels" "$bin/gonb" --install
# The kernel's environment: the venv's tools and this Go first on PATH (jupyter_client
# substitutes ${PATH}), so the kernel works when Jupyter is started without activating the venv.
"$venv/bin/python" - "$kernels/kernels/gonb/kernel.json" "$bin" "$(dirname "$(command -v go)")" <<'EOF'
import json, sys
path, venv_bin, go_bin = sys.argv[1:]
spec = json.load(open(path))
spec.setdefault("env", {})["PATH"] = f"{venv_bin}:{go_bin}:${{PATH}}"
json.dump(spec, open(path, "w"), indent=1)
EOF
"$venv/bin/jupyter" kernelspec list | grep -q '^ *gonb ' || die "gonb kernel not visible to $venv/bin/jupyter"
log "kernel: $("$venv/bin/jupyter" kernelspec list | grep '^ *gonb ')"
log "ready: source .venv/bin/activate && jupyter lab notebooks/   |   scripts/run-notebooks.sh --fast"
