#!/usr/bin/env bash
# gpu-check.sh: realm-go's one prepared check for a GPU machine, in three parts, each under its
# own time budget so that a failure or a timeout in one still leaves the others' results:
#   1. parity: the parity tests run on the backend (BERT against the committed PyTorch fixture,
#      the marginal likelihood against its float64 brute force and eq. (3)'s gradient,
#      transformers' REALM fixtures);
#   2. bench: `realm bench -mips=false -peer=false` (REALM step, BERT MLM steps, document
#      embedding: seconds per step and blocks per second);
#   3. evidence: REALM pre-training (ICT warm start first) on the whole Factbook at the paper's
#      batch shape (-batch 128 -k 8 on the GPU), its held-out evaluation (masked-span recall of
#      REALM, ICT-only, BM25 and random with paired standard errors, masked accuracy with and
#      without retrieval, utility), then open-QA fine-tuning and evaluation over BM25, ICT-only
#      and REALM.
# It writes results.json (one entry per part: status, seconds, the files it left) and a log per
# part into the output directory.
#
# The GPU machine has no Go toolchain and downloads nothing: build here first, then carry bin/gpu:
#   scripts/gpu-check.sh --build                  # bin/gpu: realm-xla and the test binaries, stripped
#   scripts/gpu-check.sh --out "$OUT"             # on the GPU machine: xla:cuda (scripts/find-xla-cuda.sh)
#   scripts/gpu-check.sh --cpu --tiny --out DIR   # here, in seconds at toy sizes (the test command runs it)
# Options: --cpu (the pure-Go backend instead of xla:cuda), --tiny (toy sizes and budgets),
# --bert DIR (start the evidence run from a Hugging Face BERT such as all-MiniLM-L6-v2; default:
# from scratch), --budget-scale F (multiplies every part's time budget).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cpu=false tiny=false build=false out="" bert="" scale=1
while (($#)); do
  case "$1" in
    --cpu) cpu=true; shift ;;
    --tiny) tiny=true; shift ;;
    --build) build=true; shift ;;
    --out) out="$2"; shift 2 ;;
    --bert) bert="$2"; shift 2 ;;
    --budget-scale) scale="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The binaries travel gzipped (about 33 MB for the four, under the GPU machine's 64 MiB carry)
