"""`mine`: parallel sentences from comparable bn/en documents → a SentencePairs snapshot.

Wikipedia: `mine --bn-snapshot BN --en-snapshot EN [--links FILE] --output-dir DIR` (articles joined by
interlanguage links). A bilingual site: `mine --web BN_SNAPSHOT EN_SNAPSHOT --output-dir DIR` (two crawl
snapshots of its bn and en pages; pages are paired by URL pattern and content, each pair keeps both URLs).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Optional

from bilingual.console import set_quiet, summary
from bilingual.sources.wikipedia.langlinks import SqlFormatError
from bilingual.storage import CorruptShardError


def _iso_day(value: str) -> str:
    """--date: refused at once (not after the inputs are read) unless a calendar date written YYYY-MM-DD, the
    snapshot folder's name."""
    try:
        ok = date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual mine", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--web", nargs=2, metavar=("BN_SNAPSHOT", "EN_SNAPSHOT"),
                    help="two crawl snapshots (raw/<date>/<source>/) of one site's bn and en pages")
    ap.add_argument("--name", default="web-mined", help="output snapshot name for --web (default: web-mined)")
    ap.add_argument("--bn-snapshot", help="raw/<date>/wikipedia-bn folder from collect-wiki")
    ap.add_argument("--en-snapshot", help="raw/<date>/wikipedia-en folder from collect-wiki")
    ap.add_argument("--links", help="langlinks.sql(.gz) or bn/en title TSV (default: the bn snapshot's langlinks)")
    ap.add_argument("--redirects", help="English redirects: the en pages-articles dump, or a source<TAB>target TSV")
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--date", type=_iso_day, help="snapshot date YYYY-MM-DD (default: today, UTC)")
    ap.add_argument("--threshold", type=float, default=0.3, help="sentence-link score threshold")
    ap.add_argument("--min-score", type=float, default=None,
                    help="Wikipedia: drop mined pairs whose alignment score is below this (the pipeline uses its "
                         "recipe's wiki_min_score, 0.4); they are counted as below_min_score")
    ap.add_argument("--bootstrap-rounds", type=int, default=1,
                    help="mine → learn the lexicon again from confident pairs → re-mine, this many times (0: off)")
    ap.add_argument("--force", action="store_true", help="redo even if the same inputs were mined already")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    set_quiet(args.quiet)
    if not args.web and not (args.bn_snapshot and args.en_snapshot):
        ap.error("give --web BN_SNAPSHOT EN_SNAPSHOT, or --bn-snapshot and --en-snapshot for Wikipedia")
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        ap.error(f"--min-score must be within [0, 1], got {args.min_score}")
    if not 0.0 <= args.threshold <= 1.0:
        ap.error(f"--threshold must be within [0, 1] (a sentence-link score), got {args.threshold}")
    if args.bootstrap_rounds < 0:
        ap.error(f"--bootstrap-rounds must be 0 (off) or more, got {args.bootstrap_rounds}")
    if args.web and args.min_score is not None:
        ap.error("--min-score applies to Wikipedia mining; pairs mined from a site are scored by the filter "
                 "recipe's adequacy step")
    try:
        if args.web:
            from bilingual.mining.web import mine_web
            s = mine_web(args.web[0], args.web[1], args.output_dir, day=args.date, name=args.name,
                         threshold=args.threshold, bootstrap_rounds=args.bootstrap_rounds, force=args.force)
            keys = ("bn_documents", "en_documents", "document_pairs", "paired_by_url", "paired_by_content",
                    "unpaired_documents", "pairs", "quarantined", "skipped_existing", "snapshot")
        else:
            from bilingual.mining.wikipedia import mine_snapshots
            s = mine_snapshots(args.bn_snapshot, args.en_snapshot, args.links, args.output_dir, day=args.date,
                               redirects=args.redirects, threshold=args.threshold, force=args.force,
                               bootstrap_rounds=args.bootstrap_rounds, min_score=args.min_score)
            keys = ("links", "article_pairs", "missing_bn", "missing_en", "below_min_score", "pairs", "quarantined",
                    "skipped_existing", "snapshot")
    except (OSError, SqlFormatError, CorruptShardError, ValueError) as err:
        print(f"mine: {err}", file=sys.stderr)
        return 1
    summary(s["source"], {k: s[k] for k in keys if k in s})  # stats of an older run may lack a newer key
    return 0
