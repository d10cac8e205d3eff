"""`bilingual download-wiki`: fetch a Wikipedia dump run (pages-articles multistream + index + langlinks),
resuming with HTTP Range, verifying sha1/md5 from dumpstatus.json, retrying with backoff."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

import requests

from bilingual.console import set_quiet, summary
from bilingual.sources.wikipedia.download import DEFAULT_BASE, DownloadError, download_dump


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual download-wiki", description=__doc__)
    ap.add_argument("--wiki", required=True, help="bnwiki or enwiki")
    ap.add_argument("--date", default="latest", help="YYYYMMDD or latest (newest finished run)")
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--base-url", default=DEFAULT_BASE, help="dumps site or a mirror laid out like it")
    ap.add_argument("--attempts", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    set_quiet(args.quiet)
    try:
        s = download_dump(args.wiki, args.output_dir, args.date, args.base_url, args.attempts, args.timeout)
    except (DownloadError, requests.RequestException, OSError) as err:
        print(f"bilingual download-wiki: {err}", file=sys.stderr)
        return 1
    summary(f"{s['wiki']} {s['date']} → {s['snapshot']}", s["files"])
    for f in s["files"]:
        if f["status"] != "ok":
            print(f"bilingual download-wiki: {f['reason']}", file=sys.stderr)
    return 0 if s["ok"] else 1
