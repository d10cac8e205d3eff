"""Training-data preparation at real sizes, per process: peak RSS (VmHWM), private vs file-backed RSS (RssAnon /
RssFile), wall and CPU seconds of loading and tokenizing the train split and of reading one epoch, at 10x and
100x the bundled Tatoeba sample. Modes:

- `prepare-child` (current): the path `train()` takes. Process 1 is the preparing process
  (`bilingual.modeling.prepare`, no torch): Parquet -> Arrow conversion and tokenization into the on-disk cache.
  Process 2 is a training process: training imports + the tiny model, then the converted split and the
  tokenized cache only memory-mapped (`cache_only`), the token-budget batches, and one epoch read through
  `PageBoundedDataset` (the trainer's DataLoader dataset) and `PadCollator`;
- `previous` (baseline): the path before, all in one training process (imports, conversion, tokenization, one
  epoch read straight from the mapped cache);
- `disk-cache-map`, `in-memory` (older baselines): the cache as `Dataset.map` over the mapped input wrote it,
  and `keep_in_memory=True` (what every rank did before the cache); in one training process, no epoch.

Inputs are synthesized here: unique pairs made by joining two random real Tatoeba pairs (seeded), written as
the corpus builder writes a split (`ShardWriter` shards and row groups). Each measured process is fresh (VmHWM is
per process; the parent's peak does not carry over, unlike ru_maxrss) and each mode has its own fresh `datasets`
cache (so each converts the Parquet split, as the first run of a training job does); both directions, the
`tiny` preset's model and a tokenizer trained on the sample. CPU seconds: the process's own user + system time
(`os.wait4`), wall seconds around its work (imports excluded, listed apart).

    PYTHONPATH=$PWD nice python benchmarks/bench_train_data.py --scales 10 100 --json /tmp/bench_train_data.json
    (default modes: prepare-child previous; `--modes in-memory disk-cache-map` for the older baselines)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"
MODES = ("prepare-child", "previous", "disk-cache-map", "in-memory")
DIRECTIONS = ["bn-en", "en-bn"]

STATUS = r"""
import json, resource, time
def status():  # RSS now (total, private = RssAnon, mapped files = RssFile) and the peak so far (VmHWM), MB
    f = {k: int(v.split()[0]) / 1024 for k, v in (l.split(":", 1) for l in open("/proc/self/status"))
         if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    return {"rss": f["VmRSS"], "anon": f["RssAnon"], "file": f["RssFile"], "peak": f["VmHWM"]}
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
T0, C0 = time.perf_counter(), cpu()
"""

# Process 1 of `prepare-child`: what `python -m bilingual.modeling.prepare REQUEST` runs (its main()), measured.
PREPARE = STATUS + r"""
import sys
from bilingual.modeling import prepare
start = status()
t0, c0 = time.perf_counter(), cpu()
rc = prepare.main(sys.argv[1:2])
assert rc == 0, rc
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": cpu() - c0, "start": start, "end": status(),
                  "import_seconds": t0 - T0}))
"""

# A training process: the other modes, and process 2 of `prepare-child`.
TRAIN = STATUS + r"""
import sys
from pathlib import Path
import bilingual.modeling.train                              # what a training process has imported
from bilingual.modeling.trainer import BilingualTrainer       # noqa: F401 (train() imports it first)
from transformers import AutoTokenizer
from bilingual.modeling import data as data_mod, prepare as prepare_mod
from bilingual.modeling.model import HFTransformerModel
ds_dir, tok_dir, mode, out = sys.argv[1:5]
directions = ["bn-en", "en-bn"]
tok = AutoTokenizer.from_pretrained(tok_dir)
hf = HFTransformerModel.from_preset("tiny", tok, seed=0)
import_seconds = time.perf_counter() - T0
start = status()
t0, c0 = time.perf_counter(), cpu()
split = data_mod.load_splits(ds_dir, ("train",))["train"]   # Parquet -> Arrow (own fresh cache), or mapped
loaded = status()
args = (split, hf, directions, 128, 128)
if mode == "in-memory":                  # baseline: what every rank did before the cache
    ds = data_mod.tokenize_split(*args, desc=mode)
elif mode == "disk-cache-map":           # baseline: the cache as Dataset.map wrote it, over the mapped input
    key = data_mod._tokenized_key(*args)
    fn = data_mod.encode_directions(*args[1:])
    ds = split.map(fn, batched=True, remove_columns=split.column_names, new_fingerprint=key,
                   cache_file_name=str(Path(out) / f"tokenized-{key}.arrow"))
else:                                    # previous: tokenized here; train-after-prepare: only mapped
    ds = data_mod.tokenize_split(*args, cache_dir=Path(out) / "cache", desc=mode,
                                 cache_only=mode == "train-after-prepare")
