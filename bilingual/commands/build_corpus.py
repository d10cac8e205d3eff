"""`build`: raw snapshots → builder → filter recipe → processed Parquet dataset + card + stats.

With no --snapshot, snapshots the bundled samples first (Tatoeba TSV, TICO-19 TMX) with
bilingual.sources.corpora.readers, so `python scripts/build_corpus.py` works out of the box.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from bilingual import console
from bilingual.corpus.build import DEFAULT_CHUNK_ROWS
from bilingual.layout import DEFAULT_FILTER_RECIPE, PARALLEL_SAMPLES, REPO_ROOT

SAMPLES = PARALLEL_SAMPLES
DEFAULT_EVAL_SETS = [
    f"{SAMPLES}/opus100/opus100.en-bn-test.bn",
    f"{SAMPLES}/ntrex128/newstest2019-ref.ben.txt,{SAMPLES}/ntrex128/newstest2019-src.eng.txt",
]


def snapshot_samples(root: Path, day: Optional[str] = None) -> list[Path]:
    """Snapshot the bundled Tatoeba TSV and TICO-19 TMX into `root/raw/<day>/<source>/`."""
    from bilingual.sources.corpora import readers as corpora
    from bilingual.storage import snapshot_dir

    out = []
    for source, path, reader, lic in (
            ("tatoeba", SAMPLES / "tatoeba-ben-eng.tsv", corpora.read_tsv, "CC-BY 2.0 FR"),
            ("tico19", SAMPLES / "tico19-all.en-bn.tmx", corpora.read_tmx, "CC0 1.0")):
        folder = snapshot_dir(root, source, day)
        res = corpora.snapshot_corpus(reader(path, source=source, license=lic), folder, source, path, lic)
        console.summary(f"snapshot {source}", res)
        out.append(folder)
    return out


def _resumed(r: dict) -> str:
    """What a killed earlier run of this build had finished and this one reused."""
    return (f"{r.get('reused', 0)} of {r.get('chunk_passes', 0)} filter chunk passes, "
            f"{r.get('shards_reused', 0)} of {r.get('shards', 0)} output shards")


def use_returning_allocator() -> None:
    """Arrow allocations of this process from jemalloc, which hands freed pages back to the system: with
    the default mimalloc pool, the split writing after filtering kept 60–80 MB more resident, by chance
    more at 100× than at 10× (BENCHMARKS.md "Scale — build"). Arrow builds without jemalloc keep theirs."""
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, AttributeError):
        pass


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual build", description=__doc__.splitlines()[0])
    ap.add_argument("--snapshot", action="append", type=Path, default=[],
                    help="raw snapshot folder (repeatable; any folder above snapshots works). Default: bundled samples")
    ap.add_argument("--root", type=Path, default=REPO_ROOT / "data", help="data root for raw/ and processed/ (default data/)")
    ap.add_argument("--recipe", default=str(DEFAULT_FILTER_RECIPE))
    ap.add_argument("--output-dir", type=Path, help="default: <root>/processed/<version>")
    ap.add_argument("--version", default="v1")
    ap.add_argument("--num-proc", type=int, default=1)
    ap.add_argument("--eval-set", action="append", default=None,
                    help="evaluation set to remove from the data (file, or 'BN_FILE,EN_FILE'); default: OPUS-100 test + NTREX")
    ap.add_argument("--no-eval-sets", action="store_true")
    ap.add_argument("--validation", type=float, default=0.02)
    ap.add_argument("--test", type=float, default=0.02)
    ap.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                    help="pairs filtered at a time (sets the memory; an interrupted build resumes after the last "
                         f"finished chunk); default {DEFAULT_CHUNK_ROWS}")
    ap.add_argument("--executor", choices=["local", "ray"], default=None,
                    help="filter executor: local (Dataset.map on this machine) or ray (Ray Data; needs the [ray] "
                         "extra); default: the recipe's `executor`, local")
    ap.add_argument("--ray-address", default=None,
                    help="address of a running Ray cluster (`ray start --head` prints it); default: the recipe's, "
                         "else a local Ray")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    console.set_quiet(args.quiet)

    from bilingual.corpus.build import BuildSettingsError, build_corpus
    from bilingual.filters.pipeline import RecipeError
    from bilingual.sources.corpora.readers import CorpusFormatError
    from bilingual.storage import CorruptShardError, processed_dir

    use_returning_allocator()
    try:
        snapshots = args.snapshot or snapshot_samples(args.root)
        eval_sets = [] if args.no_eval_sets else (args.eval_set or DEFAULT_EVAL_SETS)
        out = args.output_dir or processed_dir(args.root, args.version)
        stats = build_corpus(snapshots, Path(args.recipe), out, num_proc=args.num_proc, eval_sets=eval_sets,
                             validation=args.validation, test=args.test, chunk_rows=args.chunk_rows,
                             executor=args.executor, ray_address=args.ray_address)
    except (BuildSettingsError, RecipeError, CorruptShardError, CorpusFormatError, FileNotFoundError) as err:
        print(f"bilingual build: error: {err}", file=sys.stderr)
        return 2
    console.summary("build_corpus", {"output": stats["dataset_dir"], "in": stats["in"], "kept": stats["kept"],
                                     "rejected": stats["rejected"], "seconds": stats["seconds"],
                                     "resumed": _resumed(stats.get("resumed") or {})})
    return 0


if __name__ == "__main__":
    sys.exit(main())
