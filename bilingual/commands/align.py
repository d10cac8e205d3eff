"""`align`: align two files of sentences (one per line): bn_index<TAB>en_index<TAB>score, 0-based;
an n–m link joins its indices with commas. The method is described in bilingual/mining/align.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from bilingual.console import set_quiet, summary
from bilingual.storage import write_text


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bilingual align", description=__doc__)
    ap.add_argument("--bn", required=True, help="Bengali sentences, one per line")
    ap.add_argument("--en", required=True, help="English sentences, one per line")
    ap.add_argument("--out", required=True, help="output TSV")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--lexicon", help="a lexicon .json.gz (default: learned from the bundled parallel data, cached)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    set_quiet(args.quiet)
    from bilingual.mining.align import Aligner, Lexicon, default_lexicon, format_links
    try:
        bn = Path(args.bn).read_text(encoding="utf-8").splitlines()
        en = Path(args.en).read_text(encoding="utf-8").splitlines()
        lex = Lexicon.load(args.lexicon) if args.lexicon else default_lexicon()
    except (OSError, UnicodeDecodeError, ValueError) as err:
        print(f"align: {err}", file=sys.stderr)
        return 1
    links = Aligner(lex, threshold=args.threshold).align(bn, en)
    lines = format_links(links)
    write_text(args.out, "".join(line + "\n" for line in lines))
    summary("align", {"bn sentences": len(bn), "en sentences": len(en), "links": len(links),
                      "n-m links": sum(1 for l in links if len(l.bn) > 1 or len(l.en) > 1), "output": args.out})
    return 0
