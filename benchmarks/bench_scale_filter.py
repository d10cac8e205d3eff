"""Filters at real sizes: time and peak RSS as the input grows, on unique synthesized pairs.

Data (made here, seeded): unique pairs made by joining 3 random real sentence pairs from the bundled
Tatoeba, TICO-19 and OPUS-100 samples (bn sentences joined in the same order as their en
translations), written as Parquet shards in our pair shape. Every size is a prefix of the same
stream, so 4M contains 1M.

Each measurement is its own `filter` process (imports, reading, filtering and writing included):
wall seconds, CPU seconds (user + system) and peak RSS of the process tree (the process and its `num_proc` workers, from
wait4()). Linux keeps a child's peak RSS across fork+exec, so the data is synthesized in a separate
process and this parent stays small (~60 MB, below any filter process). Ratios are taken within one
run of this script.

  --mode dedup:   recipe = exact_dedup(pair) + near_dedup(0.9, 64 perms, 5-grams), sizes --sizes.
  --mode filter:  the default recipe vs a fastText-only recipe (langid) over the same pairs (the floor).

    nice python benchmarks/bench_scale_filter.py --mode dedup --sizes 1000000 4000000
    nice python benchmarks/bench_scale_filter.py --mode filter --sizes 77130 771300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
PAR = REPO / "data" / "samples" / "parallel"
SHARD_ROWS = 250_000


def real_pairs() -> list[tuple[str, str]]:
    sys.path.insert(0, str(REPO))
    from bilingual.sources.corpora import readers as corpora

    out = [(r["bn"], r["en"]) for r in corpora.read_tsv(PAR / "tatoeba-ben-eng.tsv")]
    out += [(r["bn"], r["en"]) for r in corpora.read_tmx(PAR / "tico19-all.en-bn.tmx")]
    for part in ("validation", "test"):
        bn = (PAR / "opus100" / f"opus100.en-bn-{part}.bn").read_text(encoding="utf-8").split("\n")
        en = (PAR / "opus100" / f"opus100.en-bn-{part}.en").read_text(encoding="utf-8").split("\n")
        out += list(zip(bn, en))
    return sorted({(b.strip(), e.strip()) for b, e in out if b.strip() and e.strip()})


def synthesize(folder: Path, n: int, seed: int = 11) -> list[Path]:
    """`n` unique pairs (distinct index triples) as Parquet shards; reused when already there."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / f"done-{n}"
    shards = sorted(folder.glob("pairs-*.parquet"))
    if done.exists():
        return shards
    for f in shards:
        f.unlink()
    base = real_pairs()
    m = len(base)
    rng = np.random.default_rng(seed)
    seen: set = set()
    written, shard = 0, 0
    while written < n:
        take = min(SHARD_ROWS, n - written)
        idx = rng.integers(0, m, size=(take * 2, 3))
        codes = (idx[:, 0] * m + idx[:, 1]) * m + idx[:, 2]
        keep = []
        for k, c in enumerate(codes.tolist()):
            if c not in seen:
                seen.add(c)
                keep.append(k)
                if len(keep) == take:
                    break
        idx = idx[keep]
        bn = [" ".join(base[i][0] for i in row) for row in idx.tolist()]
        en = [" ".join(base[i][1] for i in row) for row in idx.tolist()]
        ids = [f"s{written + k}" for k in range(len(bn))]
        table = pa.table({"id": ids, "bn": bn, "en": en, "source": ["synthetic"] * len(bn),
                          "provenance": ["{}"] * len(bn), "score": pa.nulls(len(bn), pa.float64()),
                          "license": ["CC-BY 2.0 FR"] * len(bn)})
        pq.write_table(table, folder / f"pairs-{shard:05d}.parquet", compression="zstd")
        written += len(bn)
        shard += 1
    done.touch()
    return sorted(folder.glob("pairs-*.parquet"))


