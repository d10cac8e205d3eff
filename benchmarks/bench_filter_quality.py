"""Filter quality on labelled pairs the scorers never trained on, per noise kind and recipe; and the
adequacy step's cost per 100k pairs against the langid step (the named baseline), same run.

Labelled data: NTREX-128 (1,997 news sentences in article order) and the held-out half of the
TICO-19 documents (bilingual.mining.align.benchmark_split; the adequacy scorer's default trusted
set excludes them, and NTREX is never trusted). Kinds:
  true             the reference pairs
  different_article bn with the en of a sentence from another article (NTREX: half the file away)
  neighbour        bn with the en of the next sentence of the same article
  truncated        the en side cut to its first third (by words)
  extra_sentence   the en side with the next sentence appended
  untranslated     the en text on both sides
  number_changed   one digit of a number on the en side changed (pairs with numbers only)
Each kind is filtered in its own run (so dedup never links a noisy pair to its source) by:
  default          recipes/filters/default.yaml
  no_adequacy      the same recipe without its adequacy step
  opusfilter_equiv recipes/filters/opusfilter_equiv.yaml (OpusFilter's heuristic set, our reimplementation)

    flock /tmp/bench.lock nice python benchmarks/bench_filter_quality.py --cost-n 100000
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bilingual import console  # noqa: E402
from bilingual.filters.adequacy_model import _change_number, _truncate  # noqa: E402
from bilingual.filters.pipeline import Pipeline  # noqa: E402
from bilingual.layout import PARALLEL_SAMPLES  # noqa: E402
from bilingual.mining.align import benchmark_split, tico_documents  # noqa: E402
from bilingual.sources.corpora.readers import read_aligned  # noqa: E402

KINDS = ("true", "different_article", "neighbour", "truncated", "extra_sentence", "untranslated", "number_changed")
TARGETS = {"true": ("<=", 0.02), "broken": (">=", 0.85), "different_article": (">=", 0.98),
           "neighbour": (">=", 0.75), "truncated": (">=", 0.85), "extra_sentence": (">=", 0.75)}


def documents() -> list[list[tuple[str, str]]]:
    """NTREX as one ordered document per file position run (articles are contiguous) and the held-out
    TICO-19 documents."""
    nt = PARALLEL_SAMPLES / "ntrex128"
    ntrex = [(r["bn"], r["en"]) for r in read_aligned(nt / "newstest2019-ref.ben.txt", nt / "newstest2019-src.eng.txt",
                                                      "ntrex", "CC BY-SA 4.0")]
    tico = tico_documents(PARALLEL_SAMPLES / "tico19-all.en-bn.tmx")
    return [ntrex] + [tico[d] for d in benchmark_split(tico)]


def labelled(seed: int = 13) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(seed)
    docs = documents()
    out = {k: [] for k in KINDS}
    for d, doc in enumerate(docs):
        for i, (bn, en) in enumerate(doc):
            out["true"].append((bn, en))
            if d == 0:
                far = doc[(i + len(doc) // 2) % len(doc)][1]
            else:
                other = docs[(d + 1 + rng.randrange(len(docs) - 1)) % len(docs)]
                far = other[rng.randrange(len(other))][1]
            out["different_article"].append((bn, far))
            if i + 1 < len(doc):
                out["neighbour"].append((bn, doc[i + 1][1]))
                out["extra_sentence"].append((bn, en + " " + doc[i + 1][1]))
            cut = _truncate(en, rng, share=1 / 3)
            if cut:
                out["truncated"].append((bn, cut))
            out["untranslated"].append((en, en))
            changed = _change_number(en, rng)
            if changed and changed != en:
                out["number_changed"].append((bn, changed))
    return out


def recipes() -> dict[str, dict]:
    default = yaml.safe_load((REPO / "recipes/filters/default.yaml").read_text())
    no_adequacy = dict(default, name="no_adequacy", steps=[s for s in default["steps"] if s["step"] != "adequacy"])
    opus = yaml.safe_load((REPO / "recipes/filters/opusfilter_equiv.yaml").read_text())
    return {"default": default, "no_adequacy": no_adequacy, "opusfilter_equiv": opus}


def run_quality(work: Path, seed: int) -> dict:
    from datasets import Dataset

    data = labelled(seed)
    results = {}
    for name, recipe in recipes().items():
        pipe = Pipeline.from_recipe(recipe, num_proc=1, artifacts_dir=work / "artifacts")
        row = {}
        reasons = {}
        for kind in KINDS:
            pairs = data[kind]
            ds = Dataset.from_dict({"bn": [b for b, _ in pairs], "en": [e for _, e in pairs]})
            console.set_quiet(True)
            stats = pipe.run(ds).stats
            console.set_quiet(False)
            row[kind] = stats["rejected"] / stats["in"]
            reasons[kind] = {s["step"]: s["dropped"] for s in stats["steps"] if s["dropped"]}
        broken = [k for k in KINDS if k != "true"]
        row["broken"] = sum(row[k] * len(data[k]) for k in broken) / sum(len(data[k]) for k in broken)
        results[name] = {"rejected": {k: round(v, 4) for k, v in row.items()}, "by_step": reasons}
    return {"sizes": {k: len(v) for k, v in data.items()}, "recipes": results}


def run_cost(work: Path, n: int, seed: int) -> dict:
    """Seconds of the adequacy step and of the langid step (memo off) over the same n distinct pairs
    (each two real pairs joined), each alone in a 1-process Pipeline after the scorer is fitted (so
    adequacy runs fastText itself); and a fresh fit's seconds."""
    import os

    from datasets import Dataset

    rng = random.Random(seed)
    base = [p for doc in documents() for p in doc]
    pairs = []  # n distinct pairs: two real pairs joined (no memo can help either step)
    for _ in range(n):
        (b1, e1), (b2, e2) = base[rng.randrange(len(base))], base[rng.randrange(len(base))]
        pairs.append((b1 + " " + b2, e1 + " " + e2))
    ds = Dataset.from_dict({"bn": [b for b, _ in pairs], "en": [e for _, e in pairs]})
    out = {"pairs": n}
    os.environ["BILINGUAL_CACHE"] = str(work / "fresh-cache")  # a fit from scratch
    t0 = time.perf_counter()
    from bilingual.filters.steps.adequacy import AdequacyParams, load_or_fit
    load_or_fit(AdequacyParams(), None)
    out["fit_seconds"] = round(time.perf_counter() - t0, 2)
    for step in ("langid", "adequacy"):
        params = {"step": step, "cache_size": 0} if step == "langid" else {"step": step}
        pipe = Pipeline.from_recipe({"name": step, "batch_size": 1000, "steps": [params]}, num_proc=1,
                                    artifacts_dir=work / "artifacts")
        console.set_quiet(True)
        stats = pipe.run(ds).stats
        console.set_quiet(False)
        out[f"{step}_seconds"] = stats["steps"][0]["seconds"]
    out["adequacy_per_100k_s"] = round(out["adequacy_seconds"] * 100_000 / n, 1)
    out["ratio_adequacy_to_langid"] = round(out["adequacy_seconds"] / out["langid_seconds"], 2)
    return out


def table(res: dict) -> str:
    lines = ["| kind | pairs | " + " | ".join(res["recipes"]) + " | target |", "|---" * (len(res["recipes"]) + 3) + "|"]
    for kind in KINDS + ("broken",):
        n = res["sizes"].get(kind, sum(v for k, v in res["sizes"].items() if k != "true"))
        label = "true (rejected)" if kind == "true" else f"{kind} (caught)"
        cells = [f"{r['rejected'][kind]:.1%}" for r in res["recipes"].values()]
        t = TARGETS.get(kind)
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + f" | {t[0] + ' ' + format(t[1], '.0%') if t else ''} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cost-n", type=int, default=100_000, help="pairs for the cost measurement (0 = skip)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-filter-quality-"))
    try:
        res = run_quality(work, args.seed)
        print(table(res))
        print(json.dumps(res["recipes"]["default"]["by_step"], indent=1))
        if args.cost_n:
            res["cost"] = run_cost(work, args.cost_n, args.seed)
            print(json.dumps(res["cost"], indent=1))
        if args.out:
            args.out.write_text(json.dumps(res, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