lengths = data_mod.example_lengths(ds)        # what the token-budget sampler reads (train.py does the same)
sampler = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=4096, max_sentences=64, seed=0)
n = sum(len(b) for b in sampler)
result = {"examples": n, "seconds": time.perf_counter() - t0, "cpu_seconds": cpu() - c0, "start": start,
          "loaded": loaded, "end": status(), "import_seconds": import_seconds}
if mode in ("previous", "train-after-prepare"):   # one epoch as the trainer's DataLoader reads it
    reader = data_mod.PageBoundedDataset(ds) if mode == "train-after-prepare" else ds
    collate = data_mod.PadCollator(tok.pad_token_id)
    t1, c1 = time.perf_counter(), cpu()
    seen = sum(len(collate(reader.__getitems__(batch))["input_ids"]) for batch in sampler)
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


def measure(cmd: list[str], env: dict) -> dict:
    """Run one measured process; its JSON report plus its own CPU seconds, imports included (user + system,
    from os.wait4) and its wall seconds."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd[:2])} ... failed ({proc.returncode}):\n{err.read()[-3000:]}")
    r = json.loads(out.strip().splitlines()[-1])
    r["process_wall_seconds"] = time.perf_counter() - t0
    r["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return r


def run_mode(mode: str, scale: int, ds_dir: Path, tok_dir: Path, out: Path) -> dict:
    from bilingual.modeling import prepare

    env = {**os.environ, "PYTHONPATH": str(REPO), "BILINGUAL_QUIET": "1", "OMP_NUM_THREADS": "1",
           "HF_DATASETS_CACHE": str(out / "hf")}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)
    result = {"scale": scale, "mode": mode}
    if mode == "prepare-child":
        req = prepare.PrepareRequest(dataset_name=str(ds_dir), cache_dir=str(out / "cache"), tokenizer=str(tok_dir),
                                     family="marian", directions=DIRECTIONS, max_train_samples=None)
        # only the train split is measured: the synthesized dataset has no validation split, so `eval_split`
        # names the train split and its bounded first rows are tokenized as the dev set (as in a real run)
        req.eval_split = "train"
        result["prepare"] = measure([sys.executable, "-c", PREPARE, json.dumps(vars(req))],
                                    {**prepare.child_env(), **env})
        result["train"] = measure([sys.executable, "-c", TRAIN, str(ds_dir), str(tok_dir), "train-after-prepare",
                                   str(out)], env)
    else:
        result["train"] = measure([sys.executable, "-c", TRAIN, str(ds_dir), str(tok_dir), mode, str(out)], env)
    return result


def describe(name: str, r: dict) -> str:
    e = r["end"]
    line = (f"{name}: peak {e['peak']:.0f} MB (start {r['start']['rss']:.0f}; end anon {e['anon']:.0f} + file "
            f"{e['file']:.0f}), {r['seconds']:.1f} s, {r['cpu_seconds']:.1f} CPU s (process {r['process_cpu_seconds']:.1f})")
    if "epoch" in r:
        ep = r["epoch"]
        line += (f"; epoch {ep['seconds']:.1f} s / {ep['cpu_seconds']:.1f} CPU s, peak {ep['peak']:.0f} MB, "
                 f"end anon {ep['anon']:.0f} + file {ep['file']:.0f}")
    return line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", type=int, nargs="+", default=[10, 100])
    p.add_argument("--modes", nargs="+", default=["prepare-child", "previous"], choices=MODES)
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
        n_pairs = len(rows)
        del rows
        for mode in args.modes:
            out = work / f"out-{scale}-{mode}"
            out.mkdir()
            r = run_mode(mode, scale, ds_dir, work / "tok", out)
            r["pairs"] = n_pairs
            results.append(r)
            print(json.dumps(r), flush=True)
    for r in results:
        for part in ("prepare", "train"):
            if part in r:
                print(describe(f"x{r['scale']} {r['mode']} [{part} process]", r[part]))
    by = {(r["scale"], r["mode"]): r for r in results}
    if len(args.scales) >= 2:
        lo, hi = min(args.scales), max(args.scales)
        for mode in args.modes:
            for part in ("prepare", "train"):
                if part not in by[lo, mode]:
                    continue
                a, b = by[lo, mode][part], by[hi, mode][part]
                ratios = {"peak": b["end"]["peak"] / a["end"]["peak"], "anon": b["end"]["anon"] / a["end"]["anon"],
                          "file": b["end"]["file"] / a["end"]["file"]}
                if "epoch" in a:
                    ratios["epoch peak"] = b["epoch"]["peak"] / a["epoch"]["peak"]
                    ratios["epoch file"] = b["epoch"]["file"] / a["epoch"]["file"]
                print(f"{mode} [{part}]: x{hi}/x{lo} " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
