"""The crawler's compact state: 64-bit key indexes, and a frontier that keeps `frontier_memory` URLs per host in
memory and the rest, in order, on disk (then is rebuilt from the journal on a restart)."""

from __future__ import annotations

import random

from bilingual.sources.web.crawl import FRONTIER_DIR, crawl
from bilingual.sources.web.frontier import Frontier, HashIndex, key64
from bilingual.storage import read_manifest

from _scrape_helpers import LocalSite, config, html

DAY = "2026-01-04"


def test_hash_index_matches_a_dict_across_merges():
    rng = random.Random(5)
    keys = [rng.getrandbits(64) for _ in range(3000)] + [0, 2**64 - 1, 2**63]
    as_map, as_set, expected = HashIndex(values=True, recent_slots=64), HashIndex(recent_slots=64), {}
    for n, key in enumerate(keys + keys[:500]):  # the repeats overwrite values, most in the merged arrays
        as_map.add(key, n)
        as_set.add(key)
        expected[key] = n
    assert len(as_map) == len(as_set) == len(expected)
    for key, value in expected.items():
        assert as_map.get(key) == value and key in as_set
    absent = [rng.getrandbits(64) for _ in range(2000)]
    assert not any(k in as_set or as_map.get(k) is not None for k in absent if k not in expected)
    assert key64("http://a/x") == key64("http://a/x") != key64("http://a/y")


def test_frontier_keeps_fifo_order_with_most_entries_on_disk(tmp_path):
    frontier = Frontier(tmp_path / "f", in_memory=3)
    pushed, popped = [], []
    for i in range(40):
        frontier.push("a", (f"http://a/{i}", 1, "page"))
        pushed.append(f"http://a/{i}")
        if i % 7 == 6:  # pops between pushes: the order holds across spills and refills
            popped.append(frontier.pop("a")[0])
        assert len(frontier._queues["a"].head) <= 3 and len(frontier._queues["a"].tail) <= 3
    assert any((tmp_path / "f").iterdir())  # the overflow is in a file
    while frontier.peek("a") is not None:
        popped.append(frontier.pop("a")[0])
    assert popped == pushed and len(frontier) == 0
    frontier.close()
    assert not (tmp_path / "f").exists()


def _hub_site(n: int, seen_spill: list) -> LocalSite:
    """'/' links to n pages; each page request notes whether the frontier had spilled to disk by then."""
    def page(i):
        def route(handler, hits):
            seen_spill.append(any(p.suffix == ".jsonl" for p in handler.server.snapshot.glob(f"{FRONTIER_DIR}/*")))
            return html(f"<p>Article number {i} of the hub, with enough words to be kept as a document.</p>")
        return route
    routes = {"/": html("".join(f'<a href="/p/{i}">{i}</a> ' for i in range(n)))}
    routes.update({f"/p/{i}": page(i) for i in range(n)})
    return LocalSite(routes)


def test_crawl_with_a_spilled_frontier_fetches_in_link_order_and_resumes(tmp_path):
    n, spills = 30, []
    with _hub_site(n, spills) as site:
        site.server.snapshot = tmp_path / "raw" / DAY / "testsite"
        cfg = dict(concurrency=1, max_depth=1, frontier_memory=3, documents={"min_chars": 20, "url_patterns": ["/p/"]})
        first = crawl(config(site, ["/"], max_pages=12, **cfg), tmp_path, day=DAY, quiet=True)
        second = crawl(config(site, ["/"], max_pages=n + 1, **cfg), tmp_path, day=DAY, quiet=True)
        order = [path for _t, _h, path in site.log if path.startswith("/p/")]
    assert order == [f"/p/{i}" for i in range(n)]  # breadth first, in link order, each page once
    assert first["documents"] == 11 and second["documents"] == n and second["resumed_from"] == 12
    assert any(spills)  # most of the frontier waited on disk
    assert not (tmp_path / "raw" / DAY / "testsite" / FRONTIER_DIR).exists()  # scratch, removed at the end
    assert {r.url for r in read_manifest(second["snapshot_dir"])} >= {site.url(f"/p/{i}") for i in range(n)}


def test_duplicate_text_found_after_a_restart(tmp_path):
    page = html("<p>The very same article text served under two different addresses.</p>")
    with LocalSite({"/a": page, "/b": page}) as site:
        crawl(config(site, ["/a", "/b"], concurrency=1, max_pages=1), tmp_path, day=DAY, quiet=True)
        summary = crawl(config(site, ["/a", "/b"], concurrency=1, max_pages=2), tmp_path, day=DAY, quiet=True)
    manifest = {r.url: r for r in read_manifest(summary["snapshot_dir"])}
    assert summary["documents"] == 1
    assert manifest[site.url("/b")].reason == f"duplicate-text: same text as {site.url('/a')}"
