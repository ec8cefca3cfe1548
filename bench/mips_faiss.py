#!/usr/bin/env python3
"""FAISS peer numbers for the Go mips package (realm-go issue #4).

Reads the data sets that `go run ./mips/cmd/mipsbench -dump DIR` writes
(DIR/<name>-<N>-base.fvecs and -query.fvecs, the exact vectors RunBenchmark uses) and
prints the same table for FAISS: IndexFlatIP single-query and batch-256 QPS, and
IndexHNSWFlat on the same MIPS->L2 reduction as the Go HNSW (documents get
sqrt(M^2 - |x|^2) appended, queries 0) with recall@k / QPS over efSearch.

Tooling only: never imported by Go code. Needs numpy and faiss (PyPI faiss-cpu or Debian
python3-faiss); exits 0 with a message when either is missing.

    python3 bench/mips_faiss.py --dir /tmp/mipsdata [--threads 2] [--k 10] [--json]

With --json it prints, instead of the tables, one JSON object per data set (the form
`realm bench -peer` reads):
  {"dataset": "clustered", "n": 100000, "dim": 128, "k": 10, "queries": 1000, "impl": "faiss-1.7.3",
   "threads": 2, "flat_single_qps": ..., "flat_batch": 256, "flat_batch_qps": ...,
   "hnsw_label": "faiss HNSWFlat M=16 efC=200", "hnsw_build_sec": ...,
   "hnsw": [{"ef": 16, "recall": ..., "qps_single": ..., "qps_batch": ...}, ...]}
and, when numpy or faiss is missing, {"skipped": "..."}.
"""
import argparse
import glob
import json
import os
import sys
import time

try:
    import numpy as np
    import faiss
except ImportError as e:  # pragma: no cover - environment dependent
    if "--json" in sys.argv:
        print(json.dumps({"skipped": f"{e.name} is not installed"}))
    print(f"mips_faiss: skipped, {e.name} is not installed (pip install faiss-cpu numpy)",
          file=sys.stderr if "--json" in sys.argv else sys.stdout)
    sys.exit(0)


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise SystemExit(f"mips_faiss: {path} is empty")
    d = int(raw[0])
    if raw.size % (d + 1):
        raise SystemExit(f"mips_faiss: {path}: size {raw.size * 4} bytes is not a whole number of {d}-d vectors")
    rows = raw.reshape(-1, d + 1)
    if not (rows[:, 0] == d).all():
        raise SystemExit(f"mips_faiss: {path}: inconsistent dimension headers")
    return np.ascontiguousarray(rows[:, 1:].view(np.float32))


def qps(fn, per_call, min_time):
    fn()
    t0, calls = time.perf_counter(), 0
    while time.perf_counter() - t0 < min_time:
        fn()
        calls += 1
    return calls * per_call / (time.perf_counter() - t0)


def qps_single(search, queries, min_time):
    state = {"i": 0}

    def one():
        i = state["i"] % len(queries)
        search(queries[i : i + 1])
        state["i"] += 1

    return qps(one, 1, min_time)


def recall(got, truth):
    k = truth.shape[1]
    return float(np.mean([len(set(g) & set(t)) / k for g, t in zip(got, truth)]))


def bench(base_path, query_path, args):
    xb, xq = read_fvecs(base_path), read_fvecs(query_path)
    n, d = xb.shape
    k = args.k
    name = os.path.basename(base_path)[: -len("-base.fvecs")]
    out = print if not args.json else (lambda *a, **kw: None)
    out(f"\n== faiss {faiss.__version__} {name} N={n} d={d} k={k} queries={len(xq)} threads={faiss.omp_get_max_threads()} ==")
    flat = faiss.IndexFlatIP(d)
    flat.add(xb)
    _, truth = flat.search(xq, k)
    single = qps_single(lambda q: flat.search(q, k), xq, args.min_time)
    nb = min(256, len(xq))
    batch = qps(lambda: flat.search(xq[:nb], k), nb, args.min_time)
    out(f"IndexFlatIP: single-query {single:.0f} QPS, batch-{nb} {batch:.0f} QPS")

    norms = np.linalg.norm(xb, axis=1)
    m2 = float(norms.max()) ** 2
    xb_aug = np.hstack([xb, np.sqrt(np.maximum(m2 - norms**2, 0))[:, None]]).astype(np.float32)
    xq_aug = np.hstack([xq, np.zeros((len(xq), 1), np.float32)]).astype(np.float32)
    hnsw = faiss.IndexHNSWFlat(d + 1, args.m)
    hnsw.hnsw.efConstruction = args.efc
    t0 = time.perf_counter()
    hnsw.add(xb_aug)
    build = time.perf_counter() - t0
    rows = []
    label = f"faiss HNSWFlat M={args.m} efC={args.efc}"
    out(f"{'index':>28} {'build':>7} {'efSearch':>9} {'recall@k':>9} {'QPS single':>11} {'QPS batch':>10}")
    for ef in args.ef:
        hnsw.hnsw.efSearch = ef
        _, got = hnsw.search(xq_aug, k)
        r = recall(got, truth)
        q1 = qps_single(lambda q: hnsw.search(q, k), xq_aug, args.min_time)
        qb = qps(lambda: hnsw.search(xq_aug, k), len(xq_aug), args.min_time)
        out(f"{label:>28} {build:6.1f}s {ef:>9} {r:9.4f} {q1:11.0f} {qb:10.0f}")
        rows.append({"ef": ef, "recall": round(r, 5), "qps_single": round(q1, 1), "qps_batch": round(qb, 1)})
    if args.json:
        dataset = name.rpartition("-")[0] or name
        print(json.dumps({
            "dataset": dataset, "n": n, "dim": d, "k": k, "queries": len(xq),
            "impl": f"faiss-{faiss.__version__}", "threads": faiss.omp_get_max_threads(),
            "flat_single_qps": round(single, 1), "flat_batch": nb, "flat_batch_qps": round(batch, 1),
            "hnsw_label": label, "hnsw_build_sec": round(build, 3), "hnsw": rows,
        }), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True, help="directory written by mipsbench -dump")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--efc", type=int, default=200)
    p.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads (0: FAISS default)")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per QPS figure")
    p.add_argument("--json", action="store_true", help="one JSON object per data set instead of tables")
    args = p.parse_args()
    if args.threads > 0:
        faiss.omp_set_num_threads(args.threads)
    bases = sorted(glob.glob(os.path.join(args.dir, "*-base.fvecs")))
    if not bases:
        raise SystemExit(f"mips_faiss: no *-base.fvecs in {args.dir} (run mipsbench -dump {args.dir})")
    for b in bases:
        q = b[: -len("-base.fvecs")] + "-query.fvecs"
        if not os.path.exists(q):
            raise SystemExit(f"mips_faiss: {q} missing for {b}")
        bench(b, q, args)


if __name__ == "__main__":
    main()
