"""`build_corpus`: raw snapshots → builder → filter Pipeline → published Parquet + card + stats.

Output (loadable with `datasets.load_dataset(str(output_dir))`, no remote code):

    output_dir/data/{train,validation,test}-00000-of-00001.parquet   kept pairs (zstd)
    output_dir/documents/{bn,en}/train-*.parquet                   monolingual documents, if any
    output_dir/rejects/rejects-*.parquet                           dropped rows: fields + step + reason + scores
    output_dir/artifacts/charlm-{bn,en}.npz                        the perplexity LMs (if the recipe has one)
    output_dir/stats.json                                          funnel + totals + splits (COMMON.md "corpus")
    output_dir/README.md                                           dataset card with YAML `configs:`

Files are written atomically; the work folder is removed at the end, so a rerun redoes the build.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow.parquet as pq

from bilingual import console
from bilingual.corpus.dataset import assign_splits_dataset
from bilingual.storage import CorruptShardError, write_json
from bilingual.filters.pipeline import Pipeline, load_recipe, print_stats, write_shards

SPLITS = ("train", "validation", "test")
PUBLISHED_DROP = ("split",)


def check_shards(files) -> None:
    """Open every Parquet footer up front: a corrupt shard fails the build with its name."""
    import pyarrow as pa

    for f in files:
        try:
            pq.ParquetFile(f).metadata
        except (pa.ArrowInvalid, OSError) as err:
            raise CorruptShardError(f"{f}: not a readable Parquet file ({err}); delete it and re-run its snapshot") from err


def _with_eval_sets(recipe, eval_sets) -> dict:
    """The recipe as a dict, with `eval_sets` added to its eval_overlap step (appended if absent)."""
    import yaml

    data = recipe if isinstance(recipe, dict) else yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
    data = dict(data, steps=[dict(s) for s in data.get("steps", [])])
    if eval_sets:
        steps = [s for s in data["steps"] if s.get("step") == "eval_overlap"]
        if not steps:
            steps = [{"step": "eval_overlap"}]
            data["steps"].append(steps[0])
        for s in steps:
            s["eval_sets"] = list(s.get("eval_sets", [])) + [str(p) for p in eval_sets]
    return data


def build_corpus(snapshot_dirs: list[Path], recipe: Path | dict, output_dir: Path, num_proc: int = 1,
                 eval_sets: Optional[list[Path]] = None, validation: float = 0.02, test: float = 0.02,
                 quiet: bool = False) -> dict:
    """Build the processed dataset from raw snapshot folders; return stats (also in stats.json)."""
    from datasets import concatenate_datasets

    from dataset_builder import Bilingual
    from dataset_builder.bilingual import snapshot_files

    t_start = time.perf_counter()
    output_dir = Path(output_dir)
    snapshot_dirs = [Path(d) for d in snapshot_dirs]
    for d in snapshot_dirs:
        if not d.exists():
            raise FileNotFoundError(f"{d}: snapshot folder does not exist")
    recipe_name = str(recipe) if not isinstance(recipe, dict) else recipe.get("name", "recipe")
    recipe_data = _with_eval_sets(recipe, eval_sets)
    load_recipe(recipe_data)  # validate everything before any work
    pair_files = snapshot_files(snapshot_dirs, "pairs-*.parquet")
    doc_files = snapshot_files(snapshot_dirs, "documents-*.parquet")
    if not pair_files:
        raise FileNotFoundError(f"no pairs-*.parquet under {', '.join(map(str, snapshot_dirs))}")
    check_shards(pair_files + doc_files)

    output_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=output_dir))
    try:
        builder = Bilingual(config_name="pairs", snapshot_dirs=tuple(map(str, snapshot_dirs)),
                            validation=validation, test=test, cache_dir=str(work / "builder"))
        builder.download_and_prepare()
        dd = builder.as_dataset()
        parts = [dd[s].add_column("split", [s] * len(dd[s])) for s in SPLITS if s in dd]
        allpairs = concatenate_datasets(parts).flatten_indices(cache_file_name=str(work / "all.arrow"))
        pipeline = Pipeline.from_recipe(recipe_data, num_proc=num_proc, artifacts_dir=output_dir / "artifacts")
        result = pipeline.run(allpairs)

        # The split is decided on the FINAL text (after normalization and dedup), so two raw
        # variants that normalize to one sentence can never straddle train and validation/test.
        splits = {}
        kept = result.kept
        split_col = assign_splits_dataset(kept, validation, test)
        for s in SPLITS:
            idx = np.flatnonzero(split_col == s)
            part = kept.select(idx).remove_columns(list(PUBLISHED_DROP))
            write_shards(part, output_dir / "data", s)
            splits[s] = int(len(idx))
        write_shards(result.rejects, output_dir / "rejects", "rejects")

        documents = {}
        for lang in ("bn", "en"):
            if not doc_files:
                break
            b = Bilingual(config_name=f"documents_{lang}", snapshot_dirs=tuple(map(str, snapshot_dirs)),
                          cache_dir=str(work / f"docs_{lang}"))
            b.download_and_prepare()
            docs = b.as_dataset(split="train")
            if len(docs):
                write_shards(docs, output_dir / "documents" / lang, "train")
                documents[lang] = len(docs)

        sources = _sources(allpairs, result.kept)
        stats = dict(result.stats)
        stats.update({
            "recipe_path": recipe_name, "splits": splits, "dataset_dir": str(output_dir), "documents": documents,
            "sources": sources, "num_proc": num_proc, "seconds": round(time.perf_counter() - t_start, 3),
            "eval_sets": [str(p) for p in eval_sets or []],
            "artifacts": sorted(str(p) for p in (output_dir / "artifacts").glob("*")) if (output_dir / "artifacts").exists() else [],
        })
        if stats["in"] != stats["kept"] + stats["rejected"] or sum(splits.values()) != stats["kept"]:
            raise RuntimeError(f"accounting failed: {stats['in']} in, {stats['kept']} kept, {stats['rejected']} rejected")
        write_json(output_dir / "stats.json", stats)
        from bilingual.publishing.dataset_card import write_dataset_card

        write_dataset_card(output_dir, stats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not quiet:
        print_stats(stats, title=f"corpus funnel ({stats['recipe']})")
        console.summary("splits", dict(splits, rejected=stats["rejected"]))
    return stats


def _sources(allpairs, kept) -> list[dict]:
    """Per source: licence, rows in, rows kept (for the card and the run report)."""
    def count(ds):
        n, lic = Counter(), {}
        for batch in ds.select_columns(["source", "license"]).iter(batch_size=10_000):
            n.update(batch["source"])
            lic.update(zip(batch["source"], batch["license"]))
        return n, lic

    n_in, lic = count(allpairs)
    n_kept, _ = count(kept)
    return [{"source": s, "license": lic.get(s), "in": n_in[s], "kept": n_kept.get(s, 0)} for s in sorted(n_in)]
