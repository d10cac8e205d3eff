"""Pairs from a bilingual site: document alignment P/R and pair precision on a local site crawled for real.

    flock /tmp/bench.lock nice python benchmarks/bench_web_mining.py [--ntrex-lines 16]

The site (served on 127.0.0.1 by bilingual.testing_utils.LocalSite): the 14 TICO-19 documents of the alignment
benchmark split and NTREX-128 cut into articles of `--ntrex-lines` consecutive lines, each as a bn page and an en
page; 40% of the page pairs at /bn/news/<slug>.html ↔ /en/news/<slug>.html, 20% at /article?id=N&lang=bn|en,
40% at unrelated URLs (/bn/p/<n>.html ↔ /en/stories/<slug>-<m>.html), so only their content can pair them; plus
pages with no counterpart (the bn side of 8 other TICO-19 documents, the en side of 9 others). Two source configs
(bn and en halves) are crawled with the real crawler (bilingual.sources.web.crawl), then:
- document alignment, three ways in the same run: URL patterns only (the baseline: what URL matching alone
  finds), content only, and ours (URL patterns, then content for the rest);
- `mine_web` (ours + sentence alignment with one bootstrap round): pair precision against the gold segments
  (a mined pair is right when its bn and en text come from the same segment of the same page pair) and the
  share of gold segments recovered.
The lexicon is learned from Tatoeba + the TICO-19 documents the site does not serve (no NTREX): nothing served is
in it. The test in tests/mining/test_mining_web.py checks the same on a 16-page site.
"""

from __future__ import annotations

import argparse
import html as html_lib
import os
import random
import resource
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BILINGUAL_QUIET", "1")

from bilingual import storage  # noqa: E402
from bilingual.mining.align import benchmark_split, tico_documents  # noqa: E402
from bilingual.mining.documents import pair_documents  # noqa: E402
from bilingual.mining.lexicon import Lexicon, parallel_pairs  # noqa: E402
from bilingual.mining.web import mine_web, read_documents  # noqa: E402
from bilingual.mining.wikipedia import read_pairs  # noqa: E402
from bilingual.sources.corpora.readers import read_aligned  # noqa: E402
from bilingual.sources.web.config import SourceConfig  # noqa: E402
from bilingual.sources.web.crawl import crawl  # noqa: E402
from bilingual.testing_utils import LocalSite, Reply  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
DAY = "2026-11-30"


def _page(title: str, segments: list[str], lang: str) -> Reply:
    body = "".join(f"<p>{html_lib.escape(s)}</p>" for s in segments)
    return Reply(200, (f'<html lang="{lang}"><head><title>{html_lib.escape(title)}</title></head><body><nav>menu</nav>'
                       f"<article><h1>{html_lib.escape(title)}</h1>{body}</article></body></html>").encode("utf-8"))


def _norm(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch)[0] in "LMN")


def build_site(ntrex_lines: int):
    tico = tico_documents(SAMPLES / "parallel" / "tico19-all.en-bn.tmx")
    bench = benchmark_split(tico)
    others = [d for d in sorted(tico) if d not in bench]
    nt = SAMPLES / "parallel" / "ntrex128"
    ntrex = [(r["bn"], r["en"]) for r in read_aligned(nt / "newstest2019-ref.ben.txt", nt / "newstest2019-src.eng.txt",
                                                      "ntrex", "CC BY-SA 4.0")]
    docs = {d: tico[d] for d in bench}
    for k in range(0, len(ntrex), ntrex_lines):
        docs[f"ntrex-{k // ntrex_lines:03d}"] = ntrex[k:k + ntrex_lines]
    rng = random.Random(7)
    names = sorted(docs)
    rng.shuffle(names)
    routes, gold, links = {}, {}, {"bn": [], "en": []}
    for k, d in enumerate(names):
        slug = d.lower().replace("_", "-")
        kind = k % 5
        if kind in (0, 1):
            paths = (f"/bn/news/{slug}.html", f"/en/news/{slug}.html")
        elif kind == 2:
            paths = (f"/article?id={k}&lang=bn", f"/article?id={k}&lang=en")
        else:
            paths = (f"/bn/p/{1000 + k}.html", f"/en/stories/{slug}-{7 * k}.html")
        for lang, path, side in (("bn", paths[0], 0), ("en", paths[1], 1)):
            routes[path] = _page(d, [s[side] for s in docs[d]], lang)
            links[lang].append(path)
        gold[paths] = d
    half = len(others) // 2
    for d in others[:half]:  # bn pages with no en counterpart
        path = f"/bn/p/x-{d.lower()}.html"
        routes[path] = _page(d, [b for b, _ in tico[d]], "bn")
        links["bn"].append(path)
    for d in others[half:]:  # en pages with no bn counterpart
        path = f"/en/stories/x-{d.lower()}.html"
        routes[path] = _page(d, [e for _, e in tico[d]], "en")
        links["en"].append(path)
    for lang in ("bn", "en"):
        routes[f"/{lang}/"] = Reply(200, ("<html><body>" + "".join(f'<a href="{html_lib.escape(p)}">x</a>'
                                                                    for p in links[lang]) + "</body></html>").encode())
    trusted = parallel_pairs(SAMPLES, exclude_docs=bench, ntrex=False)
    return routes, gold, docs, {"bn": len(links["bn"]), "en": len(links["en"])}, trusted


