"""Scale — build: `bilingual build` on 10× and 100× the bundled pairs, peak RSS and pairs/s in one run.

Data: unique synthetic pairs made by joining 2–3 random real pairs (bn with bn, en with en) from the
bundled Tatoeba TSV and TICO-19 TMX (seeded), written as one raw snapshot of Parquet shards. The
bundled pairs number B (7,7xx); the sizes are 10·B and 100·B. Each build runs as its own command-line
process (`python -m bilingual build`, imports, filtering, splitting and writing included); peak RSS is
its `ru_maxrss` from wait4(), cross-checked by its VmHWM polled from /proc every 0.1 s. Linux hands a
child its parent's RSS high-water mark at exec (ru_maxrss of `python -c pass` started from a 600 MB
parent reads 612 MB), so the synthetic data is made in a separate process and this one stays small.
The named baseline is the 10× run of the same recipe in the same run:
the table gives 100×/10× ratios (targets: RSS ratio ≤ 1.2 and < 500 MB; throughput within 15%).

Recipes: `default` (recipes/filters/default.yaml, as users run it) and `rowlocal` (the default minus
the steps that keep state over the whole corpus: exact_dedup, near_dedup, perplexity), which isolates
what the build itself holds (chunks, split hashes, writers) from the dedup/LM state of the filters.

    flock /tmp/bench.lock nice python benchmarks/bench_scale_build.py                     # rowlocal, 10× and 100×
    # each build writes per-phase RSS lines (BILINGUAL_TRACE_MEMORY) to memory-<recipe>-x<factor>.log
    python benchmarks/bench_scale_build.py --recipes rowlocal default                    # + the default recipe
    python benchmarks/bench_scale_build.py --factors 1 10 --recipes rowlocal default     # a quick look
    nice python benchmarks/bench_scale_build.py --post-filter --factors 10 100            # splits + writing alone
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
PARALLEL = REPO / "data" / "samples" / "parallel"
STATEFUL_STEPS = {"exact_dedup", "near_dedup", "perplexity"}


def bundled_pairs() -> list[tuple[str, str]]:
    """The bundled real pairs (Tatoeba TSV: en<TAB>bn<TAB>…, TICO-19 TMX), read here without our readers."""
    out = []
    for line in (PARALLEL / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 2 and cols[0].strip() and cols[1].strip():
            out.append((cols[1], cols[0]))
    lang_attr = "{http://www.w3.org/XML/1998/namespace}lang"
    for _, tu in ET.iterparse(PARALLEL / "tico19-all.en-bn.tmx"):
        if tu.tag != "tu":
            continue
        segs = {(tuv.get(lang_attr) or tuv.get("lang") or "")[:2].lower(): "".join(tuv.find("seg").itertext())
                for tuv in tu.iter("tuv")}
        if segs.get("bn", "").strip() and segs.get("en", "").strip():
            out.append((segs["bn"], segs["en"]))
        tu.clear()
    return out


def write_snapshot(folder: Path, pairs: list[tuple[str, str]], n: int, seed: int, shard_rows: int = 100_000) -> None:
    """n unique pairs, each 2–3 real pairs joined; written as pairs-*.parquet + nothing else."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set = set()
    rows, shard = [], 0
    while len(seen) < n:
        k = 2 + (rng.random() < 0.5)
        pick = tuple(rng.randrange(len(pairs)) for _ in range(k))
        if pick in seen:
            continue
        seen.add(pick)
        bn = " ".join(pairs[i][0] for i in pick)
        en = " ".join(pairs[i][1] for i in pick)
        rows.append({"id": f"syn{len(seen)}", "bn": bn, "en": en, "source": "synthetic", "provenance": "{}",
                     "score": None, "license": "CC-BY 2.0 FR"})
        if len(rows) == shard_rows or len(seen) == n:
            pq.write_table(pa.Table.from_pylist(rows), folder / f"pairs-{shard:05d}.parquet", compression="zstd")
            rows, shard = [], shard + 1


