#!/usr/bin/env bash
# run-notebooks.sh executes the project's notebooks headless with the GoNB kernel (papermill),
# failing (exit 1) if any cell of any notebook errors.
#
# Usage: scripts/run-notebooks.sh [--fast] [-p NAME VALUE]... [notebook.ipynb...]
#   (no notebooks named: every notebooks/*.ipynb, in name order)
#
#   full mode (default): refused unless the tree is committed (only notebooks/*.ipynb may differ
#       from HEAD, so that the provenance cells name the exact commit of the outputs); each
#       notebook is executed with fast=false and, only if every cell
#       succeeded, written back in place with its outputs (so committed notebooks hold real
#       outputs). A failed run leaves the committed file untouched and keeps the partly
#       executed copy in out/notebooks/ for inspection.
#   --fast: fast=true (the notebooks shrink their training steps and data); executed copies go
#       to a temporary directory ($NOTEBOOK_OUT if set) and the committed notebooks stay untouched.
#       This is the CI mode.
#   -p NAME VALUE: extra papermill parameters (Go literals are generated: true/false, numbers,
#       quoted strings).
#
# Parameters: each notebook has a cell tagged "parameters" with Go declarations such as
# `var fast = false`. Papermill has no translator for Go, so we register one (below): it injects
# a cell of `var fast = true` declarations after the parameters cell, and GoNB's later
# declaration of the same name replaces the earlier one. The same flag is also exported as
# REALM_FAST=1 for code that reads the environment.
#
# GoNB's own log goes to gonb.log in the output directory. Needs scripts/setup-notebooks.sh first. Env: CELL_TIMEOUT (seconds per cell, default 900;
# 300 in fast mode), REALM_MINILM_DIR (else notebooks run scripts/fetch-minilm.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

venv="$root/.venv"
[[ -x "$venv/bin/papermill" ]] || { echo "run-notebooks: run scripts/setup-notebooks.sh first" >&2; exit 1; }
export PATH="$venv/bin:$PATH"