def _pr(found: set, gold: set) -> tuple[float, float]:
    tp = len(found & gold)
    return (tp / len(found) if found else 0.0), tp / len(gold)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ntrex-lines", type=int, default=16)
    args = ap.parse_args()
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    routes, gold_paths, docs, n_pages, trusted = build_site(args.ntrex_lines)
    with tempfile.TemporaryDirectory() as tmp, LocalSite(routes) as site:
        gold = {(site.url(b), site.url(e)): d for (b, e), d in gold_paths.items()}
        snaps, t = {}, time.perf_counter()
        for lang in ("bn", "en"):
            cfg = SourceConfig.model_validate(dict(
                name=f"site-{lang}", language=lang, license="test-only", start_urls=[site.url(f"/{lang}/")],
                delay=0.0, max_pages=n_pages[lang] + 5, max_depth=2, concurrency=1,
                documents={"min_chars": 20, "content_selector": "article"},
                links={"allow": [rf"/{lang}/|lang={lang}"]}))
            s = crawl(cfg, tmp, day=DAY, quiet=True)
            snaps[lang] = Path(s["snapshot_dir"])
        t_crawl = time.perf_counter() - t
        bn_docs, en_docs = read_documents(snaps["bn"], "bn"), read_documents(snaps["en"], "en")
        print(f"site: {len(gold)} page pairs ({sum(1 for d in gold.values() if d.startswith('ntrex'))} NTREX articles "
              f"of {args.ntrex_lines} lines, {sum(1 for d in gold.values() if not d.startswith('ntrex'))} TICO-19 "
              f"documents), {n_pages['bn'] - len(gold)} bn-only and {n_pages['en'] - len(gold)} en-only pages; "
              f"crawled {len(bn_docs)} bn + {len(en_docs)} en documents in {t_crawl:.1f}s")
        lex = Lexicon.learn(trusted)
        gold_set = set(gold)
        print("\n| document alignment | pairs | precision | recall | seconds |\n| --- | ---: | ---: | ---: | ---: |")
        for name, kw in (("baseline: URL patterns only", dict(use_content=False)),
                         ("content only (lexicon, numbers, names; mutual best + margin)", dict(use_urls=False)),
                         ("ours: URL patterns, then content", {})):
            t = time.perf_counter()
            pairs, _ = pair_documents(bn_docs, en_docs, lex, **kw)
            secs = time.perf_counter() - t
            found = {(bn_docs[p.bn]["url"], en_docs[p.en]["url"]) for p in pairs}
            p, r = _pr(found, gold_set)
            print(f"| {name} | {len(found)} | {p:.3f} | {r:.3f} | {secs:.1f} |")
        t = time.perf_counter()
        s = mine_web(snaps["bn"], snaps["en"], tmp, day=DAY, lexicon=lex, trusted=trusted)
        t_mine = time.perf_counter() - t
        mined = read_pairs(s["snapshot"])
        right = 0
        hit_segments = set()
        for p in mined:
            d = gold.get((p.provenance["bn_url"], p.provenance["en_url"]))
            if d is None:
                continue
            pb, pe = _norm(p.bn), _norm(p.en)
            bi = {k for k, (b, _) in enumerate(docs[d]) if _norm(b) in pb or pb in _norm(b)}
            ei = {k for k, (_, e) in enumerate(docs[d]) if _norm(e) in pe or pe in _norm(e)}
            if bi & ei:
                right += 1
                hit_segments |= {(d, k) for k in bi & ei}
        n_segments = sum(len(docs[d]) for d in gold.values())
        manifest = storage.read_manifest(s["snapshot"])
        print(f"\nmine_web (ours + sentence alignment, 1 bootstrap round): {s['document_pairs']} page pairs "
              f"({s['paired_by_url']} by URL, {s['paired_by_content']} by content), {len(mined)} sentence pairs, "
              f"{right} right → pair precision {right / max(1, len(mined)):.3f}; gold segments recovered "
              f"{len(hit_segments)}/{n_segments} = {len(hit_segments) / n_segments:.3f}; {t_mine:.1f}s; manifest "
              f"{len(manifest)} records for {len(bn_docs) + len(en_docs)} documents "
              f"({sum(r.status == 'skipped' for r in manifest)} skipped with a reason)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
