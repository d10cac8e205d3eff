"""`migrate`: convert a folder of legacy bn–en files (JSON/JSONL/Parquet/TSV/TMX/.bn+.en, the record
shapes earlier tooling wrote) into Parquet pairs and documents, reporting what could not be read."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Optional

from bilingual import console


MIGRATE_OUTPUT = ("pairs-*.parquet", "documents-*.parquet", "unreadable.json")


def _check_replaceable(input_dir: Path, output_dir: Path) -> None:
    """The output folder is replaced whole, so it must be new, empty, or an earlier migrate output."""
    from bilingual.sources.corpora.readers import CorpusFormatError

    inp, out = input_dir.resolve(), output_dir.resolve()
    if out == inp or out in inp.parents or inp in out.parents:
        raise CorpusFormatError(f"{output_dir}: the output folder must be outside the input folder {input_dir} "
                                "(and not contain it); choose a new folder")
    if output_dir.is_dir():
        foreign = sorted(p.name for p in output_dir.iterdir()
                         if not any(p.match(pattern) for pattern in MIGRATE_OUTPUT))
        if foreign:
            raise CorpusFormatError(f"{output_dir}: not an earlier migrate output (holds {', '.join(foreign[:3])}); "
                                    "migrate replaces its output folder whole, so choose a new or empty folder")


def migrate(input_dir: Path, output_dir: Path, source: Optional[str] = None) -> dict:
    """Write `output_dir/pairs-*.parquet`, `documents-*.parquet` and `unreadable.json`; return counts.
    Everything is written into a new folder beside `output_dir` and swapped in, so a killed migrate never
    leaves a half-written output (nor old shards next to new ones); its leftovers are removed next time."""
    import uuid

    from bilingual.corpus.dataset import BilingualDataset
    from bilingual.filters.stages import clean_leftovers, swap_in
    from bilingual.storage import write_json

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    _check_replaceable(input_dir, output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(output_dir)
    new = output_dir.parent / f".{output_dir.name}.work-{uuid.uuid4().hex[:8]}"
    cache = new / ".cache"
    try:
        pairs = BilingualDataset.load(input_dir, source=source, cache_dir=cache / "p")
        docs = BilingualDataset.load(input_dir, source=source, monolingual=True, cache_dir=cache / "d")
        if len(pairs) == 0 and len(docs) == 0:
            from bilingual.sources.corpora.readers import CorpusFormatError

            first = (pairs.unreadable or docs.unreadable or [{"file": str(input_dir), "error": "no records"}])[0]
            raise CorpusFormatError(f"{first['file']}: nothing readable as pairs or documents ({first['error']}); "
                                    "see `bilingual migrate --help` for the formats")
        for data, prefix in ((pairs, "pairs"), (docs, "documents")):
            if len(data):  # an empty side writes no file (a folder of pairs only is fine)
                data.save(new, prefix=prefix)
        # a record unreadable as a pair may be a fine document and vice versa: report what neither read
        seen = {}
        for e in pairs.unreadable:
            seen[(e["file"], e["record"])] = e
        doc_errors = {(e["file"], e["record"]) for e in docs.unreadable}
        unreadable = [e for k, e in seen.items() if k in doc_errors or e["record"] is None]
        write_json(new / "unreadable.json", unreadable)
        counts = {"pairs": len(pairs), "documents": len(docs), "unreadable": len(unreadable), "details": unreadable}
        shutil.rmtree(cache)  # the datasets cache is not part of the output
        swap_in(new, output_dir)
    finally:
        shutil.rmtree(new, ignore_errors=True)
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual migrate", description=" ".join(__doc__.split()))
    ap.add_argument("input_dir", type=Path, help="folder of legacy files (searched recursively)")
    ap.add_argument("output_dir", type=Path,
                    help="new (or earlier migrate output) folder for pairs-*.parquet, documents-*.parquet and "
                         "unreadable.json; it is replaced whole")
    ap.add_argument("--source", default=None, help="source name for rows that have none (default: file stem)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    console.set_quiet(args.quiet)
    from bilingual.sources.corpora.readers import CorpusFormatError
    from bilingual.storage import CorruptShardError

    if not args.input_dir.exists():
        print(f"bilingual migrate: error: {args.input_dir}: no such folder", file=sys.stderr)
        return 2
    try:
        res = migrate(args.input_dir, args.output_dir, args.source)
    except (CorruptShardError, CorpusFormatError) as err:
        print(f"bilingual migrate: error: {err}", file=sys.stderr)
        return 2
    if res["details"]:
        console.summary("could not read", [{"file": Path(d["file"]).name, "record": d["record"] or "-",
                                            "error": d["error"]} for d in res["details"][:50]])
    console.summary("migrate", {k: v for k, v in res.items() if k != "details"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