fast=false
params=()
notebooks=()
while (($#)); do
  case "$1" in
    --fast) fast=true; shift ;;
    -p) [[ $# -ge 3 ]] || { echo "run-notebooks: -p needs NAME VALUE" >&2; exit 2; }
        params+=("$2" "$3"); shift 3 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-notebooks: unknown flag $1" >&2; exit 2 ;;
    *) notebooks+=("$1"); shift ;;
  esac
done
if ((${#notebooks[@]} == 0)); then
  mapfile -t notebooks < <(find notebooks -maxdepth 1 -name '*.ipynb' | sort)
fi
((${#notebooks[@]})) || { echo "run-notebooks: no notebooks" >&2; exit 1; }

# A full run writes outputs that the notebooks' provenance cells attribute to HEAD: refuse it when
# anything but the notebooks themselves differs from HEAD, so that the commit named is exact.
if [[ "$fast" != true ]]; then
  dirty="$(git status --porcelain --untracked-files=no | grep -v '^.. notebooks/[^/]*\.ipynb$' || true)"
  if [[ -n "$dirty" ]]; then
    echo "run-notebooks: a full run needs a committed tree (only notebooks/*.ipynb may differ from HEAD); commit or stash:" >&2
    echo "$dirty" >&2
    exit 1
  fi
fi

if [[ "$fast" == true ]]; then
  export REALM_FAST=1
  out="${NOTEBOOK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/realm-notebooks.XXXXXX")}"
  timeout="${CELL_TIMEOUT:-300}"
else
  export REALM_FAST=0
  out="$root/out/notebooks"
  timeout="${CELL_TIMEOUT:-900}"
fi
mkdir -p "$out"

# A headless copy of the kernel spec, first on JUPYTER_PATH and with the same name: GoNB's own log
# goes to $out/gonb.log instead of the terminal (errors still reach stderr), and cell errors are
# plain text instead of HTML.
spec="$(mktemp -d "${TMPDIR:-/tmp}/realm-kernels.XXXXXX")"
trap 'rm -rf "$spec"' EXIT
mkdir -p "$spec/kernels/gonb"
python - "$venv/share/jupyter/kernels/gonb/kernel.json" "$spec/kernels/gonb/kernel.json" "$out/gonb.log" <<'EOF'
import json, sys
src, dst, log = sys.argv[1:]
spec = json.load(open(src))
drop = ("-logtostderr", "-alsologtostderr", "-log_file", "-raw_error")
spec["argv"] = [a for a in spec["argv"] if not a.startswith(drop)]
spec["argv"] += ["-logtostderr=false", "-alsologtostderr=false", f"-log_file={log}", "-raw_error=true"]
json.dump(spec, open(dst, "w"), indent=1)
EOF
export JUPYTER_PATH="$spec${JUPYTER_PATH:+:$JUPYTER_PATH}"

status=0
for nb in "${notebooks[@]}"; do
  [[ -f "$nb" ]] || { echo "run-notebooks: no such notebook: $nb" >&2; status=1; continue; }
  nb="$(cd "$(dirname "$nb")" && pwd)/$(basename "$nb")"
  dest="$out/$(basename "$nb")"
  echo "=== $(basename "$nb") (fast=$fast) -> $dest" >&2
  start=$SECONDS
  if python - "$nb" "$dest" "$fast" "$timeout" "${params[@]}" <<'EOF'; then
import json, os, sys

import logging
import re

import nbformat
import papermill as pm
from nbclient.exceptions import CellExecutionError
from papermill.translators import Translator, papermill_translators


class GoTranslator(Translator):
    """Papermill parameters as Go package-level declarations for the GoNB kernel."""

    @classmethod
    def translate_escaped_str(cls, str_val):
        return json.dumps(str_val)  # a valid Go interpreted string literal for printable text

    @classmethod
    def translate_none(cls, val):
        return "any(nil)"

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_float(cls, val):
        return repr(float(val))

    @classmethod
    def translate_dict(cls, val):
        items = ", ".join(f"{cls.translate_str(str(k))}: {cls.translate(v)}" for k, v in val.items())
        return f"map[string]any{{{items}}}"

    @classmethod
    def translate_list(cls, val):
        return "[]any{" + ", ".join(cls.translate(v) for v in val) + "}"

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"var {name} = {str_val}"


papermill_translators.register("go", GoTranslator)
papermill_translators.register("gonb", GoTranslator)

# GoNB v0.11.3 reports a cell whose program exits non-zero (a panic, os.Exit(1), a signal) as a
# success: it only writes "exit status 2" to stderr (internal/jpyexec). Turn that into a cell error
# so the run stops and fails. (Compile errors are reported as errors by GoNB itself.)
EXIT_RE = re.compile(r"^(?:\^C\n)?(exit status \d+|signal: [^\n]+)$", re.M)


def check_exit_status(cell, cell_index, execute_reply, **_):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            m = EXIT_RE.search(out.get("text", ""))
            if m:
                evalue = f"cell program failed: {m.group(1)}"
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="GoNBCellFailed", evalue=evalue, traceback=[evalue]))
                raise CellExecutionError(evalue, "GoNBCellFailed", evalue)


logging.basicConfig(level=logging.INFO, format="%(message)s")
src, dest, fast, timeout, *rest = sys.argv[1:]
params = {"fast": fast == "true"}
for name, value in zip(rest[::2], rest[1::2]):
    try:
        params[name] = json.loads(value)  # numbers, true/false, quoted strings
    except ValueError:
        params[name] = value
try:
    pm.execute_notebook(
        src, dest, parameters=params, kernel_name="gonb", language="go",
        cwd=os.path.dirname(src),  # GoNB's GONB_DIR: the notebook's directory
        log_output=True, progress_bar=False, execution_timeout=int(timeout),
        on_cell_executed=check_exit_status,
    )
except pm.PapermillExecutionError as e:
    print(f"run-notebooks: {os.path.basename(src)}: cell {e.exec_count} failed: {e.ename}: {e.evalue}", file=sys.stderr)
    sys.exit(1)
# Committed notebooks should not name this machine's directories: paths relative to the checkout.
nb = nbformat.read(dest, as_version=4)
meta = nb.metadata.get("papermill", {})
for key in ("input_path", "output_path"):
    if meta.get(key):
        meta[key] = os.path.relpath(meta[key])
nbformat.write(nb, dest)
EOF
    echo "=== $(basename "$nb") ok in $((SECONDS - start)) s" >&2
    if [[ "$fast" != true ]]; then
      cp "$dest" "$nb"
      echo "=== wrote outputs back to ${nb#"$root"/}" >&2
    fi
  else
    echo "=== $(basename "$nb") FAILED after $((SECONDS - start)) s; executed copy: $dest" >&2
    status=1
  fi
done
exit $status
