"""`bilingual collect-wiki`: Wikipedia pages-articles dump(s) → a raw Documents snapshot with a manifest."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from bilingual.console import set_quiet, summary
from bilingual.sources.wikipedia.langlinks import SqlFormatError
from bilingual.sources.wikipedia.dump import DumpReadError, collect_dump


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual collect-wiki", description=__doc__)
    ap.add_argument("--dump", action="append", required=True,
                    help="pages-articles dump (.xml/.bz2/.gz/.xz or multistream .bz2); repeat for several files")
    ap.add_argument("--index", help="multistream index (offset:page_id:title lines); only with one --dump")
    ap.add_argument("--langlinks", help="langlinks.sql(.gz) or bn/en title TSV, stored in the snapshot")
    ap.add_argument("--lang", required=True, choices=["bn", "en"])
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--processes", type=int, default=1,
                    help="parser processes (default 1); memory per process is bounded whatever the dump size")
    ap.add_argument("--date", help="snapshot date YYYY-MM-DD (default: today, UTC)")
    ap.add_argument("--skip-disambiguation", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    set_quiet(args.quiet)
    if args.index and len(args.dump) > 1:
        print("bilingual collect-wiki: --index goes with exactly one --dump", file=sys.stderr)
        return 2
    if args.processes < 1:
        print("bilingual collect-wiki: --processes must be at least 1", file=sys.stderr)
        return 2
    rows, failed, snapshots = [], 0, []
    for i, dump in enumerate(args.dump):
        try:
            row = collect_dump(dump, args.lang, args.output_dir, index=args.index, processes=args.processes,
                               day=args.date, langlinks=args.langlinks if i == 0 else None,
                               skip_disambiguation=args.skip_disambiguation)
        except (OSError, DumpReadError, SqlFormatError, ValueError) as err:
            print(f"bilingual collect-wiki: {err}", file=sys.stderr)
            failed += 1
            continue
        if row["status"] != "ok":
            print(f"bilingual collect-wiki: {row['reason']} (kept {row['kept']} documents read before it)", file=sys.stderr)
            failed += 1
        if row["snapshot"] not in snapshots:
            snapshots.append(row["snapshot"])
        rows.append({k: row.get(k) for k in ("dump", "read", "kept", "quarantined", "status", "skipped_existing")})
    if rows:
        summary(f"wikipedia-{args.lang} snapshot", rows)
        for snap in snapshots:
            print(f"wrote {snap}")
    return 1 if failed else 0
