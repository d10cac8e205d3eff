"""Ray Data executor vs the local executor on this machine, honest: Ray's start-up, per-stage Parquet
round trips and shuffles are all included.

Input: unique synthesized pairs (3 real sentence pairs joined, as bench_scale_filter.py) — `--n` of
them. Both runs are `filter` processes with the default recipe and the same `--num-proc`; the Ray run
starts its own local Ray (`--executor ray`, no address) with that many CPUs. Wall seconds from the
parent; the outputs (kept ids, rejects) are checked equal.

    nice python benchmarks/bench_ray.py --n 20000 --num-proc 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def ids(folder: Path) -> tuple[list, list]:
    kept = [i for f in sorted(folder.glob("kept-*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]
    rej = [(i, r) for f in sorted((folder / "rejects").glob("*.parquet"))
           for i, r in zip(*(pq.read_table(f).column(c).to_pylist() for c in ("id", "reject_reason")))]
    return kept, rej


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_ray"))
    args = ap.parse_args()
    # synthesized in its own process (a child keeps its parent's peak RSS across fork+exec)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_scale_filter.py"), "--synthesize-only",
                    "--work", str(args.work), "--sizes", str(args.n)], check=True)
    shards = sorted((args.work / "data").glob("pairs-*.parquet"))
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    results = {"uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
               "pairs": args.n, "num_proc": args.num_proc}
    for name, extra in (("local", []), ("ray", ["--executor", "ray"]), ("local_again", [])):
        out = args.work / f"out-{name}"
        cmd = [sys.executable, "-m", "bilingual.commands.filter", "--recipe", str(REPO / "recipes/filters/default.yaml"),
               "--input", *map(str, shards), "--output-dir", str(out), "--quiet", "--num-proc", str(args.num_proc),
               *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        results[name] = {"seconds": round(time.perf_counter() - t0, 1)}
        results[name]["pairs_per_s"] = round(args.n / results[name]["seconds"])
    results["same_outputs"] = ids(args.work / "out-local") == ids(args.work / "out-ray")
    local = (results["local"]["seconds"] + results["local_again"]["seconds"]) / 2
    results["ray_time_vs_local"] = round(results["ray"]["seconds"] / local, 2)
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
