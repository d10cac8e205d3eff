"""The collector against a real HTTP server on 127.0.0.1 with fault endpoints.

Each test runs a real crawl and checks both what the server saw and the LineageRecord written
to manifest.parquet for the URL.
"""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path

import pytest
import requests

from bilingual.sources.web.crawl import crawl
from bilingual.storage import read_manifest, read_table
from bilingual.sources.web.fetch import parse_retry_after

from _scrape_helpers import LocalSite, Reply, config, endless, html, sequence, slow

DAY = "2026-01-01"
PAGE = "<html><head><title>t</title></head><body><article><p>{}</p></article></body></html>"
BN_TEXT = "কুষ্টিয়া-১ (দৌলতপুর) আসনের সংসদ সদস্য অ্যাডভোকেট আজ শনিবার সকালে এলাকায় গিয়েছিলেন।"


def run(site, tmp_path, start, **overrides):
    summary = crawl(config(site, start, **overrides), tmp_path, day=DAY, quiet=True)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    docs = {d["url"]: d for d in read_table(Path(summary["snapshot_dir"]) / "documents-00000.parquet").to_pylist()}
    return summary, manifest, docs


def test_500_then_200_is_retried(tmp_path):
    with LocalSite({"/p": sequence(html("boom", 500), html(PAGE.format("the page after a server error")))}) as site:
        summary, manifest, docs = run(site, tmp_path, ["/p"])
    rec = manifest[site.url("/p")]
    assert site.hits["/p"] == 2
    assert (rec.status, rec.http_status, rec.attempts, rec.robots) == ("ok", 200, 2, "allowed")
    assert rec.records == 1 and rec.sha256 and rec.bytes > 0
    assert "the page after a server error" in docs[site.url("/p")]["text"]
    # the raw body is kept compressed beside the manifest, named by the sha256 in the lineage
    assert (Path(summary["snapshot_dir"]) / "html" / f"{rec.sha256}.html.gz").exists()


def test_dropped_connection_is_retried(tmp_path):
    def route(handler, n):
        if n == 1:  # hang up without answering
            handler.close_connection = True
            return None
        return html(PAGE.format("answered on the second connection"))

    with LocalSite({"/p": route}) as site:
        _, manifest, docs = run(site, tmp_path, ["/p"])
    rec = manifest[site.url("/p")]
    assert site.hits["/p"] == 2 and (rec.status, rec.attempts, rec.http_status) == ("ok", 2, 200)
    assert site.url("/p") in docs


