"""Pairs from a bilingual site: a local site on 127.0.0.1 built from bundled parallel documents (TICO-19
documents and NTREX article chunks as bn/en page pairs, plus pages with no counterpart), crawled with the
real crawler into two snapshots, then mined (document alignment → sentence alignment → lineage)."""

from __future__ import annotations

import html as html_lib
import json
import unicodedata

import pytest

from bilingual import storage
from bilingual.commands.mine import main as mine_main
from bilingual.mining.align import tico_documents
from bilingual.mining.documents import url_key
from bilingual.mining.lexicon import Lexicon, parallel_pairs
from bilingual.mining.web import mine_web
from bilingual.mining.wikipedia import read_pairs
from bilingual.sources.corpora.readers import read_aligned
from bilingual.sources.web.crawl import crawl
from _scrape_helpers import LocalSite, config, html
from _wiki_helpers import SAMPLES

URL_PAIRED = ["Wikinews_1", "wiki_11", "wiki_29"]  # /bn/news/<slug>.html ↔ /en/news/<slug>.html
CONTENT_PAIRED = ["Wikinews_3", "Wikipedia_handpicked_7"]  # unrelated URLs: paired by content only
BN_ONLY, EN_ONLY = ["wiki_13"], ["wiki_26"]  # pages with no counterpart in the other language
NTREX_CHUNKS = [(0, 14), (40, 56)]  # NTREX lines as two more articles, one by URL and one by content
DAY = "2026-11-30"


