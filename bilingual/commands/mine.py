"""`mine`: parallel sentences from linked bn/en Wikipedia snapshots → a SentencePairs snapshot."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from bilingual.console import set_quiet, summary
from bilingual.sources.wikipedia.langlinks import SqlFormatError
from bilingual.storage import CorruptShardError


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual mine", description=__doc__)
    ap.add_argument("--bn-snapshot", required=True, help="raw/<date>/wikipedia-bn folder from collect_wiki")
    ap.add_argument("--en-snapshot", required=True, help="raw/<date>/wikipedia-en folder from collect_wiki")
    ap.add_argument("--links", help="langlinks.sql(.gz) or bn/en title TSV (default: the bn snapshot's langlinks)")
    ap.add_argument("--redirects", help="English redirects: the en pages-articles dump, or a source<TAB>target TSV")
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--date", help="snapshot date YYYY-MM-DD (default: today, UTC)")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--force", action="store_true", help="redo even if the same inputs were mined already")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    set_quiet(args.quiet)
    from bilingual.mining.wikipedia import mine_snapshots
    try:
        s = mine_snapshots(args.bn_snapshot, args.en_snapshot, args.links, args.output_dir, day=args.date,
                           redirects=args.redirects, threshold=args.threshold, force=args.force)
    except (OSError, SqlFormatError, CorruptShardError, ValueError) as err:
        print(f"mine: {err}", file=sys.stderr)
        return 1
    summary("wikipedia-mined", {k: s[k] for k in ("links", "article_pairs", "missing_bn", "missing_en", "pairs",
                                                  "quarantined", "skipped_existing", "snapshot")})
    return 0
