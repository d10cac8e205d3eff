"""Training-data preparation at real sizes: peak RSS and time of tokenizing the train split, our on-disk cache
(`tokenize_split(..., cache_dir=...)`, written once, memory-mapped, shared by ranks) against the previous
in-memory tokenization (`keep_in_memory=True` in every rank), at 10x and 100x the bundled Tatoeba sample.

Inputs are synthesized here: unique pairs made by joining two random real Tatoeba pairs (seeded), written as
the corpus builder writes a split (`ShardWriter` shards and row groups). Each
measurement runs in a fresh process (peak RSS is per process), both directions, the `tiny` preset's model
and a tokenizer trained on the sample.

    PYTHONPATH=$PWD nice python benchmarks/bench_train_data.py --scales 10 100 --json /tmp/bench_train_data.json
    (add `--modes disk-cache` to skip the in-memory baseline)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from transformers import AutoTokenizer
from bilingual.modeling import data as data_mod
from bilingual.modeling.model import HFTransformerModel
ds_dir, tok_dir, mode, out = sys.argv[1:5]
tok = AutoTokenizer.from_pretrained(tok_dir)
hf = HFTransformerModel.from_preset("tiny", tok, seed=0)
split = data_mod.load_splits(ds_dir, ("train",))["train"]
t0 = time.perf_counter()
cache = Path(out) / "cache" if mode == "disk-cache" else None
ds = data_mod.tokenize_split(split, hf, ["bn-en", "en-bn"], 128, 128, cache_dir=cache, desc=mode)
lengths = data_mod.example_lengths(ds)        # what the token-budget sampler reads (train.py does the same)
sampler = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=4096, max_sentences=64, seed=0)
n = sum(len(b) for b in sampler)
seconds = time.perf_counter() - t0
# at the end: private memory (RssAnon) vs file pages mapped from the Arrow files (RssFile, page cache)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith(("RssAnon", "RssFile")))
print(json.dumps({"examples": n, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_anon_mb": int(status["RssAnon"].split()[0]) / 1024,
                  "rss_file_mb": int(status["RssFile"].split()[0]) / 1024}))
"""


def synthesize(n_pairs: int, seed: int = 0) -> list[dict]:
    from bilingual.modeling.data import read_tsv_pairs

    base = read_tsv_pairs(TATOEBA)
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n_pairs:
        a, b = rng.choice(base), rng.choice(base)
        key = (a["id"], b["id"])
        if key in seen:
            continue
        seen.add(key)
        out.append({"id": f"{a['id']}-{b['id']}", "bn": f"{a['bn']} {b['bn']}", "en": f"{a['en']} {b['en']}"})
    return out


def write_train_shards(ds_dir: Path, rows: list[dict]) -> None:
    """The train split as the corpus builder writes it (`ShardWriter` defaults: shards and row groups bounded
    by rows and bytes), not one Parquet file with one row group, whose reading grows with the file."""
    import pyarrow as pa

    from bilingual.storage import ShardWriter

    schema = pa.schema([("id", pa.string()), ("bn", pa.string()), ("en", pa.string())])
    with ShardWriter(ds_dir / "dataset", "train", schema) as writer:
        writer.write_many(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", type=int, nargs="+", default=[10, 100])
    p.add_argument("--modes", nargs="+", default=["in-memory", "disk-cache"], choices=["in-memory", "disk-cache"])
    p.add_argument("--json")
    args = p.parse_args(argv)
    from bilingual.modeling.data import read_tsv_pairs
    from bilingual.modeling.tokenizer import train_tokenizer

    work = Path(tempfile.mkdtemp(prefix="bench-train-data-"))
    base = read_tsv_pairs(TATOEBA)
    train_tokenizer([r[k] for r in base for k in ("bn", "en")], work / "tok", vocab_size=8000)
    results = []
    for scale in args.scales:
        ds_dir = work / f"x{scale}"
        rows = synthesize(len(base) * scale, seed=scale)
        write_train_shards(ds_dir, rows)
        for mode in args.modes:
            out = work / f"out-{scale}-{mode}"
            out.mkdir()
            proc = subprocess.run([sys.executable, "-c", CHILD, str(ds_dir), str(work / "tok"), mode, str(out)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO), "BILINGUAL_QUIET": "1",
                                       "OMP_NUM_THREADS": "1"})
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(scale=scale, pairs=len(rows), mode=mode)
            results.append(r)
            print(json.dumps(r), flush=True)
    by = {(r["scale"], r["mode"]): r for r in results}
    if len(args.scales) >= 2:
        lo, hi = min(args.scales), max(args.scales)
        for mode in args.modes:
            print(f"{mode}: peak RSS x{hi}/x{lo} = {by[hi, mode]['peak_rss_mb'] / by[lo, mode]['peak_rss_mb']:.2f}, "
                  f"examples/s x{lo} {by[lo, mode]['examples'] / by[lo, mode]['seconds']:,.0f}, "
                  f"x{hi} {by[hi, mode]['examples'] / by[hi, mode]['seconds']:,.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
