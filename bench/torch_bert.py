#!/usr/bin/env python3
"""PyTorch peer of realm-go's benchmarks (issue #8).

Times, on the CPU, the same three workloads as the Go benchmarks
(layers/bert BenchmarkTrainStep, realm BenchmarkREALMStep and BenchmarkEmbedDocs):

  bert_train_step   one BERT MLM training step (forward, backward, AdamW), batch 16 x 128
                    tokens, vocabulary 30522, the MLM head evaluated at 20 masked positions
                    per sequence only, dropout on; L2/H128/A2 and L4/H256/A4.
  realm_train_step  one REALM pre-training step: 8 masked sentences of 64 tokens, k = 8
                    candidate documents of 128 tokens each, the retriever (one BERT shared by
                    both towers, L2/H128/A2, CLS -> dense d=128 -> LayerNorm) re-embeds the
                    8 x 8 documents with gradient, the encoder (L2/H128/A2) reads the 64 joint
                    sequences of 192 tokens with its MLM head at 10 masked positions, the loss
                    is REALM's marginal likelihood -mean log sum_z p(z|x) p(y|z,x), AdamW with
                    gradient clipping at global norm 1.
  embed_docs        document-tower inference throughput: blocks of 288 tokens, batch 32.

The BERT here is written out (no transformers dependency) to match layers/bert: post-LN
blocks, exact (erf) GELU, LayerNorm eps 1e-12, learned positions, token types, decoder tied to
the word embeddings, dropout 0.1 on embeddings, attention probabilities and sub-layer outputs.

Prints one JSON object per line on stdout, e.g.
  {"bench": "bert_train_step", "config": "L2_H128_A2", "impl": "torch-1.13.1", ...}
with sec_per_op (median wall seconds), cpu_sec_per_op (user+sys of this process per op),
cpu_util (cpu / wall: 2.0 means both cores busy), peak_rss_mb, and blocks_per_sec for
embed_docs. Exits 0 with a message on stderr (and a JSON "skipped" line) when torch is missing.

  python3 bench/torch_bert.py [--threads 2] [--steps 5] [--only bert|realm|embed]

--threads sets torch.set_num_threads (intra-op OpenMP threads). Debian's torch calls the
system BLAS (OpenBLAS, pthreads), which keeps its own pool of one thread per core unless
OPENBLAS_NUM_THREADS says otherwise: with --threads 2 both pools compete for the 2 cores, and
--threads 1 (BLAS still on 2 threads) is faster. scripts/bench.sh runs both and a strictly
single-threaded run (OPENBLAS_NUM_THREADS=1 --threads 1) for CPU seconds without spinning.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time


def skipped(reason):
    print(json.dumps({"bench": "all", "impl": "torch", "skipped": reason}))
    print(f"torch_bert.py: skipped: {reason}", file=sys.stderr)
    sys.exit(0)


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means "not installed here"
    skipped(f"cannot import torch ({e})")


VOCAB = 30522


class Config:
    def __init__(self, layers, hidden, heads, inter=None, max_pos=512, dropout=0.1):
        self.layers, self.hidden, self.heads = layers, hidden, heads
        self.inter = inter or 4 * hidden
        self.max_pos, self.dropout = max_pos, dropout

    @property
    def name(self):
        return f"L{self.layers}_H{self.hidden}_A{self.heads}"


HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.qkv = nn.Linear(c.hidden, 3 * c.hidden)  # = separate Q, K, V Linear layers, fused.
        self.out = nn.Linear(c.hidden, c.hidden)
        self.ln1 = nn.LayerNorm(c.hidden, eps=1e-12)
        self.fc1 = nn.Linear(c.hidden, c.inter)
        self.fc2 = nn.Linear(c.inter, c.hidden)
        self.ln2 = nn.LayerNorm(c.hidden, eps=1e-12)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, bias):
        B, S, H = x.shape
        A, D = self.c.heads, H // self.c.heads
        q, k, v = self.qkv(x).view(B, S, 3, A, D).permute(2, 0, 3, 1, 4)  # each [B, A, S, D]
        if HAVE_SDPA:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                               dropout_p=self.c.dropout if self.training else 0.0)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D) + bias
            a = torch.matmul(self.drop(torch.softmax(s, -1)), v)
        a = a.transpose(1, 2).reshape(B, S, H)
        x = self.ln1(x + self.drop(self.out(a)))
        h = self.fc2(F.gelu(self.fc1(x)))
        return self.ln2(x + self.drop(h))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.word = nn.Embedding(VOCAB, c.hidden)
        self.pos = nn.Embedding(c.max_pos, c.hidden)
        self.typ = nn.Embedding(2, c.hidden)
        self.ln = nn.LayerNorm(c.hidden, eps=1e-12)
        self.drop = nn.Dropout(c.dropout)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        # MLM head (cls.predictions): transform dense + GELU + LayerNorm, decoder tied to `word`.
        self.t_dense = nn.Linear(c.hidden, c.hidden)
        self.t_ln = nn.LayerNorm(c.hidden, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(VOCAB))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def encode(self, ids, types, mask):
        B, S = ids.shape
        x = self.word(ids) + self.typ(types) + self.pos.weight[:S].unsqueeze(0)
        x = self.drop(self.ln(x))
        bias = torch.zeros(B, 1, 1, S, dtype=x.dtype)
        bias = bias.masked_fill(~mask[:, None, None, :], -1e9)  # key mask
        for layer in self.layers:
            x = layer(x, bias)
        return x

    def mlm_logits(self, hidden, positions):
        """hidden [B, S, H], positions [B, M] -> logits [B, M, V] at the masked positions only."""
        sel = torch.gather(hidden, 1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        h = self.t_ln(F.gelu(self.t_dense(sel)))
        return F.linear(h, self.word.weight, self.mlm_bias)


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb():
    # VmHWM is this process image's own high-water mark. ru_maxrss is not: Linux carries it
    # across fork and execve, so when `realm bench` starts this script it would report the
    # Go process's peak instead whenever that is larger.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, steps, warmup=2):
    for _ in range(warmup):
        fn()
    walls = []
    c0 = cpu_seconds()
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    cpu = (cpu_seconds() - c0) / steps
    return statistics.median(walls), statistics.mean(walls), cpu, walls


def report(bench, config, steps, med, mean, cpu, walls, **extra):
    d = {
        "bench": bench, "config": config, "impl": IMPL, "threads": torch.get_num_threads(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "steps": steps, "sec_per_op": round(med, 5), "mean_sec_per_op": round(mean, 5),
        "min_sec_per_op": round(min(walls), 5), "max_sec_per_op": round(max(walls), 5),
        "cpu_sec_per_op": round(cpu, 5), "cpu_util": round(cpu / mean, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    d.update(extra)
    print(json.dumps(d), flush=True)


def bench_bert(c, steps):
    torch.manual_seed(1)
    B, S, M = 16, 128, 20
    model = Bert(c).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, VOCAB, (B, S))
    types = (torch.arange(S) >= S // 2).long().expand(B, S)
    mask = torch.arange(S)[None, :] < (S - torch.arange(B) % 8)[:, None]  # a little padding
    pos = torch.randint(0, S - 8, (B, M))
    labels = torch.randint(0, VOCAB, (B, M))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model.mlm_logits(model.encode(ids, types, mask), pos)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1))
        loss.backward()
        opt.step()

    med, mean, cpu, walls = timed(step, steps)
    report("bert_train_step", c.name, steps, med, mean, cpu, walls, batch=B, seq=S, masked=M)


class Realm(nn.Module):
    """REALM with shared retriever towers (as realm.DefaultConfig)."""

    def __init__(self, rc, ec, d=128):
        super().__init__()
        self.retriever = Bert(rc)
        self.proj = nn.Linear(rc.hidden, d)
        self.proj_ln = nn.LayerNorm(d, eps=1e-12)
        self.encoder = Bert(ec)

    def embed(self, ids, types, mask):
        cls = self.retriever.encode(ids, types, mask)[:, 0]
        return self.proj_ln(self.proj(cls))

    def loss(self, q, docs, joint, positions, targets, target_mask):
        B, K, D = docs[0].shape
        qe = self.embed(*q)                                                  # [B, d]
        de = self.embed(*(t.reshape(B * K, D) for t in docs)).view(B, K, -1)  # [B, K, d]
        log_pz = torch.log_softmax(torch.einsum("bd,bkd->bk", qe, de), -1)    # [B, K]
        J = joint[0].shape[-1]
        h = self.encoder.encode(*(t.reshape(B * K, J) for t in joint))
        M = positions.shape[1]
        logits = self.encoder.mlm_logits(h, positions[:, None, :].expand(B, K, M).reshape(B * K, M))
        logp = torch.log_softmax(logits, -1)
        gold = torch.gather(logp, -1, targets[:, None, :].expand(B, K, M).reshape(B * K, M, 1))
        gold = gold.view(B, K, M)
        marginal = torch.logsumexp(log_pz[:, :, None] + gold, 1)              # [B, M]
        return -(marginal * target_mask).sum() / target_mask.sum()


def bench_realm(steps):
    torch.manual_seed(1)
    B, K, Q, D, M = 8, 8, 64, 128, 10
    c = Config(2, 128, 2)
    model = Realm(c, c).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)

    def seqs(*shape):
        S = shape[-1]
        ids = torch.randint(0, VOCAB, shape)
        types = torch.zeros(shape, dtype=torch.long)
        mask = torch.ones(shape, dtype=torch.bool)
        return ids, types, mask

    q = seqs(B, Q)
    docs = seqs(B, K, D)
    joint = seqs(B, K, Q + D)
    joint[1][..., Q:] = 1
    positions = torch.randint(1, Q - 1, (B, M))
    targets = torch.randint(0, VOCAB, (B, M))
    target_mask = torch.ones(B, M)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(q, docs, joint, positions, targets, target_mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    med, mean, cpu, walls = timed(step, steps)
    report("realm_train_step", "B8_K8_Q64_D128_L2_H128_A2", steps, med, mean, cpu, walls,
           batch=B, top_k=K, query_len=Q, doc_len=D, masked=M)


def bench_embed(steps):
    torch.manual_seed(1)
    N, S = 32, 288
    c = Config(2, 128, 2)
    retr = Bert(c).eval()
    proj = nn.Linear(128, 128)
    ln = nn.LayerNorm(128, eps=1e-12)
    ids = torch.randint(0, VOCAB, (N, S))
    types = torch.zeros(N, S, dtype=torch.long)
    mask = torch.ones(N, S, dtype=torch.bool)

    def step():
        with torch.no_grad():
            ln(proj(retr.encode(ids, types, mask)[:, 0]))

    med, mean, cpu, walls = timed(step, steps)
    report("embed_docs", "L2_H128_A2_S288", steps, med, mean, cpu, walls,
           batch=N, seq=S, blocks_per_sec=round(N / med, 1))


def main():
    global IMPL
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--only", choices=["bert", "realm", "embed"], action="append")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.zeros(64, 64) @ torch.zeros(64, 64)  # load the BLAS, then see which one is mapped.
    try:
        maps = open("/proc/self/maps").read().lower()
    except OSError:
        maps = ""
    blas = next((b for b in ("openblas", "mkl", "blis") if b in maps), "")
    IMPL = f"torch-{torch.__version__}" + (f"+{blas}" if blas else "")
    only = set(a.only or ["bert", "realm", "embed"])
    if "bert" in only:
        for c in (Config(2, 128, 2), Config(4, 256, 4)):
            bench_bert(c, a.steps)
    if "realm" in only:
        bench_realm(a.steps)
    if "embed" in only:
        bench_embed(max(a.steps, 10))


IMPL = "torch"
if __name__ == "__main__":
    main()