def _norm(text: str) -> str:
    """Letters and digits only: the crawler's text clean-up may change spaces, quotes and dashes."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch)[0] in "LMN")


def _page(title: str, segments: list[str], lang: str) -> str:
    body = "".join(f"<p>{html_lib.escape(s)}</p>" for s in segments)
    return (f'<html lang="{lang}"><head><title>{html_lib.escape(title)}</title></head>'
            f"<body><nav>menu</nav><article><h1>{html_lib.escape(title)}</h1>{body}</article></body></html>")


@pytest.fixture(scope="module")
def site_docs():
    tico = tico_documents(SAMPLES / "parallel" / "tico19-all.en-bn.tmx")
    nt = SAMPLES / "parallel" / "ntrex128"
    ntrex = [(r["bn"], r["en"]) for r in read_aligned(nt / "newstest2019-ref.ben.txt", nt / "newstest2019-src.eng.txt",
                                                      "ntrex", "CC BY-SA 4.0")]
    docs = {d: tico[d] for d in URL_PAIRED + CONTENT_PAIRED + BN_ONLY + EN_ONLY}
    docs["ntrex_a"] = ntrex[NTREX_CHUNKS[0][0]:NTREX_CHUNKS[0][1]]
    docs["ntrex_b"] = ntrex[NTREX_CHUNKS[1][0]:NTREX_CHUNKS[1][1]]
    return docs


@pytest.fixture(scope="module")
def crawled(site_docs, tmp_path_factory):
    """Serve the site, crawl its bn and en halves with the real crawler; gold page pairs by URL."""
    tmp = tmp_path_factory.mktemp("web")
    routes, gold, bn_links, en_links = {}, {}, [], []
    by_url = ["ntrex_a", *URL_PAIRED]
    by_content = ["ntrex_b", *CONTENT_PAIRED]
    for k, d in enumerate(by_url + by_content + BN_ONLY + EN_ONLY):
        segs = site_docs[d]
        slug = d.lower().replace("_", "-")
        bn_path = f"/bn/news/{slug}.html" if d in by_url else f"/bn/p/{1000 + k}.html"
        en_path = f"/en/news/{slug}.html" if d in by_url else f"/en/stories/{slug}-{k * 7}.html"
        if d not in EN_ONLY:
            routes[bn_path] = html(_page(d, [b for b, _ in segs], "bn"))
            bn_links.append(bn_path)
        if d not in BN_ONLY:
            routes[en_path] = html(_page(d, [e for _, e in segs], "en"))
            en_links.append(en_path)
        if d not in BN_ONLY + EN_ONLY:
            gold[(bn_path, en_path)] = d
    routes["/bn/"] = html("<html><body>" + "".join(f'<a href="{p}">{p}</a>' for p in bn_links) + "</body></html>")
    routes["/en/"] = html("<html><body>" + "".join(f'<a href="{p}">{p}</a>' for p in en_links) + "</body></html>")
    with LocalSite(routes) as site:
        snaps = {}
        for lang in ("bn", "en"):
            cfg = config(site, [f"/{lang}/"], name=f"site-{lang}", language=lang, license="test-only",
                         documents={"min_chars": 20, "content_selector": "article",
                                    "url_patterns": [f"/{lang}/(news|p|stories)/"]})
            summary = crawl(cfg, tmp, day=DAY, quiet=True)
            snaps[lang] = storage.snapshot_dir(tmp, f"site-{lang}", DAY)
            assert summary["documents"] == len(bn_links if lang == "bn" else en_links), summary
        gold_urls = {(site.url(b), site.url(e)): d for (b, e), d in gold.items()}
        yield tmp, snaps, gold_urls, site


def test_url_key_removes_language_markers():
    assert url_key("https://x.org/bn/news/a.html") == url_key("https://x.org/en/news/a.html")
    assert url_key("https://x.org/story?id=3&lang=bn") == url_key("https://x.org/story?lang=en&id=3")
    assert url_key("https://bn.x.org/a") == url_key("https://en.x.org/a")
    assert url_key("https://x.org/a/story-bn.html") == url_key("https://x.org/a/story_en.html")
    assert url_key("https://x.org/a/story?id=3") != url_key("https://x.org/a/story?id=4")
    assert url_key("https://x.org/bn/a.html") != url_key("https://x.org/en/b.html")


def test_mine_web_pairs_documents_and_sentences_with_lineage(site_docs, crawled):
    tmp, snaps, gold, _ = crawled
    served = set(site_docs) - {"ntrex_a", "ntrex_b"}
    trusted = parallel_pairs(exclude_docs=served, ntrex=False)  # nothing the site serves is in the lexicon
    s = mine_web(snaps["bn"], snaps["en"], tmp / "out", day=DAY, lexicon=Lexicon.learn(trusted), trusted=trusted)
    assert (s["paired_by_url"], s["paired_by_content"]) == (4, 3), s
    snap = tmp / "out" / "raw" / DAY / "web-mined"
    pairs = read_pairs(snap)
    found = {(p.provenance["bn_url"], p.provenance["en_url"]) for p in pairs}
    assert found == set(gold)  # document alignment: every page pair found, none wrong
    correct = 0
    for p in pairs:
        segs = site_docs[gold[(p.provenance["bn_url"], p.provenance["en_url"])]]
        pb, pe = _norm(p.bn), _norm(p.en)
        bn_idx = {k for k, (b, _) in enumerate(segs) if _norm(b) in pb or pb in _norm(b)}
        en_idx = {k for k, (_, e) in enumerate(segs) if _norm(e) in pe or pe in _norm(e)}
        correct += bool(bn_idx & en_idx)
        assert p.provenance["doc_method"] in ("url", "content") and p.provenance["bn_index"]
        assert p.license == "test-only" and 0 < p.score <= 1
    gold_segments = sum(len(site_docs[d]) for d in gold.values())
    assert correct / len(pairs) >= 0.95 and len(pairs) >= 0.8 * gold_segments, (correct, len(pairs), gold_segments)
    # nothing lost: one manifest record per input document, paired (ok) or skipped with the reason
    manifest = storage.read_manifest(snap)
    assert len(manifest) == s["bn_documents"] + s["en_documents"]
    skipped = [r for r in manifest if r.status == "skipped"]
    assert len(skipped) == 2 and all(r.reason.startswith("no-translation-found") for r in skipped)
    paired_urls = {u for pair in gold for u in pair}
    assert not {r.url for r in skipped} & paired_urls  # the two pages without a counterpart
    stats = json.loads((snap / "stats.json").read_text())
    assert stats["pairs"] == len(pairs) and stats["unpaired_documents"] == 2


def test_mine_command_web(crawled, tmp_path, monkeypatch):
    monkeypatch.setenv("BILINGUAL_CACHE", str(tmp_path / "cache"))
    _, snaps, gold, _ = crawled
    args = ["--web", str(snaps["bn"]), str(snaps["en"]), "--output-dir", str(tmp_path), "--date", DAY,
            "--name", "site-mined", "--bootstrap-rounds", "0", "--quiet"]
    assert mine_main(args) == 0
    pairs = read_pairs(tmp_path / "raw" / DAY / "site-mined")
    assert {(p.provenance["bn_url"], p.provenance["en_url"]) for p in pairs} == set(gold)
    assert mine_main(["--web", str(snaps["en"]), str(snaps["bn"]), "--output-dir", str(tmp_path), "--quiet"]) == 1
    assert mine_main(["--web", str(tmp_path / "nope"), str(snaps["en"]), "--output-dir", str(tmp_path)]) == 1


def test_pipeline_recipe_lists_a_source_yaml_and_a_snapshot(crawled, tmp_path, monkeypatch):
    """`web:` in the pipeline recipe: the bn half as a source YAML (crawled by the run), the en half as a
    crawl snapshot folder; the collect stage crawls, mines and lists both."""
    import yaml
    from bilingual.workflow import PipelineRecipe, collect_web
    monkeypatch.setenv("BILINGUAL_CACHE", str(tmp_path / "cache"))
    _, snaps, gold, site = crawled
    source = tmp_path / "site-bn.yaml"
    source.write_text(yaml.safe_dump({"name": "site-bn", "language": "bn", "license": "test-only",
                                      "start_urls": [site.url("/bn/")], "delay": 0, "max_pages": 50,
                                      "documents": {"min_chars": 20, "content_selector": "article",
                                                    "url_patterns": ["/bn/(news|p|stories)/"]}}))
    recipe = PipelineRecipe.model_validate({"corpora": [], "filter_recipe": "f.yaml", "train_config": "t.yaml",
                                            "web": [{"name": "site-mined", "bn": str(source), "en": str(snaps["en"])}]})
    rows = collect_web(recipe, tmp_path / "work", DAY)
    assert [(r["source"], r["kind"]) for r in rows] == [("site-bn", "documents"), ("site-mined", "pairs")]
    pairs = read_pairs(rows[1]["snapshot"])
    assert {(p.provenance["bn_url"], p.provenance["en_url"]) for p in pairs} == set(gold)
    assert rows[1]["kept"] == len(pairs) and rows[1]["read"] == 16