def cut_prefix(shards: list[Path], n: int, part: Path) -> None:
    """The first `n` pairs of the stream as their own shards (each size is a prefix of the largest)."""
    if (part / "done").exists():
        return
    part.mkdir(parents=True, exist_ok=True)
    left = n
    for s in shards:
        if left <= 0:
            break
        t = pq.read_table(s)
        pq.write_table(t.slice(0, min(left, t.num_rows)), part / s.name, compression="zstd")
        left -= t.num_rows
        del t
    (part / "done").touch()


def run_filter(recipe: dict, shards: list[Path], out: Path, extra: list[str]) -> dict:
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    cmd = [sys.executable, "-m", "bilingual.commands.filter", "--recipe", str(path), "--input", *map(str, shards),
           "--output-dir", str(out), "--quiet", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"filter failed: {proc.stderr.read().decode()[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    cpu = usage.ru_utime + usage.ru_stime  # the process tree's CPU: far less sensitive to other jobs than wall time
    return {"pairs": stats["in"], "kept": stats["kept"], "seconds": round(seconds, 1),
            "pairs_per_s": round(stats["in"] / seconds), "cpu_seconds": round(cpu, 1),
            "pairs_per_cpu_s": round(stats["in"] / cpu), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "steps": {r["step"]: {"dropped": r["dropped"], "seconds": r["seconds"]} for r in stats["steps"]}}


DEDUP = {"name": "dedup", "steps": [{"step": "exact_dedup", "keys": ["pair"]},
                                    {"step": "near_dedup", "threshold": 0.9, "num_perm": 64, "ngram": 5}]}
FASTTEXT = {"name": "fasttext-only", "steps": [{"step": "langid", "threshold_bn": 0.3, "threshold_en": 0.3}]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["dedup", "filter"], default="dedup")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_scale_filter"))
    ap.add_argument("--extra", default="", help="flags passed to filter, e.g. '--num-proc 2'")
    ap.add_argument("--synthesize-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.work / "data"
    if args.synthesize_only:
        shards = synthesize(data, max(args.sizes))
        for n in args.sizes:
            cut_prefix(shards, n, args.work / f"input-{n}")
        return 0
    # Reading shards would grow this process, and a child's peak RSS starts from its parent's at fork
    # (kept across exec): everything that touches the data runs in its own process.
    subprocess.run([sys.executable, __file__, "--synthesize-only", "--work", str(args.work), "--sizes",
                    *map(str, args.sizes)], check=True)
    results = {"uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
               "mode": args.mode, "runs": {}}
    for n in args.sizes:
        inputs = sorted((args.work / f"input-{n}").glob("pairs-*.parquet"))
        recipes = {"dedup": DEDUP} if args.mode == "dedup" else \
            {"default": yaml.safe_load((REPO / "recipes" / "filters" / "default.yaml").read_text()), "fasttext": FASTTEXT}
        for name, recipe in recipes.items():
            r = run_filter(recipe, inputs, args.work / f"out-{name}-{n}", args.extra.split())
            results["runs"][f"{name}@{n}"] = r
            print(json.dumps({f"{name}@{n}": r}), flush=True)
    lo, hi = min(args.sizes), max(args.sizes)
    first = "dedup" if args.mode == "dedup" else "default"
    a, b = results["runs"][f"{first}@{lo}"], results["runs"][f"{first}@{hi}"]
    results["ratio"] = {"size": hi / lo, "time": round(b["seconds"] / a["seconds"], 2),
                        "peak_rss": round(b["peak_rss_mb"] / a["peak_rss_mb"], 2),
                        "throughput_hi_vs_lo": round(b["pairs_per_s"] / a["pairs_per_s"], 3),
                        "cpu_throughput_hi_vs_lo": round(b["pairs_per_cpu_s"] / a["pairs_per_cpu_s"], 3)}
    if args.mode == "filter":
        results["ratio"]["default_vs_fasttext_time"] = {
            n: round(results["runs"][f"default@{n}"]["seconds"] / results["runs"][f"fasttext@{n}"]["seconds"], 2)
            for n in args.sizes}
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
