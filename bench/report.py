#!/usr/bin/env python3
"""Builds bench/RESULTS.md from the outputs scripts/bench.sh collects in a directory:

  go_<name>.txt     `go test -bench` output of one benchmark, run under `/usr/bin/time -v`
  torch_t<N>.jsonl  bench/torch_bert.py --threads N output (JSON lines)
  meta.json         machine, date, commit, settings

  python3 bench/report.py OUTDIR > bench/RESULTS.md
"""

import json
import os
import re
import sys

# Go benchmark → (torch bench, torch config, label).
ROWS = [
    ("go_bert_L2.txt", "bert_train_step", "L2_H128_A2",
     "BERT MLM train step L2/H128/A2 (16×128, 20 masked/seq)"),
    ("go_bert_L4.txt", "bert_train_step", "L4_H256_A4",
     "BERT MLM train step L4/H256/A4 (16×128, 20 masked/seq)"),
    ("go_realm.txt", "realm_train_step", "B8_K8_Q64_D128_L2_H128_A2",
     "REALM train step (8 queries×64, k=8 docs×128, joint 192)"),
    ("go_embed.txt", "embed_docs", "L2_H128_A2_S288",
     "Document embedding, 32 blocks × 288 tokens (inference)"),
]


def parse_go(path):
    """Returns sec/op, cpu-s/op, cpu-util, blocks/s (or None) and peak RSS MiB from one file."""
    if not os.path.exists(path):
        return None
    text = open(path).read()
    m = re.search(r"^Benchmark\S+\s+\d+\s+(.*)$", text, re.M)
    if not m:
        return {"error": (text.strip().splitlines() or ["no output"])[-1][:120]}
    vals = dict((u, float(v)) for v, u in re.findall(r"([\d.e+-]+) (\S+)", m.group(1)))
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {
        "sec": vals.get("ns/op", 0) / 1e9,
        "cpu": vals.get("cpu-s/op"),
        "util": vals.get("cpu-util"),
        "blocks": vals.get("blocks/s"),
        "rss": int(rss.group(1)) / 1024 if rss else None,
    }


def parse_torch(path):
    out = {}
    if not os.path.exists(path):
        return out, None
    skipped = None
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if d.get("skipped"):
            skipped = d["skipped"]
            continue
        out[(d["bench"], d["config"])] = d
    return out, skipped


def fmt(x, nd=3):
    if x is None:
        return "–"
    return f"{x:.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def main():
    d = sys.argv[1]
    meta = json.load(open(os.path.join(d, "meta.json")))
    t2, skip2 = parse_torch(os.path.join(d, "torch_t2.jsonl"))
    t1, _ = parse_torch(os.path.join(d, "torch_t1.jsonl"))
    t0, _ = parse_torch(os.path.join(d, "torch_single.jsonl"))
    impl = next((v["impl"] for v in list(t2.values()) + list(t1.values())), "PyTorch (not run)")
    p = print
    p("# Benchmarks: realm-go (GoMLX, pure-Go backend) vs PyTorch on the CPU")
    p()
    p("Regenerate with `scripts/bench.sh` (it runs both sides and rewrites this file; "
      "bench/RESULTS-notes.md is appended as it is).")
    p()
    p(f"- machine: {meta['machine']}")
    p(f"- date: {meta['date']}; commit: `{meta['commit']}`{' (with uncommitted changes)' if meta.get('dirty') else ''}")
    p(f"- Go: {meta['go']}, `GOEXPERIMENT={meta['goexperiment']}`, `GOMLX_BACKEND={meta['backend']}`; "
      f"{meta['steps']} timed steps per benchmark after one untimed call (build, compile, init)")
    p(f"- peer: {impl} (Debian python3-torch, system OpenBLAS with pthreads) on the same shapes, "
      "dropout 0.1, AdamW (bench/torch_bert.py), in three settings: `set_num_threads(2)` as specified; "
      "`set_num_threads(1)` with OpenBLAS on its default 2 threads (faster here: the two thread pools "
      "no longer compete); and single-threaded (`OPENBLAS_NUM_THREADS=1`) for CPU seconds without spinning. "
      "Ratios use the faster of the first two")
    if skip2:
        p(f"- PyTorch side skipped: {skip2}")
    p(f"- load average when the run started: {meta.get('load', '?')} (the machine's {meta.get('cpus', '?')} cores "
      f"are shared with other jobs); benchmark processes ran at priority `{meta.get('priority', 'normal')}`")
    p()
    p("Times are seconds per step (per batch of 32 blocks for the embedding row), median over the timed "
      "steps. *CPU* is user+sys CPU seconds per step of the whole process, *util* = CPU/wall "
      "(2.0 = both cores busy; PyTorch's includes OpenMP/OpenBLAS spin-waiting). Ratios are "
      "ours / PyTorch: below 1 we are faster.")
    p()
    p("| workload | ours wall s | torch wall s, 2 thr / 1 thr | **wall ratio** | ours CPU s | torch CPU s single-thread | "
      "CPU ratio | ours util | ours peak RSS MiB | torch peak RSS MiB |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for fname, bench, cfg, label in ROWS:
        g = parse_go(os.path.join(d, fname)) or {"error": "not run"}
        a, b, c = t2.get((bench, cfg)), t1.get((bench, cfg)), t0.get((bench, cfg))
        walls = [x["sec_per_op"] for x in (a, b) if x]
        best = min(walls) if walls else None
        tw = f"{fmt(a and a['sec_per_op'])} / {fmt(b and b['sec_per_op'])}"
        tc = c and c["cpu_sec_per_op"]
        rss = max([x["peak_rss_mb"] for x in (a, b) if x], default=None)
        if "error" in g:
            p(f"| {label} | {g['error']} | {tw} | – | – | {fmt(tc)} | – | – | – | {fmt(rss, 0)} |")
            continue
        p(f"| {label} | {fmt(g['sec'])} | {tw} | **{ratio(g['sec'], best)}** | {fmt(g['cpu'])} | {fmt(tc)} | "
          f"{ratio(g['cpu'], tc)} | {fmt(g['util'], 2)} | {fmt(g['rss'], 0)} | {fmt(rss, 0)} |")
    ge = parse_go(os.path.join(d, "go_embed.txt"))
    te = [x for x in (t2.get(("embed_docs", "L2_H128_A2_S288")), t1.get(("embed_docs", "L2_H128_A2_S288"))) if x]
    if ge and "error" not in ge and ge.get("blocks") and te:
        tb = max(x["blocks_per_sec"] for x in te)
        p()
        p(f"Document embedding throughput (288-token blocks): ours {ge['blocks']:.1f} blocks/s, "
          f"PyTorch {tb:.1f} blocks/s.")
    p()
    p("Peak RSS is the whole process (`/usr/bin/time -v` for Go: one benchmark per process, "
      "including graph compilation; `ru_maxrss` for PyTorch: the maximum so far in one process "
      "running the workloads in the order of the table).")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS-notes.md")
    if os.path.exists(notes):
        p()
        p(open(notes).read().rstrip())


if __name__ == "__main__":
    main()
