"""`migrate`: convert a folder of legacy bn–en files (JSON/JSONL/Parquet/TSV/TMX/.bn+.en, the record
shapes earlier tooling wrote) into Parquet pairs and documents, reporting what could not be read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from bilingual import console


def migrate(input_dir: Path, output_dir: Path, source: Optional[str] = None) -> dict:
    """Write `output_dir/pairs-*.parquet`, `documents-*.parquet` and `unreadable.json`; return counts."""
    import tempfile

    from bilingual.corpus.dataset import BilingualDataset
    from bilingual.storage import write_json

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".work-") as work:
        pairs = BilingualDataset.load(input_dir, source=source, cache_dir=Path(work) / "p")
        docs = BilingualDataset.load(input_dir, source=source, monolingual=True, cache_dir=Path(work) / "d")
        if len(pairs) == 0 and len(docs) == 0:
            from bilingual.sources.corpora.readers import CorpusFormatError

            first = (pairs.unreadable or docs.unreadable or [{"file": str(input_dir), "error": "no records"}])[0]
            raise CorpusFormatError(f"{first['file']}: nothing readable as pairs or documents ({first['error']}); "
                                    "see `bilingual migrate --help` for the formats")
        for data, prefix in ((pairs, "pairs"), (docs, "documents")):
            if len(data):  # an empty side writes no file (a folder of pairs only is fine)
                data.save(output_dir, prefix=prefix)
    # a record unreadable as a pair may be a fine document and vice versa: report what neither read
    seen = {}
    for e in pairs.unreadable:
        seen[(e["file"], e["record"])] = e
    doc_errors = {(e["file"], e["record"]) for e in docs.unreadable}
    unreadable = [e for k, e in seen.items() if k in doc_errors or e["record"] is None]
    write_json(output_dir / "unreadable.json", unreadable)
    return {"pairs": len(pairs), "documents": len(docs), "unreadable": len(unreadable), "details": unreadable}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual migrate", description=" ".join(__doc__.split()))
    ap.add_argument("input_dir", type=Path, help="folder of legacy files (searched recursively)")
    ap.add_argument("output_dir", type=Path,
                    help="where pairs-*.parquet, documents-*.parquet and unreadable.json are written")
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
