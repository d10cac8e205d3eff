"""A crawl killed with SIGKILL mid-way and restarted refetches nothing it had completed and
writes no duplicate documents; recipes are validated with errors naming file and field; the
`scrape` command prints its summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bilingual.commands.scrape import main as scrape_main
from bilingual.sources.web.crawl import crawl
from bilingual.sources.web.config import SourceConfigError, load_source
from bilingual.storage import read_manifest, read_table

from _scrape_helpers import BN_PAGE, EN_PAGE, LocalSite, Reply, html

ROOT = Path(__file__).resolve().parents[3]
DAY = "2026-01-03"
N = 24


def _site() -> LocalSite:
    """N real news pages (each a bundled page with a distinct marker in its body), each linking to all."""
    bn, en = BN_PAGE.read_text(encoding="utf-8"), EN_PAGE.read_text(encoding="utf-8")
    nav = "".join(f'<a href="/a/{i}">{i}</a> ' for i in range(N))
    routes = {}
    for i in range(N):
        page = bn if i % 2 == 0 else en
        marker = f"<p>কপি নম্বর {i}: this copy of the article is number {i}.</p>"
        anchor = "আটক করেছে পুলিশ।" if i % 2 == 0 else "continues to rise.</p>"
        assert anchor in page
        page = page.replace(anchor, anchor + marker, 1).replace("</body>", f"<nav>{nav}</nav></body>", 1)
        routes[f"/a/{i}"] = Reply(200, page.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})
    routes["/"] = html(f"<html><body>{nav}</body></html>")
    return LocalSite(routes)


def _recipe(tmp_path: Path, site: LocalSite, **extra) -> Path:
    data = dict(name="resumable", language="bn", licence="test-only", start_urls=[site.url("/")],
                allowed_domains=["127.0.0.1"], delay=0.05, timeout=5, max_pages=N + 1, max_depth=1,
                backoff=0.05, documents={"min_chars": 100})
    data.update(extra)
    path = tmp_path / "resumable.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _journal_pages(path: Path) -> set[str]:
    done = set()
    if path.exists():
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                entry = json.loads(line)
                if entry["kind"] == "page":
                    done.add(entry["lineage"]["url"])
    return done


@pytest.mark.parametrize("frontier_memory", [10_000, 2])  # 2: the frontier mostly waits in a file when killed
def test_sigkill_mid_crawl_then_resume(tmp_path, frontier_memory):
    out = tmp_path / "data"
    snap = out / "raw" / DAY / "resumable"
    with _site() as site:
        recipe = _recipe(tmp_path, site, frontier_memory=frontier_memory)
        env = dict(os.environ, PYTHONPATH=str(ROOT), BILINGUAL_QUIET="1")
        proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "scrape.py"), "--sources", str(recipe),
                                 "--output-dir", str(out), "--day", DAY, "--quiet"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while len(_journal_pages(snap / "journal.jsonl")) < 6:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the crawl made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        completed = _journal_pages(snap / "journal.jsonl")
        assert 6 <= len(completed) < N + 1, "the kill must land mid-way"
        assert not (snap / "manifest.parquet").exists()  # nothing that looks complete
        hits_before = dict(site.hits)

        summary = crawl(load_source(recipe), out, day=DAY, quiet=True)
        hits_after = dict(site.hits)
        # a finished crawl rerun fetches nothing at all
        summary2 = crawl(load_source(recipe), out, day=DAY, quiet=True)
        assert site.hits == hits_after

    assert summary["resumed_from"] == len(completed)
    for url in completed:  # nothing completed is fetched again
        path = url.split(str(site.port), 1)[1]
        assert hits_after[path] == hits_before[path] == 1, path
    assert hits_after["/robots.txt"] == 1  # the robots.txt answer is journaled too
    assert all(hits_after[f"/a/{i}"] >= 1 for i in range(N))
    assert max(hits_after[f"/a/{i}"] for i in range(N)) <= 2  # at most the pages in flight at the kill

    docs = read_table(snap / "documents-00000.parquet").to_pylist()
    urls = Counter(d["url"] for d in docs)
    assert len(docs) == N and max(urls.values()) == 1  # every article once, no duplicates
    manifest = read_manifest(snap)
    pages = Counter(r.url for r in manifest if not r.url.endswith("/robots.txt"))
    assert len(pages) == N + 1 and max(pages.values()) == 1
    assert all(r.status == "ok" for r in manifest if "/a/" in r.url)
    assert summary2["documents"] == N and summary2["resumed_from"] == N + 1


def test_torn_last_journal_line_is_ignored(tmp_path):
    with _site() as site:
        recipe = _recipe(tmp_path, site, max_pages=4)
        first = crawl(load_source(recipe), tmp_path / "d", day=DAY, quiet=True)
        journal = Path(first["snapshot_dir"]) / "journal.jsonl"
        lines = journal.read_bytes().splitlines(keepends=True)
        last_page = json.loads(lines[-1])["lineage"]["url"]
        journal.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a kill mid-write
        before = dict(site.hits)
        second = crawl(load_source(recipe), tmp_path / "d", day=DAY, quiet=True)
    path = last_page.split(str(site.port), 1)[1]
    assert site.hits[path] == before[path] + 1  # only the torn entry is redone
    assert sum(site.hits.values()) == sum(before.values()) + 1
    assert second["documents"] == first["documents"]
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())


def test_recipe_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlanguage: fr\nlicence: l\nstart_urls: [ftp://a/b]\nmax_pagez: 3\n"
                   "links: {allow: ['(']}\n", encoding="utf-8")
    with pytest.raises(SourceConfigError) as err:
        load_source(bad)
    msg = str(err.value)
    for part in (str(bad), "language", "start_urls", "max_pagez", "links.allow"):
        assert part in msg, part
    nothing = tmp_path / "none.yaml"
    nothing.write_text("name: x\nlanguage: bn\nlicence: l\n", encoding="utf-8")
    with pytest.raises(SourceConfigError, match="start_urls and/or sitemap_urls"):
        load_source(nothing)
    assert load_source(ROOT / "recipes/sources/prothomalo.yaml").language == "bn"


def test_shipped_recipes_are_valid():
    configs = [load_source(p) for p in sorted((ROOT / "recipes" / "sources").glob("*.yaml"))]
    langs = {c.language for c in configs}
    assert langs == {"bn", "en"} and all(c.delay >= 1 for c in configs)


def test_scrape_command(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    assert scrape_main(["--sources", str(bad), "--quiet"]) == 2
    captured = capsys.readouterr()
    # a config error is one line on stderr, naming the file; nothing on stdout
    assert str(bad) in captured.err and "Traceback" not in captured.err and str(bad) not in captured.out
    assert captured.err.startswith("bilingual scrape: ")

    routes = {"/robots.txt": Reply(200, b"User-agent: *\nDisallow: /private\n", {"Content-Type": "text/plain"}),
              "/": html('<p>Start page with links and a little text.</p><a href="/private/x">x</a>'
                        '<a href="/gone">g</a><a href="/bn">bn</a>'),
              "/bn": Reply(200, BN_PAGE.read_bytes(), {"Content-Type": "text/html"})}
    with LocalSite(routes) as site:
        recipe = _recipe(tmp_path, site)
        code = scrape_main(["--sources", str(recipe), "--output-dir", str(tmp_path / "o"), "--day", DAY, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    for column in ("fetched", "skipped by robots", "failed by reason", "documents", "http-404: 1"):
        assert column in out, column
    summary = json.loads((tmp_path / "o" / "raw" / DAY / "resumable" / "summary.json").read_text())
    assert summary["skipped_robots"] == 1 and summary["failed"] == {"http-404": 1} and summary["documents"] == 1