def _own_peak_mb(pid: int, stop: threading.Event, result: dict) -> None:
    """The child's own RSS high-water mark (VmHWM of its exec'd image), polled until it exits."""
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        result["peak"] = max(result.get("peak", 0), int(line.split()[1]) / 1024)
        except OSError:
            return
        stop.wait(0.1)


def run_build(snapshot: Path, out: Path, recipe: Path, chunk_rows: int, memory_log: Path) -> dict:
    """One `bilingual build` process; wall and CPU seconds (user+system of it and its children, from
    wait4) and its peak RSS. Its per-phase memory lines (BILINGUAL_TRACE_MEMORY) go to `memory_log`."""
    cmd = [sys.executable, "-m", "bilingual", "--quiet", "build", "--snapshot", str(snapshot), "--output-dir", str(out),
           "--recipe", str(recipe), "--no-eval-sets", "--chunk-rows", str(chunk_rows)]
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               BILINGUAL_TRACE_MEMORY="1")
    t0 = time.perf_counter()
    with open(memory_log, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)
        stop, hwm = threading.Event(), {}
        poller = threading.Thread(target=_own_peak_mb, args=(proc.pid, stop, hwm), daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        stop.set()
        poller.join()
    seconds = time.perf_counter() - t0
    err = memory_log.read_text(encoding="utf-8", errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed on {snapshot}:\n{err[-3000:]}")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_mb": usage.ru_maxrss / 1024,
            "vmhwm_mb": hwm.get("peak", 0.0), "bench_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "in": stats["in"],
            "kept": stats["kept"], "pairs_per_s": stats["in"] / seconds, "pairs_per_cpu_s": stats["in"] / cpu,
            "chunks": stats.get("chunks")}


def write_kept_like(snapshot: Path, folder: Path, chunk_rows: int) -> None:
    """The snapshot's pairs re-cut into `kept-*.parquet` of `chunk_rows` rows, as the filter stage leaves
    them (pair columns; the few rejected rows of rowlocal make no difference to what follows)."""
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for f in sorted(snapshot.glob("pairs-*.parquet")):
        for b in pq.ParquetFile(f).iter_batches(batch_size=chunk_rows):
            pq.write_table(pa.Table.from_batches([b]), folder / f"kept-{k:05d}.parquet", compression="zstd")
            k += 1


def measure_post_filter(kept: Path, out: Path) -> None:
    """What the build does after its filter stage, alone: assign splits over the kept files, write the
    split shards, count pairs per source; prints this process's peak RSS (for --post-filter)."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from bilingual.corpus.build import _source_counts, _write_splits
    from bilingual.corpus.splits import assign_splits_files
    from bilingual.filters.stages import trace_memory

    files = sorted(kept.glob("kept-*.parquet"))
    out.mkdir(parents=True, exist_ok=True)
    trace_memory("post-filter: start")
    codes = assign_splits_files(files, 0.02, 0.02, work_dir=out)
    trace_memory("post-filter: splits assigned")
    from collections import Counter

    _write_splits(files, np.asarray(codes), out / "data", 100_000, Counter())
    trace_memory("post-filter: splits written")
    _source_counts(files)
    trace_memory("post-filter: sources counted")


def post_filter(args, pairs) -> None:
    """--post-filter: the build's split assignment and writing at each factor, each in its own process."""
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_scale_build-"))
    rows = []
    for factor in args.factors:
        folder = work / f"post-x{factor}"
        snap, kept, out = folder / "snap", folder / "kept", folder / "out"
        for target, targs in ((write_snapshot, (snap, pairs, factor * len(pairs), factor)),
                              (write_kept_like, (snap, kept, args.chunk_rows))):
            p = multiprocessing.get_context("spawn").Process(target=target, args=targs)
            p.start()
            p.join()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-post-filter", str(kept), str(out)]
        env = dict(os.environ, BILINGUAL_TRACE_MEMORY="1")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        log = proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(log[-3000:])
        r = {"factor": factor, "pairs": factor * len(pairs), "seconds": time.perf_counter() - t0,
             "cpu_seconds": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
             "phases": [line for line in log.splitlines() if line.startswith("memory:")]}
        rows.append(r)
        print(json.dumps(r), flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    base = rows[0]
    for r in rows[1:]:
        print(f"post-filter peak RSS {r['factor']}×/{base['factor']}×: {r['rss_mb']:.0f} / {base['rss_mb']:.0f} MiB "
              f"= {r['rss_mb'] / base['rss_mb']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--recipes", nargs="+", default=["rowlocal"], choices=["rowlocal", "default"])
    ap.add_argument("--chunk-rows", type=int, default=20_000, help="as `bilingual build --chunk-rows` (its default)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--memory-logs", type=Path, default=None,
                    help="folder for each build's per-phase memory lines (default: the scratch folder)")
    ap.add_argument("--post-filter", action="store_true",
                    help="measure only what the build does after filtering (splits, split shards), on kept-like files")
    ap.add_argument("--measure-post-filter", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure_post_filter:
        return measure_post_filter(*args.measure_post_filter)

    pairs = bundled_pairs()
    if args.post_filter:
        return post_filter(args, pairs)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_scale_build-"))
    default = yaml.safe_load((REPO / "recipes" / "filters" / "default.yaml").read_text(encoding="utf-8"))
    rowlocal = dict(default, name="rowlocal", steps=[s for s in default["steps"] if s["step"] not in STATEFUL_STEPS])
    recipe_files = {"default": REPO / "recipes" / "filters" / "default.yaml", "rowlocal": work / "rowlocal.yaml"}
    recipe_files["rowlocal"].parent.mkdir(parents=True, exist_ok=True)
    recipe_files["rowlocal"].write_text(yaml.safe_dump(rowlocal, allow_unicode=True), encoding="utf-8")
    print(f"bundled pairs B = {len(pairs):,}; load {os.getloadavg()[0]:.2f}; work {work}", flush=True)
    results = []
    try:
        for factor in args.factors:
            snap = work / f"raw-x{factor}" / "raw" / "2026-01-01" / "synthetic"
            # in its own process: this one must stay small (see the docstring)
            writer = multiprocessing.get_context("spawn").Process(
                target=write_snapshot, args=(snap, pairs, factor * len(pairs), factor))
            writer.start()
            writer.join()
            if writer.exitcode != 0:
                raise SystemExit(f"writing the {factor}× snapshot failed")
            for name in args.recipes:
                out = work / f"out-{name}-x{factor}"
                log = Path(args.memory_logs or work) / f"memory-{name}-x{factor}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                r = run_build(snap.parent.parent.parent, out, recipe_files[name], args.chunk_rows, log)
                r["memory_log"] = str(log)
                r.update(recipe=name, factor=factor)
                results.append(r)
                print(json.dumps(r), flush=True)
                shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(snap, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nload after {os.getloadavg()[0]:.2f}\n")
    print("| recipe | pairs | chunks | seconds | CPU s | pairs/s | pairs/CPU s | peak RSS MiB | VmHWM MiB | kept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['recipe']} | {r['in']:,} | {r['chunks']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
              f"{r['pairs_per_s']:,.0f} | {r['pairs_per_cpu_s']:,.0f} | {r['rss_mb']:.0f} | {r['vmhwm_mb']:.0f} | "
              f"{r['kept']:,} |")
    base = min(args.factors)
    for name in args.recipes:
        rows = {r["factor"]: r for r in results if r["recipe"] == name}
        for factor in args.factors:
            if factor != base and base in rows and factor in rows:
                a, b = rows[factor], rows[base]
                print(f"| **{name} ratio {factor}×/{base}×** | | | | | {a['pairs_per_s'] / b['pairs_per_s']:.2f} | "
                      f"{a['pairs_per_cpu_s'] / b['pairs_per_cpu_s']:.2f} | **{a['rss_mb'] / b['rss_mb']:.2f}** | "
                      f"{a['vmhwm_mb'] / b['vmhwm_mb']:.2f} | |")


if __name__ == "__main__":
    main()
