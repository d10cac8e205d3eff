# NOTE FROM THE LEAD (13:00 UTC; delete this comment once handled): a child's ru_maxrss (os.wait4 / RUSAGE_SELF /
# RUSAGE_CHILDREN) starts at its PARENT's PEAK RSS: Python's subprocess uses vfork, and the kernel carries the old mm's
# high-water mark across exec. Measured here: a parent that once held 500 MB (even after freeing it) makes a trivial
# child report ru_maxrss = 511 MB. So any benchmark whose parent synthesizes data / serves pages / reads shards before
# spawning the measured command reports the parent's peak, not the command's. Fix: measure through a small launcher,
# e.g. run `/usr/bin/time -f '%e %U %S %M' CMD...` (GNU time forks CMD from a small process; %M = CMD's peak RSS in KB,
# its CPU = %U+%S) or do all data work in a separate subprocess so the parent stays small (bench_scale_filter.py now
# does this). Re-check any RSS ratio you measured this way.
"""Training-data preparation at real sizes, per process: peak RSS (and private vs file-backed RSS), wall and CPU
seconds of loading and tokenizing the train split, at 10x and 100x the bundled Tatoeba sample. Modes:

- `disk-cache`: `tokenize_split(..., cache_dir=...)`, the on-disk cache written once (from the input read as a
  stream of bounded batches), memory-mapped and shared by ranks; then one epoch read as the trainer reads it;
- `disk-cache-map` (baseline): the same cache file written by `Dataset.map` over the memory-mapped input (what
  `tokenize_split` did before);
- `in-memory` (baseline): `keep_in_memory=True`, what every rank did before the cache.

Inputs are synthesized here: unique pairs made by joining two random real Tatoeba pairs (seeded), written as
the corpus builder writes a split (`ShardWriter` shards and row groups). Each measurement runs in a fresh
process (peak RSS is per process) with its own fresh `datasets` cache (so each one also converts the Parquet
split to Arrow, as the first run of a training job does), after importing what a training process imports;
both directions, the `tiny` preset's model and a tokenizer trained on the sample.

    PYTHONPATH=$PWD nice python benchmarks/bench_train_data.py --scales 10 100 --json /tmp/bench_train_data.json
    (`--modes disk-cache` for the current path only)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"
MODES = ("in-memory", "disk-cache-map", "disk-cache")

CHILD = r"""
import json, resource, sys, time
from pathlib import Path

def status():  # RSS now (total, private = RssAnon, mapped files = RssFile) and the peak so far (VmHWM), MB
    f = {k: int(v.split()[0]) / 1024 for k, v in (l.split(":", 1) for l in open("/proc/self/status"))
         if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    return {"rss": f["VmRSS"], "anon": f["RssAnon"], "file": f["RssFile"], "peak": f["VmHWM"]}

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

import bilingual.modeling.train                              # what a training process has imported
from bilingual.modeling.trainer import BilingualTrainer       # noqa: F401 (train() imports it first)
from transformers import AutoTokenizer
from bilingual.modeling import data as data_mod
from bilingual.modeling.model import HFTransformerModel
ds_dir, tok_dir, mode, out = sys.argv[1:5]
tok = AutoTokenizer.from_pretrained(tok_dir)
hf = HFTransformerModel.from_preset("tiny", tok, seed=0)
start = status()
t0, c0 = time.perf_counter(), cpu()
split = data_mod.load_splits(ds_dir, ("train",))["train"]   # Parquet -> the Arrow cache (own, fresh)
loaded = status()
args = (split, hf, ["bn-en", "en-bn"], 128, 128)
if mode == "in-memory":                  # baseline: what every rank did before the cache
    ds = data_mod.tokenize_split(*args, desc=mode)
elif mode == "disk-cache-map":           # baseline: the cache as Dataset.map wrote it, over the mapped input
    key = data_mod._tokenized_key(*args)
    fn = data_mod.encode_directions(*args[1:])
    ds = split.map(fn, batched=True, remove_columns=split.column_names, new_fingerprint=key,
                   cache_file_name=str(Path(out) / f"tokenized-{key}.arrow"))
else:                                    # the cache written from streamed input batches (tokenize_split)
    ds = data_mod.tokenize_split(*args, cache_dir=Path(out) / "cache", desc=mode)
lengths = data_mod.example_lengths(ds)        # what the token-budget sampler reads (train.py does the same)
sampler = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=4096, max_sentences=64, seed=0)
n = sum(len(b) for b in sampler)
seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
result = {"examples": n, "seconds": seconds, "cpu_seconds": cpu_seconds, "start": start, "loaded": loaded,
          "end": status()}
if mode == "disk-cache":   # one epoch as the trainer's DataLoader reads it (rows of each batch, then padded)
    collate = data_mod.PadCollator(tok.pad_token_id)
    t1, c1 = time.perf_counter(), cpu()
    seen = sum(len(collate(ds.__getitems__(batch))["input_ids"]) for batch in sampler)
    result["epoch"] = {"examples": seen, "seconds": time.perf_counter() - t1, "cpu_seconds": cpu() - c1,
                       **status()}
print(json.dumps(result))
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
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
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
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run([sys.executable, "-c", CHILD, str(ds_dir), str(work / "tok"), mode, str(out)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO), "BILINGUAL_QUIET": "1",
                                       "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(out / "hf")})
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(scale=scale, pairs=len(rows), mode=mode,
                     process_cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            results.append(r)
            print(json.dumps(r), flush=True)
    for r in results:
        e = r["end"]
        print(f"x{r['scale']} {r['mode']}: peak RSS {e['peak']:.0f} MB (start {r['start']['rss']:.0f}; at the end "
              f"anon {e['anon']:.0f} + file {e['file']:.0f}), {r['examples'] / r['seconds']:,.0f} examples/s, "
              f"{r['examples'] / r['cpu_seconds']:,.0f} examples per CPU second")
    by = {(r["scale"], r["mode"]): r for r in results}
    if len(args.scales) >= 2:
        lo, hi = min(args.scales), max(args.scales)
        for mode in args.modes:
            a, b = by[lo, mode], by[hi, mode]
            print(f"{mode}: x{hi}/x{lo} peak RSS {b['end']['peak'] / a['end']['peak']:.2f}, "
                  f"RssAnon {b['end']['anon'] / a['end']['anon']:.2f}, RssFile {b['end']['file'] / a['end']['file']:.2f}; "
                  f"time per example {b['seconds'] / b['examples'] / (a['seconds'] / a['examples']):.2f}, "
                  f"CPU per example {b['cpu_seconds'] / b['examples'] / (a['cpu_seconds'] / a['examples']):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
