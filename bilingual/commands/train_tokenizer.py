"""`train-tokenizer`: train the shared bn+en Unigram tokenizer from processed Parquet shards (streamed).

    python scripts/train_tokenizer.py --dataset_dir data/processed/v1 --output_dir runs/tokenizer --vocab_size 8000
"""

from __future__ import annotations

import argparse
import sys
import time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual train-tokenizer", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset-dir", "--dataset_dir", dest="dataset_dir", help="processed dataset (DIR/dataset/ or DIR); its train split is used")
    src.add_argument("--files", nargs="+", help="Parquet files with bn/en columns")
    p.add_argument("--split", default="train", help="split to read from --dataset-dir (default: train)")
    p.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True,
                   help="where the tokenizer is saved (save_pretrained)")
    p.add_argument("--vocab-size", "--vocab_size", dest="vocab_size", type=int, default=8000,
                   help="vocabulary size (default: 8000)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bilingual.console import set_quiet, summary

    set_quiet(args.quiet)
    from bilingual.modeling.tokenizer import dataset_parquet_files, train_tokenizer_from_parquet
    from bilingual.storage import CorruptShardError

    start = time.perf_counter()
    try:
        files = args.files or dataset_parquet_files(args.dataset_dir, args.split)
        tok = train_tokenizer_from_parquet(files, args.output_dir, vocab_size=args.vocab_size)
    except (FileNotFoundError, ValueError, CorruptShardError) as err:
        hint = ""
        if isinstance(err, CorruptShardError) and args.files:  # a TSV or text file given where shards are expected
            hint = (" -- --files expects Parquet shards with bn and en columns (a dataset's data/train-*.parquet);"
                    " turn a TSV or text corpus into one with `bilingual filter` first, then pass --dataset-dir")
        print(f"train-tokenizer: error: {err}{hint}", file=sys.stderr)
        return 2
    summary("tokenizer", {"path": args.output_dir, "vocab_size": len(tok), "files": len(files),
                          "special tokens": " ".join(tok.all_special_tokens),
                          "seconds": time.perf_counter() - start})
    return 0


if __name__ == "__main__":
    sys.exit(main())
