"""`bilingual scrape`: crawl the web sources named by recipes into raw snapshots.

    bilingual scrape --sources recipes/sources/prothomalo.yaml [--output-dir data] [--quiet]

Rerunning the same command on the same day resumes an interrupted crawl and tries again what failed
(fetch errors, pages skipped because robots.txt was unreachable).
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from bilingual import console
from bilingual.sources.web.crawl import crawl
from bilingual.sources.web.config import SourceConfigError, load_source


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual scrape",
                                description="Crawl configured web sources politely into data/raw/. A same-day rerun "
                                            "resumes, and tries again the URLs that failed.")
    p.add_argument("--sources", nargs="+", required=True, metavar="YAML", help="recipes/sources/*.yaml files")
    p.add_argument("--output-dir", default="data", help="root of the data tree (default: data)")
    p.add_argument("--day", default=None, help="snapshot date YYYY-MM-DD (default: today, UTC); same day resumes")
    p.add_argument("--processes", type=int, default=1, help="extraction processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    try:
        configs = [load_source(path) for path in args.sources]
    except SourceConfigError as err:
        print(f"bilingual scrape: {err}", file=sys.stderr)
        return 2
    if args.processes < 1:
        print("bilingual scrape: --processes must be at least 1", file=sys.stderr)
        return 2
    for cfg in configs:
        try:
            s = crawl(cfg, args.output_dir, day=args.day, processes=args.processes)
        except KeyboardInterrupt:
            print(f"bilingual scrape: interrupted: {cfg.name}; rerun the same command (same --day) to resume",
                  file=sys.stderr)
            return 130
        except (OSError, ValueError) as err:
            print(f"bilingual scrape: {cfg.name}: {err}", file=sys.stderr)
            return 1
        console.summary(f"scrape {s['source']}", {
            "URLs attempted": s["urls_attempted"], "fetched": s["fetched"], "skipped by robots": s["skipped_robots"],
            "skipped (other)": _fmt_counts({k: v for k, v in s["skipped"].items() if k != "robots"}),
            "failed by reason": _fmt_counts(s["failed"]), "documents written": s["documents"],
            "resumed from": s["resumed_from"], "failures retried": s["retried"], "seconds": s["seconds"], "snapshot": s["snapshot_dir"]})
    return 0


def _fmt_counts(counts: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"