def test_unreachable_host_is_disallowed_and_recorded(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with LocalSite() as site:
        cfg = config(site, [], start_urls=[f"http://127.0.0.1:{port}/x"], max_attempts=2)
        summary = crawl(cfg, tmp_path, day=DAY, quiet=True)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    robots = manifest[f"http://127.0.0.1:{port}/robots.txt"]
    assert robots.status == "error" and robots.reason.startswith("connection-error") and robots.attempts == 2
    page = manifest[f"http://127.0.0.1:{port}/x"]
    assert (page.status, page.robots, page.attempts) == ("skipped", "unreachable", 0)


def test_5xx_every_time_gives_up_after_max_attempts(tmp_path):
    with LocalSite({"/p": html("down", 503)}) as site:
        summary, manifest, docs = run(site, tmp_path, ["/p"], max_attempts=3)
    rec = manifest[site.url("/p")]
    assert site.hits["/p"] == 3
    assert (rec.status, rec.http_status, rec.attempts) == ("error", 503, 3)
    assert rec.reason.startswith("http-503")
    assert summary["failed"] == {"http-503": 1} and not docs


def test_404_is_not_retried(tmp_path):
    with LocalSite({"/": html(PAGE.format('<a href="/gone">x</a> some words of text here'))}) as site:
        summary, manifest, _ = run(site, tmp_path, ["/", "/gone"])
    rec = manifest[site.url("/gone")]
    assert site.hits["/gone"] == 1
    assert (rec.status, rec.http_status, rec.attempts, rec.reason) == ("error", 404, 1, "http-404")


def test_429_retry_after_seconds_is_honoured(tmp_path):
    routes = {"/p": sequence(html("slow down", 429, **{"Retry-After": "1"}), html(PAGE.format("served after waiting")))}
    with LocalSite(routes) as site:
        _, manifest, docs = run(site, tmp_path, ["/p"], backoff=0.01)
    first, second = site.requests_for("/p")
    assert second - first >= 1.0  # backoff alone would be ~0.01-0.02 s
    rec = manifest[site.url("/p")]
    assert (rec.status, rec.http_status, rec.attempts) == ("ok", 200, 2)
    assert site.url("/p") in docs


def test_429_retry_after_http_date_is_honoured(tmp_path):
    def route(handler, n):
        if n == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
            return html("later", 429, **{"Retry-After": when})
        return html(PAGE.format("served after the HTTP-date"))

    with LocalSite({"/p": route}) as site:
        _, manifest, _ = run(site, tmp_path, ["/p"], backoff=0.01)
    first, second = site.requests_for("/p")
    assert second - first >= 0.9
    assert manifest[site.url("/p")].attempts == 2


def test_retry_after_beyond_limit_gives_up(tmp_path):
    with LocalSite({"/p": html("come back tomorrow", 429, **{"Retry-After": "86400"})}) as site:
        _, manifest, _ = run(site, tmp_path, ["/p"], max_retry_after=5)
    rec = manifest[site.url("/p")]
    assert site.hits["/p"] == 1
    assert rec.status == "error" and "Retry-After" in rec.reason and rec.http_status == 429


def test_parse_retry_after_forms():
    assert parse_retry_after("120") == 120.0
    from datetime import datetime, timezone
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_response_slower_than_timeout(tmp_path):
    with LocalSite({"/slow": slow(1.5, html(PAGE.format("too late"))),
                    "/ok": html(PAGE.format("a quick page with text"))}) as site:
        summary, manifest, docs = run(site, tmp_path, ["/slow", "/ok"], timeout=0.3, max_attempts=2)
    rec = manifest[site.url("/slow")]
    assert site.hits["/slow"] == 2
    assert rec.status == "error" and rec.reason.startswith("timeout") and rec.attempts == 2
    assert site.url("/slow") not in docs
    assert manifest[site.url("/ok")].status == "ok"  # the crawl went on


def test_endless_body_is_cut_at_max_bytes(tmp_path):
    with LocalSite({"/big": endless()}) as site:
        summary, manifest, docs = run(site, tmp_path, ["/big"], max_bytes=50_000)
    rec = manifest[site.url("/big")]
    assert rec.status == "skipped" and rec.reason.startswith("too-large")
    assert rec.bytes == 50_000 and rec.http_status == 200 and rec.attempts == 1
    assert site.hits["/big"] == 1 and not docs


def test_declared_content_length_beyond_max_bytes(tmp_path):
    with LocalSite({"/big": html(PAGE.format("x" * 5000))}) as site:
        _, manifest, _ = run(site, tmp_path, ["/big"], max_bytes=2048)
    rec = manifest[site.url("/big")]
    assert rec.status == "skipped" and rec.reason.startswith("too-large: Content-Length")


def test_robots_disallow_and_crawl_delay(tmp_path):
    robots = "User-agent: *\nDisallow: /private\nCrawl-delay: 0.3\n"
    index = PAGE.format(" ".join(f'<a href="/a{i}">a{i}</a>' for i in range(4)) + ' <a href="/private/x">p</a> words')
    routes = {"/robots.txt": Reply(200, robots.encode(), {"Content-Type": "text/plain"}), "/": html(index)}
    routes.update({f"/a{i}": html(PAGE.format(f"page number {i} with enough text")) for i in range(4)})
    with LocalSite(routes) as site:
        summary, manifest, docs = run(site, tmp_path, ["/"], delay=0.0)
    assert site.hits["/robots.txt"] == 1  # fetched once, cached
    assert "/private/x" not in site.hits
    rec = manifest[site.url("/private/x")]
    assert (rec.status, rec.robots, rec.attempts, rec.http_status) == ("skipped", "disallowed", 0, None)
    assert rec.reason == "robots.txt disallows"
    pages = sorted(t for t, _h, p in site.log if p != "/robots.txt")
    assert len(pages) == 5
    gaps = [b - a for a, b in zip(pages, pages[1:])]
    assert min(gaps) >= 0.3, gaps  # Crawl-delay beats the configured delay of 0
    assert all(manifest[site.url(f"/a{i}")].robots == "allowed" for i in range(4))
    robots_rec = manifest[site.url("/robots.txt")]
    assert robots_rec.status == "ok" and robots_rec.robots == "robots.txt" and robots_rec.http_status == 200
    assert summary["skipped_robots"] == 1


def test_robots_group_for_our_agent_and_request_rate(tmp_path):
    robots = ("User-agent: *\nDisallow: /\n\n"
              "User-agent: bilingual-corpus-bot\nDisallow: /nobot\nRequest-rate: 4/1\n")
    routes = {"/robots.txt": Reply(200, robots.encode(), {"Content-Type": "text/plain"}),
              "/a": html(PAGE.format('first page text <a href="/b">b</a> <a href="/nobot">n</a>')),
              "/b": html(PAGE.format("second page text, long enough"))}
    with LocalSite(routes) as site:
        _, manifest, _ = run(site, tmp_path, ["/a"])
    assert manifest[site.url("/a")].robots == "allowed" and manifest[site.url("/b")].status == "ok"
    assert manifest[site.url("/nobot")].robots == "disallowed" and "/nobot" not in site.hits
    a, b = site.requests_for("/a")[0], site.requests_for("/b")[0]
    assert b - a >= 0.25  # Request-rate 4/1 -> 0.25 s between requests


def test_robots_5xx_disallows_host_and_4xx_allows(tmp_path):
    with LocalSite({"/robots.txt": html("oops", 500), "/p": html(PAGE.format("never fetched"))}) as site:
        summary, manifest, _ = run(site, tmp_path, ["/p"], max_attempts=2)
    rec = manifest[site.url("/p")]
    assert "/p" not in site.hits
    assert rec.status == "skipped" and rec.robots == "unreachable" and "unreachable" in rec.reason
    assert manifest[site.url("/robots.txt")].status == "error"
    assert summary["skipped_robots"] == 1

    with LocalSite({"/p": html(PAGE.format("fetched because robots.txt is 404"))}) as site:
        _, manifest, docs = run(site, tmp_path / "b", ["/p"])
    assert site.hits["/robots.txt"] == 1 and site.hits["/p"] == 1
    assert manifest[site.url("/p")].robots == "allowed" and site.url("/p") in docs
    assert manifest[site.url("/robots.txt")].http_status == 404


def test_redirects_rechecked_against_domains_and_robots(tmp_path):
    site = LocalSite()
    site.routes.update({
        "/robots.txt": Reply(200, b"User-agent: *\nDisallow: /private\n", {"Content-Type": "text/plain"}),
        "/offsite": Reply(302, b"", {"Location": site.url("/landing", host="localhost")}),
        "/to-private": Reply(301, b"", {"Location": "/private/secret"}),
        "/moved": Reply(301, b"", {"Location": "/new-home"}),
        "/new-home": html(PAGE.format("the page that moved here")),
        "/loop": Reply(302, b"", {"Location": "/loop"}),
        "/to-ftp": Reply(302, b"", {"Location": "ftp://127.0.0.1/file"}),
        "/landing": html(PAGE.format("must not be fetched")),
    })
    with site:
        _, manifest, docs = run(site, tmp_path, ["/offsite", "/to-private", "/moved", "/loop", "/to-ftp"],
                                max_redirects=3)
    assert not [h for _t, h, _p in site.log if h == "localhost"] and "/landing" not in site.hits
    off = manifest[site.url("/offsite")]
    assert off.status == "skipped" and off.reason.startswith("redirect-offsite") and off.http_status == 302
    priv = manifest[site.url("/to-private")]
    assert priv.status == "skipped" and priv.robots == "disallowed" and "/private/secret" not in site.hits
    assert priv.final_url == site.url("/private/secret") and "after redirect" in priv.reason
    moved = manifest[site.url("/moved")]
    assert moved.status == "ok" and moved.final_url == site.url("/new-home") and moved.attempts == 2
    assert site.url("/new-home") in docs
    loop = manifest[site.url("/loop")]
    assert loop.status == "skipped" and loop.reason.startswith("too-many-redirects") and site.hits["/loop"] == 4
    ftp = manifest[site.url("/to-ftp")]
    assert ftp.status == "skipped" and "non-http" in ftp.reason


def test_non_html_content_type_and_non_http_links(tmp_path):
    page = PAGE.format('text <a href="/doc.pdf">pdf</a> <a href="ftp://127.0.0.1/f">ftp</a> '
                       '<a href="mailto:a@b.c">mail</a> <a href="javascript:void(0)">js</a>')
    routes = {"/": html(page), "/doc.pdf": Reply(200, b"%PDF-1.4 " + b"x" * 10_000, {"Content-Type": "application/pdf"})}
    with LocalSite(routes) as site:
        summary, manifest, docs = run(site, tmp_path, ["/"])
    rec = manifest[site.url("/doc.pdf")]
    assert rec.status == "skipped" and rec.reason == "content-type: application/pdf"
    assert rec.bytes == 0 and rec.http_status == 200 and rec.sha256 is None
    assert not any(u.startswith(("ftp", "mailto", "javascript")) for u in manifest)
    assert set(manifest) == {site.url("/"), site.url("/doc.pdf"), site.url("/robots.txt")}
    assert summary["skipped"] == {"content-type": 1}


def test_malformed_html_never_stops_the_crawl(tmp_path):
    junk = b"\x00\x01<html><body><p>unclosed <div><table><tr><td>\xff\xfe garbage" + bytes(range(256)) * 20
    routes = {"/": html(PAGE.format('<a href="/junk">j</a> <a href="/empty">e</a> <a href="/good">g</a> start page')),
              "/junk": Reply(200, junk, {"Content-Type": "text/html"}),
              "/empty": Reply(200, b"", {"Content-Type": "text/html"}),
              "/good": html(PAGE.format("the good page after the junk"))}
    with LocalSite(routes) as site:
        summary, manifest, docs = run(site, tmp_path, ["/"], concurrency=1)
    for path in ("/junk", "/empty"):
        rec = manifest[site.url(path)]
        assert rec.status in ("skipped", "error") and rec.reason and rec.records == 0
    assert manifest[site.url("/good")].status == "ok" and site.url("/good") in docs


# ---------------------------------------------------------------- charsets
# Python has no codec for a true legacy Bengali encoding (ISCII), and Bijoy/SutonnyMJ is a font hack
# on ASCII that no charset label can describe. So these tests check the declarations a real Bengali
# page can carry: a UTF-16 page declared in the HTTP header, a UTF-8 page declared only by
# <meta http-equiv> (no header charset: `requests` alone would decode it as ISO-8859-1), a page with
# no declaration at all, a page mislabelled ISO-8859-1, and a windows-1252 page declared by <meta>.

def _bn_page(meta: str = "", n: int = 0) -> str:
    return (f"<html><head>{meta}<title>বাংলা</title></head><body><article><p>{BN_TEXT}</p><p>পৃষ্ঠা {n}</p>"
            "</article></body></html>")


CHARSET_CASES = {
    "/utf16": Reply(200, _bn_page().encode("utf-16"), {"Content-Type": "text/html; charset=utf-16"}),
    "/meta-http-equiv": Reply(200, _bn_page('<meta http-equiv="Content-Type" content="text/html; charset=utf-8">', 1)
                              .encode("utf-8"), {"Content-Type": "text/html"}),
    "/undeclared": Reply(200, _bn_page(n=2).encode("utf-8"), {"Content-Type": "text/html"}),
    "/mislabelled": Reply(200, _bn_page(n=3).encode("utf-8"), {"Content-Type": "text/html; charset=iso-8859-1"}),
}


def test_bengali_charsets(tmp_path):
    with LocalSite(dict(CHARSET_CASES)) as site:
        # the naive client gets it wrong, so the test can fail
        naive = requests.get(site.url("/meta-http-equiv"), timeout=5)
        assert BN_TEXT not in naive.text and naive.encoding.lower() == "iso-8859-1"
        summary, manifest, docs = run(site, tmp_path, list(CHARSET_CASES))
    journal = [json.loads(line) for line in (Path(summary["snapshot_dir"]) / "journal.jsonl").read_text().splitlines()]
    how = {e["lineage"]["url"]: (e.get("encoding"), e.get("charset_source")) for e in journal if e["kind"] == "page"}
    expected = {"/utf16": ("utf-16", "bom"), "/meta-http-equiv": ("utf-8", "meta"),
                "/undeclared": ("utf-8", "utf-8-valid"), "/mislabelled": ("utf-8", "http-header-corrected")}
    import unicodedata
    for path, (enc, source) in expected.items():
        url = site.url(path)
        assert manifest[url].status == "ok" and manifest[url].records == 1, path
        assert unicodedata.normalize("NFC", BN_TEXT) in docs[url]["text"], path
        assert how[url] == (enc, source), path


def test_legacy_single_byte_declaration(tmp_path):
    text = "\u201cQuoted\u201d caf\u00e9 text in a legacy Western page with enough words"
    body = f'<html><head><meta charset="windows-1252"></head><body><p>{text}</p></body></html>'.encode("cp1252")
    with LocalSite({"/w": Reply(200, body, {"Content-Type": "text/html"})}) as site:
        _, manifest, docs = run(site, tmp_path, ["/w"])
    assert text in docs[site.url("/w")]["text"]


def test_decode_html_evidence_order():
    from bilingual.sources.web.fetch import decode_html

    western = '<meta charset="windows-1252"><p>\u201cdéjà vu\u201d</p>'.encode("cp1252")
    # a wrong header charset (the bytes are not UTF-8) gives way to the in-document declaration
    assert decode_html(western, "text/html; charset=utf-8")[1:] == ("cp1252", "meta")
    xml_decl = '<?xml version="1.0" encoding="windows-1252"?><html><p>\u201cquoted\u201d</p></html>'.encode("cp1252")
    text, enc, how = decode_html(xml_decl, "application/xhtml+xml")
    assert "\u201cquoted\u201d" in text and (enc, how) == ("cp1252", "meta")
    bn = "<p>বাংলা লেখা</p>".encode("utf-16-be")
    assert decode_html(bn, "text/html; charset=utf-16be")[0] == "<p>বাংলা লেখা</p>"


def test_huge_robots_txt_is_cut_at_500_kib_not_refused(tmp_path):
    robots = ("User-agent: *\nDisallow: /private\n" + "# padding\n" * 80_000 + "Disallow: /p\n").encode()
    routes = {"/robots.txt": Reply(200, robots, {"Content-Type": "text/plain"}),
              "/p": html(PAGE.format("allowed: the rule after 500 KiB is never read")),
              "/private": html(PAGE.format("disallowed by the first rule"))}
    with LocalSite(routes) as site:
        _, manifest, _ = run(site, tmp_path, ["/p", "/private"])
    assert len(robots) > 512_000
    assert manifest[site.url("/robots.txt")].status == "ok" and manifest[site.url("/robots.txt")].bytes == 512_000
    assert manifest[site.url("/p")].status == "ok" and manifest[site.url("/private")].robots == "disallowed"