# and are unpacked into a temporary directory for the run.
pack="$root/bin/gpu"
if [[ "$build" == true || ! -f "$pack/realm-xla.gz" ]]; then
  command -v go >/dev/null || { echo "gpu-check: no Go toolchain here and no $pack: run scripts/gpu-check.sh --build where Go is" >&2; exit 1; }
  # shellcheck source=scripts/env.sh
  source scripts/env.sh
  mkdir -p "$pack"
  flags=(-tags xla -trimpath -ldflags "-s -w")
  go build "${flags[@]}" -o "$pack/realm-xla" ./cmd/realm
  go test -c "${flags[@]}" -o "$pack/bert.test" ./layers/bert
  go test -c "${flags[@]}" -o "$pack/realm.test" ./realm
  go test -c "${flags[@]}" -o "$pack/hfrealm.test" ./realm/hfrealm
  gzip -f -9 "$pack"/realm-xla "$pack"/*.test
  echo "gpu-check: built $(du -ch "$pack"/*.gz | tail -1 | cut -f1) (gzipped) in $pack" >&2
  [[ "$build" == true && -z "$out" ]] && exit 0
fi
bin="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-bin.XXXXXX")"
trap 'rm -rf "$bin"' EXIT
for f in "$pack"/*.gz; do
  gunzip -c "$f" > "$bin/$(basename "$f" .gz)"
  chmod +x "$bin/$(basename "$f" .gz)"
done
[[ -n "$out" ]] || { echo "gpu-check: --out DIR is required" >&2; exit 2; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [[ "$cpu" == true ]]; then
  export GOMLX_BACKEND="${GOMLX_BACKEND:-go:parallelism=32}"
else
  export PJRT_PLUGIN_LIBRARY_PATH
  PJRT_PLUGIN_LIBRARY_PATH="$(scripts/find-xla-cuda.sh)"
  export GOMLX_BACKEND="${GOMLX_BACKEND:-xla:cuda}"
fi

# budget NAME SECONDS: the part's time budget (tiny: a tenth), scaled by --budget-scale.
budget() {
  local s=$2
  [[ "$tiny" == true ]] && s=$((s / 10 + 240))
  awk -v s="$s" -v f="$scale" 'BEGIN { printf "%d", s * f }'
}

entries=()
# part NAME BUDGET FUNCTION: runs the function (in a child bash, so that timeout can stop it)
# under the budget, logging to $out/NAME.log.
export bin out tiny bert
part() {
  local name=$1 secs=$2 fn=$3
  local start=$SECONDS status
  echo "gpu-check: $name (budget ${secs}s, $GOMLX_BACKEND)" >&2
  if timeout --kill-after=10 "$secs" bash -c "cd '$root' && $fn" > "$out/$name.log" 2>&1; then
    status=ok
  else
    local rc=$?
    status="failed (exit $rc)"
    ((rc == 124 || rc == 137)) && status="timed out after ${secs}s"
  fi
  echo "gpu-check: $name: $status in $((SECONDS - start)) s" >&2
  entries+=("$(printf '{"part": "%s", "status": "%s", "seconds": %d, "log": "%s.log"}' "$name" "$status" $((SECONDS - start)) "$name")")
}

# 1. Parity, each test binary in its package directory (the fixtures are under testdata/).
parity() {
  local rc=0
  (cd layers/bert && "$bin/bert.test" -test.run 'TestParityWithPyTorch|TestPerformancePathsParity|TestHiddenAct' -test.v) || rc=1
  (cd realm && "$bin/realm.test" -test.run 'TestMarginalMatchesBruteForce|TestRetrieverGradientSign|TestLabelLogProbs' -test.v) || rc=1
  (cd realm/hfrealm && "$bin/hfrealm.test" -test.run 'TestParity' -test.v) || rc=1
  return $rc
}
export -f parity
part parity "$(budget parity 120)" parity

# 2. The step benchmarks.
bench() {
  local flags=(-mips=false -peer=false -steps 3)
  [[ "$tiny" == true ]] && flags+=(-tiny)
  "$bin/realm-xla" bench "${flags[@]}"
}
export -f bench
part bench "$(budget bench 150)" bench

# 3. The evidence run (`realm demo`: pre-training, held-out evaluation, open-QA fine-tuning and
# evaluation over BM25, ICT-only and REALM on the test countries' questions): on the GPU, the
# whole Factbook.
evidence() {
  local start=(-from-scratch)
  [[ -n "$bert" ]] && start=(-bert "$bert")
  local sizes=(-test-countries 0 -train-countries 0 -docs 0 -batch 128 -k 8 -ict-batch 128 -ict-steps 300
    -steps 300 -refresh-every 50 -eval-sentences 1000 -qa-steps 300)
  [[ -z "$bert" ]] && sizes+=(-mlm-steps 1000 -mlm-batch 128)
  if [[ "$tiny" == true ]]; then
    sizes=(-test-countries 1 -train-countries 3 -mlm-steps 2 -ict-steps 2 -steps 2 -refresh-every 1 -qa-steps 1
      -qa-warmup 1 -query-len 32 -doc-len 64 -k 3 -eval-sentences 8 -batch 2 -ict-batch 4 -mlm-batch 2 -salient entity)
  fi
  "$bin/realm-xla" demo -dir "$out/evidence" "${start[@]}" "${sizes[@]}" -progress=false
}
export -f evidence
part evidence "$(budget evidence 300)" evidence

{
  printf '{"date": "%s", "backend": "%s", "tiny": %s, "parts": [' "$(date -u +%FT%TZ)" "$GOMLX_BACKEND" "$tiny"
  (IFS=,; printf '%s' "${entries[*]}")
  printf '],\n "files": ['
  (cd "$out" && find . -name '*.json' -path './evidence/*' -not -path '*/step-*' | sort | sed 's/.*/"&"/' | paste -sd, -)
  printf ']}\n'
} > "$out/results.json"
cat "$out/results.json"
grep -q '"status": "ok"' "$out/results.json" && ! grep -q '"status": "\(failed\|timed\)' "$out/results.json"
