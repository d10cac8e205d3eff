"""`filter`: run a filter recipe over files (Parquet, JSONL, TSV, TMX, .bn/.en) into kept + rejects + stats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from bilingual import console


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual filter", description=__doc__)
    ap.add_argument("--recipe", required=True, help="recipes/filters/NAME.yaml")
    ap.add_argument("--input", nargs="+", required=True, type=Path, help="files or folders")
    ap.add_argument("--output-dir", required=True, type=Path)
    ap.add_argument("--num-proc", type=int, default=None, help="default: the recipe's num_proc")
    ap.add_argument("--chunk-rows", type=int, default=None,
                    help="pairs held in memory at once (results do not depend on it); default: the recipe's, 100000")
    ap.add_argument("--chunk-mb", type=int, default=None,
                    help="MB of text (bn + en) held in memory at once: a chunk ends at --chunk-rows or here, whichever "
                         "comes first (results do not depend on it); default: the recipe's, 64")
    ap.add_argument("--executor", choices=["local", "ray"], default=None,
                    help="local (default: Dataset.map on this machine) or ray (Ray Data; needs the [ray] extra)")
    ap.add_argument("--ray-address", default=None,
                    help="address of a running Ray cluster (`ray start --head` prints it); default: a local Ray")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    console.set_quiet(args.quiet)

    from bilingual.filters.pipeline import Pipeline, RecipeError
    from bilingual.sources.corpora.readers import CorpusFormatError
    from bilingual.storage import CorruptShardError

    try:
        # the recipe and every flag are validated before any reading
        pipeline = Pipeline.from_recipe(args.recipe, num_proc=args.num_proc, chunk_rows=args.chunk_rows,
                                        chunk_mb=args.chunk_mb,
                                        executor=args.executor, ray_address=args.ray_address)
        for p in args.input:
            if not p.exists():
                raise FileNotFoundError(f"{p}: no such file or folder")
        stats = pipeline.run_files(args.input, args.output_dir)
    except (RecipeError, CorruptShardError, CorpusFormatError, FileNotFoundError) as err:
        print(f"filter: error: {err}", file=sys.stderr)
        return 2
    if stats.get("unreadable"):
        console.summary("unreadable records", stats["unreadable"][:20])
    console.summary("filter", {"output": str(args.output_dir), "in": stats["in"], "kept": stats["kept"],
                               "rejected": stats["rejected"], "unreadable": len(stats.get("unreadable") or []),
                               "resumed": "{reused} of {chunk_passes} chunk passes".format(
                                   **(stats.get("resumed") or {"reused": 0, "chunk_passes": 0}))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
