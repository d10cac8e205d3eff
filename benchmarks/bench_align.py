"""Alignment quality: (1) TICO-19 documents made comparable; (2) mining the 9 articles shared by the
bundled bn (722-page) and en samples, with a fixed random sample of pairs printed for a hand check.

(1) For each benchmark document (a fixed half of TICO-19's documents, by a hash of the tuid prefix):
all bn segments; the en side loses about a third of its segments and gets as many unrelated en
segments from other benchmark documents. Gold = surviving 1–1 links. The lexicon is learned from
Tatoeba + NTREX + the TICO-19 documents NOT in the benchmark (no leak). Baseline in the same run:
the same aligner with the length/number features only (empty lexicon, names still on), then each
addition in turn (Latin words inside bn text count in every row): transliterated names and loanwords
(transliterate.py) instead of consonant skeletons, 1–1 links inside the gaps between anchor links at
a lower threshold, and one bootstrap round (mine → learn the lexicon again with the pairs scoring ≥ 0.5
→ re-mine; no gold link is used).

    flock /tmp/bench.lock nice python benchmarks/bench_align.py [--sample 30]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BILINGUAL_QUIET", "1")

from bilingual.mining.align import (Aligner, Lexicon, align_documents, benchmark_split,  # noqa: E402
                                     evaluate, make_comparable, parallel_pairs, tico_documents)
from bilingual.mining.wikipedia import mine_snapshots, read_pairs  # noqa: E402
from bilingual.sources.wikipedia.dump import collect_dump  # noqa: E402

SAMPLES = ROOT / "data" / "samples"


class _Fixed:
    """Replays precomputed links through `evaluate`, one document after another."""

    def __init__(self, results):
        self._it = iter(results)

    def align(self, bn, en):
        return next(self._it)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=30)
    args = ap.parse_args()
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    docs = tico_documents(SAMPLES / "parallel" / "tico19-all.en-bn.tmx")
    bench = benchmark_split(docs)
    cases = list(make_comparable({d: docs[d] for d in bench}))
    t = time.perf_counter()
    trusted = parallel_pairs(SAMPLES, exclude_docs=bench)
    lex = Lexicon.learn(trusted)
    print(f"benchmark documents ({len(bench)}): {', '.join(bench)}")
    print(f"bn segments {sum(len(b) for _, b, _, _ in cases)}, en segments {sum(len(e) for _, _, e, _ in cases)}, "
          f"gold links {sum(len(g) for *_, g in cases)}; lexicon {len(lex.table)} bn stems, learned in "
          f"{time.perf_counter() - t:.1f}s without the benchmark documents")
    print("| aligner | precision | recall | F1 | predicted | correct | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = (
        ("baseline: numbers + names + length only (empty lexicon)", dict(lexicon=Lexicon({}), names="skeleton",
                                                                        gap_threshold=None, rounds=0)),
        ("previous default: lexicon + consonant-skeleton names", dict(names="skeleton", gap_threshold=None, rounds=0)),
        ("+ transliterated names and loanwords", dict(gap_threshold=None, rounds=0)),
        ("+ gap filling between anchors", dict(rounds=0)),
        ("+ bootstrapped lexicon (current default)", dict(rounds=1)),
    )
    for name, kw in rows:
        t = time.perf_counter()
        results, _ = align_documents([(b, e) for _, b, e, _ in cases], kw.pop("lexicon", lex), trusted=trusted, **kw)
        r = evaluate(_Fixed(results), cases)
        print(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
              f"{r['predicted']} | {r['correct']} | {time.perf_counter() - t:.1f} |")

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        bn = collect_dump(SAMPLES / "wiki" / "bnwiki-202305-first722pages-pages-articles.xml.bz2", "bn", tmp,
                          day="2026-11-26", processes=2)
        en = collect_dump(SAMPLES / "wiki" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
                          "en", tmp, day="2026-11-26", processes=2)
        t_collect = time.perf_counter() - t
        t = time.perf_counter()
        s = mine_snapshots(bn["snapshot"], en["snapshot"], SAMPLES / "wiki" / "overlap_bn_en_titles.tsv", tmp,
                           day="2026-11-26")
        t_mine = time.perf_counter() - t
        pairs = read_pairs(s["snapshot"])
    by_article: dict[str, int] = {}
    for p in pairs:
        by_article[p.provenance["en_title"]] = by_article.get(p.provenance["en_title"], 0) + 1
    print(f"\nmined {len(pairs)} pairs from {s['article_pairs']} linked article pairs "
          f"(collect {t_collect:.1f}s, mine {t_mine:.1f}s): "
          + ", ".join(f"{k} {v}" for k, v in sorted(by_article.items(), key=lambda kv: -kv[1])))
    nm = sum(1 for p in pairs if "," in p.provenance["bn_index"] or "," in p.provenance["en_index"])
    print(f"n–m links: {nm}; score quartiles: "
          + ", ".join(f"{sorted(p.score for p in pairs)[int(q * (len(pairs) - 1))]:.2f}" for q in (0, .25, .5, .75, 1)))
    sample = random.Random(2026).sample(pairs, min(args.sample, len(pairs)))
    print(f"\nrandom sample of {len(sample)} pairs (seed 2026) for the hand check:")
    for k, p in enumerate(sample, 1):
        print(f"{k}. [{p.provenance['en_title']} bn#{p.provenance['bn_index']} en#{p.provenance['en_index']} "
              f"score {p.score:.2f}]\n   BN: {p.bn}\n   EN: {p.en}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
