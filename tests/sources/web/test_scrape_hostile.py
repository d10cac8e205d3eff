"""The crawler against a hostile server on 127.0.0.1: dribbled bodies and headers, robots.txt that redirects
to another host, failures a rerun must retry, and a Latin-1 page that declares no charset.

Assertions are on what the server saw and what the crawl wrote, never on elapsed time.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from bilingual.sources.web.crawl import crawl
from bilingual.storage import read_manifest, read_table

from _scrape_helpers import LocalSite, Reply, config, html

DAY = "2026-01-01"
PAGE = "<html><head><title>t</title></head><body><article><p>{}</p></article></body></html>"
BN_TEXT = "কুষ্টিয়া-১ (দৌলতপুর) আসনের সংসদ সদস্য অ্যাডভোকেট আজ শনিবার সকালে এলাকায় গিয়েছিলেন।"


def run(site, tmp_path, start, **overrides):
    summary = crawl(config(site, start, **overrides), tmp_path, day=DAY, quiet=True)
    snap = Path(summary["snapshot_dir"])
    manifest = {r.url: r for r in read_manifest(snap)}
    docs = {d["url"]: d for p in sorted(snap.glob("documents-*.parquet")) for d in read_table(p).to_pylist()}
    return summary, manifest, docs


def journal(summary) -> list[dict]:
    text = (Path(summary["snapshot_dir"]) / "journal.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


class Dribble:
    """Sends `size` bytes one at a time every `interval` seconds: the body (after honest headers with
    Content-Length), or the headers themselves. Records how many bytes each connection got out."""

    def __init__(self, size: int = 40, interval: float = 0.25, in_headers: bool = False):
        self.size, self.interval, self.in_headers = size, interval, in_headers
        self.sent: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, handler, n):
        with self._lock:
            slot = len(self.sent)
            self.sent.append(0)
        handler.close_connection = True
        try:
            if self.in_headers:
                handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
                payload = b"X-Slow: " + b"a" * (self.size - 10) + b"\r\n\r\n"
            else:
                handler.send_response(200)
                handler.send_header("Content-Type", "text/html; charset=utf-8")
                handler.send_header("Content-Length", str(self.size))
                handler.end_headers()
                handler.wfile.flush()
                payload = b"<p>" + b"x" * (self.size - 7) + b"</p>"
            for i in range(len(payload)):
                handler.wfile.write(payload[i:i + 1])
                handler.wfile.flush()
                self.sent[slot] += 1
                time.sleep(self.interval)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        return None


def test_dribbled_body_and_headers_cannot_hold_a_fetch_beyond_its_timeout(tmp_path):
    body, headers = Dribble(), Dribble(in_headers=True)
    # 40 bytes at 4 per second: 10 s per attempt if the client waited for them; the timeout is 1 s
    with LocalSite({"/body": body, "/headers": headers}) as site:
        _, manifest, docs = run(site, tmp_path, ["/body", "/headers"], timeout=1.0, max_attempts=2)
        time.sleep(0.6)  # let the server notice the hang-ups
    for path, dribble in (("/body", body), ("/headers", headers)):
        rec = manifest[site.url(path)]
        assert (rec.status, rec.attempts) == ("error", 2), path
        assert rec.reason.startswith("timeout") and "total deadline" in rec.reason, rec.reason
        assert site.hits[path] == 2 and len(dribble.sent) == 2
        # each connection was cut long before the server had sent everything (1 s ≈ 4 bytes, plus the lag
        # until a write notices the closed socket)
        assert all(n < dribble.size // 2 for n in dribble.sent), (path, dribble.sent)
    assert not docs


def test_robots_redirect_to_another_host_is_not_followed(tmp_path):
    def robots(handler, n):
        host = (handler.headers.get("Host") or "").split(":")[0]
        if host == "127.0.0.1":
            return Reply(301, b"", {"Location": f"http://localhost:{handler.server.server_address[1]}/robots.txt"})
        return Reply(200, b"User-agent: *\nDisallow: /\n", {"Content-Type": "text/plain"})

    with LocalSite({"/robots.txt": robots, "/p": html(PAGE.format(BN_TEXT))}) as site:
        summary, manifest, docs = run(site, tmp_path, ["/p"])
    # the other host was never asked, its "Disallow: /" was never applied nor stored as ours
    assert [h for _t, h, _p in site.log if h != "127.0.0.1"] == []
    assert manifest[site.url("/p")].status == "ok" and site.url("/p") in docs
    entry = next(e for e in journal(summary) if e["kind"] == "robots")
    assert entry["entry"]["state"] == "allow-all" and entry["entry"]["body"] == ""
    assert "another host" in entry["entry"]["reason"]


def test_robots_redirect_within_the_host_is_followed(tmp_path):
    routes = {"/robots.txt": Reply(301, b"", {"Location": "/real-robots.txt"}),
              "/real-robots.txt": Reply(200, b"User-agent: *\nDisallow: /private\n", {"Content-Type": "text/plain"}),
              "/": html(PAGE.format(BN_TEXT + ' <a href="/private/x">x</a>')),
              "/private/x": html(PAGE.format("secret"))}
    with LocalSite(routes) as site:
        _, manifest, _ = run(site, tmp_path, ["/", "/private/x"])
    assert manifest[site.url("/private/x")].robots == "disallowed" and site.hits.get("/private/x") is None
    assert site.hits["/real-robots.txt"] == 1


def test_same_day_rerun_retries_what_failed(tmp_path):
    state = {"up": False}

    def flaky(text):
        def route(handler, n):
            return html(PAGE.format(text)) if state["up"] else html("down", 503)
        return route

    def robots(handler, n):
        return (Reply(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"}) if state["up"]
                else html("down", 500))

    ok_routes = {"/robots.txt": Reply(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"}),
                 "/": html(PAGE.format(BN_TEXT + ' <a href="/a">a</a> <a href="/b">b</a>')),
                 "/a": flaky("page a " + BN_TEXT), "/b": html(PAGE.format("page b " + BN_TEXT))}
    with LocalSite(ok_routes) as site, LocalSite({"/robots.txt": robots, "/c": flaky("page c " + BN_TEXT)}) as other:
        cfg = dict(allowed_domains=["127.0.0.1", "localhost"], max_attempts=2)
        start = [site.url("/"), other.url("/c", host="localhost")]
        first, manifest, docs = run(site, tmp_path, ["/"], start_urls=start, **cfg)
        a, c = site.url("/a"), other.url("/c", host="localhost")
        assert manifest[a].status == "error" and manifest[c].robots == "unreachable", {u: (r.status, r.reason) for u, r in manifest.items()}
        assert first["documents"] == 2 and first["retried"] == 0
        hits_before = dict(site.hits)
        state["up"] = True
        second, manifest, docs = run(site, tmp_path, ["/"], start_urls=start, **cfg)
    # only the failures were fetched again (and the unreachable robots.txt); the manifest keeps the latest
    assert {p: site.hits[p] - hits_before.get(p, 0) for p in site.hits} == {"/robots.txt": 0, "/": 0, "/a": 1, "/b": 0}
    assert other.hits["/robots.txt"] == 2 + 1 and other.hits["/c"] == 1
    assert (manifest[a].status, manifest[c].status, manifest[c].robots) == ("ok", "ok", "allowed")
    assert len(read_manifest(second["snapshot_dir"])) == len(manifest)  # one row per URL
    assert second["retried"] == 2 and second["documents"] == 4 and second["failed"] == {}
    assert "page a" in docs[a]["text"] and "page c" in docs[c]["text"]


def test_latin1_page_without_declared_charset_is_not_mojibake(tmp_path):
    text = ("Le café est très bon. Où est la gare ? Ça va très bien, merci. Il était une fois une princesse "
            "qui habitait dans un château près de la forêt.")
    body = f"<html><head><title>Café</title></head><body><article><p>{text}</p></article></body></html>"
    with LocalSite({"/fr": Reply(200, body.encode("latin-1"), {"Content-Type": "text/html"})}) as site:
        summary, manifest, docs = run(site, tmp_path, ["/fr"])
    assert text in docs[site.url("/fr")]["text"]
    entry = next(e for e in journal(summary) if e["kind"] == "page")
    assert (entry["encoding"], entry["charset_source"]) == ("cp1252", "detected")
