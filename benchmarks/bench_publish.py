"""Publishing a large dataset folder: `bilingual publish --dry-run` against a plain copy of the same files.

Data: the bundled Tatoeba pairs (4.6k) repeated with a running number into SCALE× as many kept pairs
(`data/<split>-*.parquet`, 100k-row shards as the corpus build writes them) and a rejects folder of
REJECT_SHARE of that size, of which OVERLAP_SHARE were rejected by `eval_overlap` (those must not be
published, so each reject shard holding some is rewritten without them).

  baseline:  shutil.copytree of the dataset folder (what any upload has to read at least once)
  ours:      hub.publish(dataset, None, dry_run_dir=...): plan, card check, eval-overlap rewrite, copy

Each variant runs in its own process, so peak RSS (ru_maxrss) is per variant; both import the same modules
before the clock starts, so the times compare the work.

    nice python benchmarks/bench_publish.py --scale 100
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARD_ROWS = 100_000


def synthesize(root: Path, scale: int, reject_share: float, overlap_share: float) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bilingual.publishing.dataset_card import write_dataset_card
    from bilingual.sources.corpora.readers import read_tsv

    base = [(r["bn"], r["en"]) for r in read_tsv(REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv")
            if r["bn"] and r["en"]]
    n_kept = len(base) * scale
    n_rejects = int(n_kept * reject_share)
    splits = {"train": int(n_kept * 0.9), "validation": int(n_kept * 0.05)}
    splits["test"] = n_kept - sum(splits.values())

    def rows(start: int, n: int):
        idx = range(start, start + n)
        return {"bn": [f"{base[i % len(base)][0]} {i}" for i in idx], "en": [f"{base[i % len(base)][1]} {i}" for i in idx],
                "source": ["tatoeba"] * n, "license": ["CC-BY 2.0 FR"] * n}

    start = 0
    (root / "data").mkdir(parents=True)
    for split, n in splits.items():
        shards = -(-n // SHARD_ROWS)
        for k in range(shards):
            m = min(SHARD_ROWS, n - k * SHARD_ROWS)
            pq.write_table(pa.table(rows(start, m)), root / "data" / f"{split}-{k:05d}-of-{shards:05d}.parquet",
                           compression="zstd")
            start += m
    (root / "rejects").mkdir()
    overlap_every = max(1, round(1 / overlap_share))
    for k in range(-(-n_rejects // SHARD_ROWS)):
        m = min(SHARD_ROWS, n_rejects - k * SHARD_ROWS)
        table = rows(start, m)
        table["reject_step"] = ["eval_overlap" if (start + i) % overlap_every == 0 else "near_dedup" for i in range(m)]
        table["reject_reason"] = ["in_eval_set" if s == "eval_overlap" else "near_duplicate" for s in table["reject_step"]]
        pq.write_table(pa.table(table), root / "rejects" / f"rejects-{k:05d}.parquet", compression="zstd")
        start += m
    overlap = sum(1 for i in range(n_kept, n_kept + n_rejects) if i % overlap_every == 0)
    stats = {"recipe": "bench", "in": n_kept + n_rejects, "kept": n_kept, "rejected": n_rejects, "splits": splits,
             "steps": [{"step": "eval_overlap", "in": n_kept + n_rejects, "kept": n_kept + n_rejects - overlap,
                        "dropped": overlap, "reasons": {"in_eval_set": overlap}},
                       {"step": "near_dedup", "in": n_kept + n_rejects - overlap, "kept": n_kept,
                        "dropped": n_rejects - overlap, "reasons": {"near_duplicate": n_rejects - overlap}}],
             "sources": [{"source": "tatoeba", "license": "CC-BY 2.0 FR", "in": n_kept + n_rejects, "kept": n_kept}]}
    write_dataset_card(root, stats)
    return {"kept": n_kept, "rejects": n_rejects, "eval_overlap_rejects": overlap,
            "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file())}


def run_variant(variant: str, dataset: Path, out: Path) -> dict:
    import huggingface_hub  # noqa: F401 - imports are timed apart from the work
    import pyarrow.parquet as pq

    from bilingual.publishing import hub

    start = time.perf_counter()
    if variant == "copytree":
        shutil.copytree(dataset, out / "dataset")
    else:
        hub.publish(dataset, None, version="v1", dry_run_dir=out)
    seconds = time.perf_counter() - start

    published = sum(pq.read_metadata(p).num_rows for p in (out / "dataset" / "rejects").glob("*.parquet"))
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "published_reject_rows": published}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=100, help="kept pairs = SCALE x the Tatoeba sample")
    ap.add_argument("--reject-share", type=float, default=0.25)
    ap.add_argument("--overlap-share", type=float, default=0.02)
    ap.add_argument("--variant", choices=["copytree", "publish"], help=argparse.SUPPRESS)
    ap.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:  # child process: one variant, result as JSON on stdout
        print(json.dumps(run_variant(args.variant, args.dataset, args.out)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        tmp = Path(tmp)
        data = synthesize(tmp / "dataset", args.scale, args.reject_share, args.overlap_share)
        results = {"data": data}
        for variant in ("copytree", "publish"):
            out = tmp / f"out-{variant}"
            proc = subprocess.run([sys.executable, __file__, "--variant", variant, "--dataset", str(tmp / "dataset"),
                                   "--out", str(out)], capture_output=True, text=True, check=True)
            results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
            shutil.rmtree(out)
        results["time_ratio_publish_vs_copytree"] = round(results["publish"]["seconds"] / results["copytree"]["seconds"], 2)
        assert results["publish"]["published_reject_rows"] == data["rejects"] - data["eval_overlap_rejects"]
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
