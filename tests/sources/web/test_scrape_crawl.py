"""Whole crawls over the bundled real news pages served from 127.0.0.1: extraction quality
(trafilatura's own gold expectations), link rules and depth, sitemaps, pacing across hosts."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from bilingual.schema import Document
from bilingual.sources.web.crawl import crawl
from bilingual.storage import read_manifest, read_table

from _scrape_helpers import BN_PAGE, EN_PAGE, LocalSite, Reply, config, html

DAY = "2026-01-02"
NFC = lambda s: unicodedata.normalize("NFC", s)  # noqa: E731

GOLD = {
    "/bn/2020/08/23646/": dict(
        title="এমপির ভাইকে নিজ বাড়ির সামনেই কুপিয়ে হত্যা", date="2020-08-29",
        must=["কুষ্টিয়া-১ (দৌলতপুর) আসনের সংসদ সদস্য (এমপি) অ্যাডভোকেট", "আজ শনিবার (২৯ আগস্ট) সকাল সাড়ে ৭টার"],
        must_not=["করোনায় আরও ৩২ জনের মৃত্যু, নতুন শনাক্ত ২১৩১", "ইভ্যালির সিইও রাসেলের"]),
    "/news/world-us-canada-52241221": dict(
        title="Coronavirus: New York ramps up mass burials amid outbreak", date="2020-04-10",
        must=["ried in a mass grave in New York City, as the death toll from the coronavirus continues to rise.",
              "The daily rise in coronavirus deaths announced", "unemployment claims had topped"],
        must_not=["Can we answer your question on the coronavirus?", "Four out of five jobs affected by virus globally",
                  "Top Stories"]),
}


def _news_site() -> LocalSite:
    return LocalSite({
        "/": html('<html><body><a href="/bn/2020/08/23646/">bn</a> <a href="/news/world-us-canada-52241221">en</a>'
                  "</body></html>"),
        "/bn/2020/08/23646/": Reply(200, BN_PAGE.read_bytes(), {"Content-Type": "text/html; charset=UTF-8"}),
        "/news/world-us-canada-52241221": Reply(200, EN_PAGE.read_bytes(), {"Content-Type": "text/html"}),
    })


def _docs(summary) -> dict:
    rows = read_table(Path(summary["snapshot_dir"]) / "documents-00000.parquet").to_pylist()
    return {r["url"]: Document.model_validate(r) for r in rows}


@pytest.mark.parametrize("processes", [1, 2])
def test_bundled_news_pages_meet_trafilatura_gold(tmp_path, processes):
    with _news_site() as site:
        summary = crawl(config(site, ["/"], max_depth=1, documents={"min_chars": 100}), tmp_path, day=DAY,
                        processes=processes, quiet=True)
    docs = _docs(summary)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    assert summary["documents"] == 2 and summary["fetched"] == 3
    for path, gold in GOLD.items():
        doc = docs[site.url(path)]
        assert doc.title == gold["title"]
        assert doc.revision_time.date().isoformat() == gold["date"]
        for text in gold["must"]:
            assert NFC(text) in doc.text, text
        for text in gold["must_not"]:
            assert NFC(text) not in doc.text, text
        assert doc.page_id is None and doc.source == "testsite" and doc.license == "test-only"
        rec = manifest[site.url(path)]
        assert rec.status == "ok" and rec.records == 1 and rec.http_status == 200
        assert rec.bytes == len((BN_PAGE if path.startswith("/bn") else EN_PAGE).read_bytes())
    # the start page is a link list: fetched and followed, but too little text for a Document
    assert manifest[site.url("/")].status == "skipped" and manifest[site.url("/")].reason.startswith("too-little-text")


def test_content_selector_and_document_url_patterns(tmp_path):
    with _news_site() as site:
        cfg = config(site, ["/"], max_depth=1,
                     documents={"content_selector": "div.td-post-content, div.story-body__inner",
                                "url_patterns": [r"/bn/\d{4}/"], "min_chars": 100})
        summary = crawl(cfg, tmp_path, day=DAY, quiet=True)
    docs = _docs(summary)
    assert list(docs) == [site.url("/bn/2020/08/23646/")]  # the en page is fetched but is not an article URL here
    doc = docs[site.url("/bn/2020/08/23646/")]
    assert NFC("আজ শনিবার (২৯ আগস্ট) সকাল সাড়ে ৭টার") in doc.text
    assert NFC("ইভ্যালির সিইও রাসেলের") not in doc.text
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    assert manifest[site.url("/news/world-us-canada-52241221")].status == "ok"
    assert manifest[site.url("/news/world-us-canada-52241221")].records == 0


def _chain_site(n: int) -> LocalSite:
    routes = {}
    for i in range(n):
        links = f'<a href="/p{i + 1}">next</a> <a class="skip" href="/tag/{i}">tag</a> <a href="/p{i}#top">self</a>'
        routes[f"/p{i}"] = html(f"<html><body><nav>{links}</nav><article><p>Chained page {i} of the local test site, "
                                f"with a sentence of body text.</p></article></body></html>")
    return LocalSite(routes)


def test_link_rules_depth_and_max_pages(tmp_path):
    with _chain_site(10) as site:
        summary = crawl(config(site, ["/p0"], max_depth=3, links={"deny": [r"/tag/"]}), tmp_path / "a",
                        day=DAY, quiet=True)
        fetched = sorted(p for _t, _h, p in site.log if p != "/robots.txt")
    assert fetched == ["/p0", "/p1", "/p2", "/p3"]  # depth 3; /tag/ denied; #top is the same page
    assert summary["urls_attempted"] == 4

    with _chain_site(10) as site:
        summary = crawl(config(site, ["/p0"], max_depth=9, max_pages=5, links={"selectors": ["nav a.skip"]}),
                        tmp_path / "b", day=DAY, quiet=True)
        fetched = sorted(p for _t, _h, p in site.log if p != "/robots.txt")
    assert fetched == ["/p0", "/tag/0"]  # only links matched by the CSS selector are followed

    with _chain_site(10) as site:
        summary = crawl(config(site, ["/p0"], max_depth=9, max_pages=5, links={"allow": [r"/p\d+$"]}),
                        tmp_path / "c", day=DAY, quiet=True)
        fetched = sorted(p for _t, _h, p in site.log if p != "/robots.txt")
    assert fetched == ["/p0", "/p1", "/p2", "/p3", "/p4"]  # max_pages; only URLs matching `allow`
    assert summary["urls_attempted"] == 5 and summary["documents"] == 5


def test_sitemap_urls(tmp_path):
    site = LocalSite()
    urlset = ("<?xml version='1.0' encoding='UTF-8'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
              + "".join(f"<url><loc>{site.url(f'/s{i}')}</loc></url>" for i in range(3))
              + "<url><loc>http://elsewhere.example/x</loc></url></urlset>")
    index = ("<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
             f"<sitemap><loc>{site.url('/sitemap-1.xml')}</loc></sitemap></sitemapindex>")
    site.routes.update({"/sitemap.xml": Reply(200, index.encode(), {"Content-Type": "application/xml"}),
                        "/sitemap-1.xml": Reply(200, urlset.encode(), {"Content-Type": "text/xml"})})
    site.routes.update({f"/s{i}": html(f"<p>Sitemap page number {i} with a little text.</p>") for i in range(3)})
    with site:
        summary = crawl(config(site, [], sitemap_urls=[site.url("/sitemap.xml")], max_depth=0), tmp_path,
                        day=DAY, quiet=True)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    assert summary["sitemaps"] == 2 and summary["documents"] == 3
    assert all(manifest[site.url(f"/s{i}")].status == "ok" for i in range(3))
    assert manifest[site.url("/sitemap-1.xml")].status == "ok"
    assert not any("elsewhere" in u for u in manifest)


def test_concurrency_across_hosts_keeps_per_host_spacing(tmp_path):
    """Two host names on one server: both are crawled at once, each never faster than its delay."""
    site = LocalSite()
    for host in ("127.0.0.1", "localhost"):
        for i in range(4):
            site.routes[f"/{host}/{i}"] = html(f"<p>Page {i} for host {host}, with words enough.</p>")
    with site:
        start = [site.url(f"/{h}/{i}", host=h) for h in ("127.0.0.1", "localhost") for i in range(4)]
        cfg = config(site, [], start_urls=start, allowed_domains=["127.0.0.1", "localhost"], delay=0.25,
                     concurrency=2)
        summary = crawl(cfg, tmp_path, day=DAY, quiet=True)
    assert summary["documents"] == 8
    by_host: dict[str, list[float]] = {}
    for t, h, p in site.log:
        by_host.setdefault(h, []).append(t)
    for host, times in by_host.items():
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(times) == 5 and min(gaps) >= 0.25, (host, gaps)
    # overlap: the second host started before the first one finished
    assert max(by_host["127.0.0.1"][0], by_host["localhost"][0]) < min(by_host["127.0.0.1"][-1],
                                                                       by_host["localhost"][-1])


def test_duplicate_text_is_not_a_second_document(tmp_path):
    page = html("<p>The very same article text served under two different addresses.</p>")
    with LocalSite({"/a": page, "/b": page}) as site:
        summary = crawl(config(site, ["/a", "/b"], concurrency=1), tmp_path, day=DAY, quiet=True)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    assert summary["documents"] == 1
    assert manifest[site.url("/b")].status == "skipped"
    assert manifest[site.url("/b")].reason == f"duplicate-text: same text as {site.url('/a')}"


def test_meta_robots_noindex_nofollow(tmp_path):
    page = ('<html><head><meta name="robots" content="noindex, nofollow"></head><body>'
            '<p>A page that asks not to be indexed, with a link that must not be followed.</p>'
            '<a href="/hidden">hidden</a></body></html>')
    with LocalSite({"/p": html(page), "/hidden": html("<p>Never fetched because of nofollow.</p>")}) as site:
        summary = crawl(config(site, ["/p"]), tmp_path, day=DAY, quiet=True)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    rec = manifest[site.url("/p")]
    assert rec.status == "skipped" and rec.reason.startswith("meta-robots-noindex") and rec.records == 0
    assert "/hidden" not in site.hits and summary["documents"] == 0
