"""Country probe: how much a masked sentence's visible words say about its title.

Reads files written by `go run ./tools/probe` and, for each, trains a logistic regression (one
class per title) on the sentences of some blocks and scores the held-out sentences of the other
blocks. Blocks are split into five folds, so a held-out sentence is always classified
by a model that never saw its source block: the setting of same-country recall, which excludes
the source block. Top-7 accuracy is the same-country recall@7 a retriever with this knowledge would
reach by fetching one block from each of the seven likeliest titles; chance is 7/n
for n titles (21 in the Factbook's first 200 documents).

Features: TF-IDF of the masked text (what a retriever trained from scratch on this corpus can
learn from words), and, in files written with -bert, the sentence's mean-pooled BERT embedding
(what a pretrained encoder already knows).

Tooling only (never a dependency of the Go library): needs numpy and scikit-learn, e.g.
  python3 -m venv /tmp/probe-venv && /tmp/probe-venv/bin/pip install numpy scikit-learn
Usage: python3 tools/probe/probe.py FILE.json [FILE.json ...]
"""

import json
import sys

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

FOLDS, TOP = 5, 7


def clean(masked):
    return masked.replace("[CLS]", " ").replace("[SEP]", " ").replace("[MASK]", " ")


def probe(recs, feats, train_rows):
    """Top-1 and top-TOP hits of each held-out sentence, classified fold by fold."""
    titles = sorted({r["title"] for r in recs})
    y = np.array([titles.index(r["title"]) for r in recs])
    held = np.array([r["held_out"] for r in recs])
    blocks = np.array([r["block"] for r in recs])
    fold = np.random.default_rng(0).integers(0, FOLDS, blocks.max() + 1)[blocks]
    hit1, hitk = np.zeros(len(recs), bool), np.zeros(len(recs), bool)
    for f in range(FOLDS):
        tr, te = train_rows & (fold != f), held & (fold == f)
        if feats == "tfidf":
            vec = TfidfVectorizer(sublinear_tf=True)
            xtr = vec.fit_transform([clean(recs[i]["masked"]) for i in np.where(tr)[0]])
            xte = vec.transform([clean(recs[i]["masked"]) for i in np.where(te)[0]])
        else:
            v = normalize(np.array([r["vec"] for r in recs], dtype=np.float32))
            xtr, xte = v[tr], v[te]
        clf = LogisticRegression(C=10, max_iter=3000).fit(xtr, y[tr])
        top = clf.classes_[np.argsort(-clf.predict_proba(xte), 1)[:, :TOP]]
        hit1[te], hitk[te] = top[:, 0] == y[te], (top == y[te][:, None]).any(1)
    return held, hit1, hitk, len(titles)


def main(paths):
    print(f"| file | features | trained on | top-{TOP}: named (n) | not named (n) | all | top-1 not named | chance top-{TOP} |")
    print("|---|---|---|---|---|---|---|---|")
    for path in paths:
        with open(path) as fh:
            d = json.load(fh)
        recs = d["examples"]
        named = np.array([r["named"] for r in recs])
        held = np.array([r["held_out"] for r in recs])
        feats = ["tfidf"] + (["bert"] if recs and "vec" in recs[0] else [])
        for feat in feats:
            for name, rows in [("all sentences", np.ones(len(recs), bool)), ("REALM's training sentences", ~held)]:
                held, h1, hk, n = probe(recs, feat, rows)
                nm, nn = held & named, held & ~named
                print(f"| {path} | {feat} | {name} | {hk[nm].mean():.3f} ({nm.sum()}) | {hk[nn].mean():.3f} ({nn.sum()}) "
                      f"| {hk[held].mean():.3f} | {h1[nn].mean():.3f} | {TOP / n:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
