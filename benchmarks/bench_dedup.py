"""MinHash LSH near-duplicate removal: throughput vs datasketch, precision/recall on planted near-duplicates.

Data: every unique real pair bundled (OPUS-100 dev+test, Tatoeba, TICO-19), then K planted variants of
randomly chosen pairs (a word inserted/deleted/replaced, punctuation or case changed) appended AFTER
all originals. Ground truth: exact Jaccard of the 5-character shingle sets of the pair text.

  ours:       the pipeline's `near_dedup` step (vectorized MinHash in the map pass, banded LSH
              decided in the main process, candidates verified), via Pipeline.run.
  datasketch: MinHash(num_perm).update_batch(shingles) per row + MinHashLSH(threshold) query/insert,
              keep-first, the same shingles.

Precision: dropped rows whose exact Jaccard with some earlier kept row is >= threshold.
Recall: planted variants with exact Jaccard >= threshold to their (kept) source that were dropped.

    flock /tmp/bench.lock python benchmarks/bench_dedup.py --planted 2000 --threshold 0.8
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def base_pairs() -> list[tuple[str, str]]:
    from bilingual.sources.corpora import readers as corpora

    par = REPO / "data" / "samples" / "parallel"
    out = []
    for part in ("validation", "test"):
        bn = (par / "opus100" / f"opus100.en-bn-{part}.bn").read_text(encoding="utf-8").split("\n")
        en = (par / "opus100" / f"opus100.en-bn-{part}.en").read_text(encoding="utf-8").split("\n")
        out += list(zip(bn, en))
    out += [(r["bn"], r["en"]) for r in corpora.read_tsv(par / "tatoeba-ben-eng.tsv")]
    out += [(r["bn"], r["en"]) for r in corpora.read_tmx(par / "tico19-all.en-bn.tmx")]
    seen, uniq = set(), []
    for b, e in out:
        if b.strip() and e.strip() and (b, e) not in seen:
            seen.add((b, e))
            uniq.append((b, e))
    return uniq


def variant(rng: random.Random, bn: str, en: str) -> tuple[str, str]:
    side = rng.random() < 0.5
    words = (bn if side else en).split()
    op = rng.choice(["insert", "delete", "replace", "punct", "case"])
    if op == "insert" and words:
        i = rng.randrange(len(words))
        words.insert(i, words[rng.randrange(len(words))])
    elif op == "delete" and len(words) > 2:
        del words[rng.randrange(len(words))]
    elif op == "replace" and words:
        words[rng.randrange(len(words))] = rng.choice(["the", "a", "এই", "সে", "and", "ও"])
    elif op == "punct":
        words = words + ["!"]
    else:
        words = [w.swapcase() if rng.random() < 0.3 else w for w in words]
    text = " ".join(words)
    return (text, en) if side else (bn, text)


def pair_text(b: str, e: str) -> str:
    return b + "\t" + e


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=2000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=64)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    import datasets
    import numpy as np
    from datasets import Dataset

    from bilingual.filters.steps.dedup import jaccard, shingle_hashes
    from bilingual.filters.pipeline import Pipeline

    datasets.disable_progress_bars()
    rng = random.Random(args.seed)
    base = base_pairs()
    sources = [rng.randrange(len(base)) for _ in range(args.planted)]
    planted = [variant(rng, *base[i]) for i in sources]
    rows = base + planted
    n = len(rows)
    texts = [pair_text(b, e) for b, e in rows]
    results = {"uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
               "rows": n, "base": len(base), "planted": args.planted, "threshold": args.threshold,
               "num_perm": args.num_perm}

    # ours
    ds = Dataset.from_dict({"id": [f"r{i}" for i in range(n)], "bn": [r[0] for r in rows], "en": [r[1] for r in rows]})
    pipe = Pipeline.from_recipe({"steps": [{"step": "near_dedup", "threshold": args.threshold,
                                            "num_perm": args.num_perm, "ngram": 5}]})
    t0 = time.perf_counter()
    res = pipe.run(ds)
    t_ours = time.perf_counter() - t0
    dropped_ours = {int(i[1:]) for i in res.rejects["id"]}

    # datasketch baseline (same shingles: 5-char n-grams of normalize_key(pair text))
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
    proto = MinHash(num_perm=args.num_perm, seed=1)
    perms, scheme = proto.permutations, proto.scheme
    dropped_ds = set()
    for i, t in enumerate(texts):
        m = MinHash(num_perm=args.num_perm, permutations=perms, scheme=scheme)
        m.update_batch([h.tobytes() for h in shingle_hashes(t, 5)])
        cands = lsh.query(m)
        if any(m.jaccard(c_m) >= args.threshold for c_m in (minhashes[c] for c in cands)):
            dropped_ds.add(i)
            continue
        lsh.insert(i, m)
        minhashes[i] = m
    t_ds = time.perf_counter() - t0

    # ground truth
    shingles = [set(shingle_hashes(t, 5).tolist()) for t in texts]

    def exact(a, b):
        return len(shingles[a] & shingles[b]) / max(1, len(shingles[a] | shingles[b]))

    true_planted = {len(base) + k for k, src in enumerate(sources) if exact(len(base) + k, src) >= args.threshold}

    def precision(dropped):
        ok = 0
        for i in dropped:
            if i in true_planted:
                ok += 1
                continue
            # any earlier row at or above the threshold (brute force over earlier rows)
            if any(exact(i, j) >= args.threshold for j in range(i)):
                ok += 1
        return ok / max(1, len(dropped))

    def recall(dropped):
        return len(true_planted & dropped) / max(1, len(true_planted))

    results["true_near_duplicates_planted"] = len(true_planted)
    results["ours"] = {"seconds": round(t_ours, 2), "rows_per_s": round(n / t_ours), "dropped": len(dropped_ours),
                       "precision": round(precision(dropped_ours), 4), "recall": round(recall(dropped_ours), 4)}
    results["datasketch"] = {"seconds": round(t_ds, 2), "rows_per_s": round(n / t_ds), "dropped": len(dropped_ds),
                             "precision": round(precision(dropped_ds), 4), "recall": round(recall(dropped_ds), 4)}
    results["speedup_vs_datasketch"] = round(t_ds / t_ours, 2)
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(results, indent=2))
    return 0


minhashes: dict = {}

if __name__ == "__main__":
    sys.exit(main())
