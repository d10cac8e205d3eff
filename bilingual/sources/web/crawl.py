"""The web collector: crawl one configured site into a raw snapshot, politely and resumably.

    crawl("recipes/sources/prothomalo.yaml", "data") ->
        data/raw/<YYYY-MM-DD>/<name>/manifest.parquet      one LineageRecord per URL attempted
                                     documents-00000.parquet  extracted texts as Documents
                                     html/<sha256>.html.gz    raw bodies, named by their hash
                                     journal.jsonl            the resumable state (append-only)
                                     summary.json

Shape of a run: the main thread schedules; `concurrency` fetch threads do HTTP (one request at a
time per host, spaced by the host's delay); `processes` extraction workers (threads in this
process when 1, a process pool when more) hash, store, decode and extract each body. Every finished
URL is appended to the journal as one fsynced JSON line before anything else depends on it; a
restart replays the journal (completed URLs, their out-links, robots.txt files, documents) and
fetches only what is missing. Parquet files are written atomically from the journal at the end,
so a killed crawl never leaves a manifest that looks complete.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import queue
import re
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from datetime import date as date_cls, datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import ValidationError
from protego import Protego

from bilingual import console
from bilingual.schema import Document, LineageRecord, sha256_text, validation_message
from bilingual.storage import snapshot_dir, write_json, write_records
from bilingual.sources.web.config import SourceConfig, load_source
from bilingual.sources.web.extract import process_page
from bilingual.sources.web.fetch import (HTML_TYPES, XML_TYPES, Fetcher, FetchResult, HostPacer, RobotsEntry, domain_allowed,
                            host_of, normalize_url)

JOURNAL = "journal.jsonl"
HTML_DIR = "html"


# ----------------------------------------------------------------------------- journal

class Journal:
    """Append-only JSON lines, one fsync per entry. A torn last line (a kill mid-write) is cut off on open."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[dict] = []
        if path.exists():
            data = path.read_bytes()
            good = 0
            for line in data.splitlines(keepends=True):
                if not line.endswith(b"\n"):
                    break
                try:
                    self.entries.append(json.loads(line))
                except json.JSONDecodeError:
                    break
                good += len(line)
            if good != len(data):
                with open(path, "r+b") as fh:
                    fh.truncate(good)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "ab")

    def append(self, entry: dict) -> None:
        self._fh.write((json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.entries.append(entry)

    def close(self) -> None:
        self._fh.close()


def _lineage_json(rec: LineageRecord) -> dict:
    return rec.model_dump(mode="json")


# ----------------------------------------------------------------------------- sitemaps

def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index (gzip or plain XML)."""
    from lxml import etree

    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    root = etree.fromstring(body, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    if root is None:
        return [], []
    pages, nested = [], []
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).localname != "loc" or not (el.text or "").strip():
            continue
        parent = el.getparent()
        kind = etree.QName(parent).localname if parent is not None else "url"
        (nested if kind == "sitemap" else pages).append(el.text.strip())
    return pages, nested


# ----------------------------------------------------------------------------- crawler

def _noop() -> None:
    return None


def _extract_pool(processes: int):
    """One extraction thread, or a pool of `processes` worker processes. Workers are forked right
    here, before any fetch thread exists (forking a threaded process can copy a held lock), from a
    parent that has already imported trafilatura, so they start in milliseconds."""
    if processes <= 1:
        return ThreadPoolExecutor(1, thread_name_prefix="extract")
    import trafilatura  # noqa: F401  (inherited by the forked workers)

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method))
    for f in [pool.submit(_noop) for _ in range(processes)]:
        f.result()
    return pool


class Crawler:
    def __init__(self, config: SourceConfig, out_dir: Path, processes: int = 1, pacer: Optional[HostPacer] = None):
        self.cfg = config
        self.out = Path(out_dir)
        self.processes = max(1, int(processes))
        self.html_dir = str(self.out / HTML_DIR)
        self._allow = [re.compile(p) for p in config.links.allow]
        self._deny = [re.compile(p) for p in config.links.deny]
        self._doc_patterns = [re.compile(p) for p in config.documents.url_patterns]
        self._robots_events: "queue.Queue[tuple[RobotsEntry, int]]" = queue.Queue()
        self.pacer = pacer or HostPacer()
        self.options = {"content_selector": config.documents.content_selector,
                        "link_selectors": config.links.selectors, "follow": True}

    # -- state from the journal
    def _replay(self, journal: Journal) -> None:
        self.done: set[str] = set()
        self.seen: set[str] = set()
        self.queues: dict[str, deque] = {}
        self.docs: dict[str, dict] = {}  # url -> Document row
        self.text_owner: dict[str, str] = {}  # text sha256 -> url
        self.pages_used = 0
        self.robots: dict[str, RobotsEntry] = {}
        pending: list[tuple[str, int, str]] = []
        for entry in journal.entries:
            kind = entry.get("kind")
            if kind == "robots":
                e = entry["entry"]
                self.robots[e["origin"]] = RobotsEntry(e["origin"], e["state"], e.get("http_status"), e.get("body", ""),
                                                       e.get("reason"),
                                                       Protego.parse(e["body"]) if e["state"] == "parsed" else None)
                continue
            url = entry["lineage"]["url"]
            self.done.add(url)
            if entry.get("final_url"):
                self.done.add(entry["final_url"])
            if entry.get("fetched"):
                self.pages_used += 1 if kind == "page" else 0
            for link in entry.get("links", []):
                pending.append((link, entry.get("depth", 0) + 1, "page"))
            for sm in entry.get("sitemaps", []):
                pending.append((sm, 0, "sitemap"))
            doc = entry.get("doc")
            if doc:
                self.docs[doc["url"]] = doc
                self.text_owner[doc["sha256"]] = doc["url"]
        self.seen |= self.done
        for sm in self.cfg.sitemap_urls:
            self._enqueue(normalize_url(sm), 0, "sitemap", check_rules=False)
        for u in self.cfg.start_urls:
            self._enqueue(normalize_url(u), 0, "page", check_rules=False)
        for url, depth, kind in pending:
            self._enqueue(url, depth, kind, check_rules=False)

    def _enqueue(self, url: Optional[str], depth: int, kind: str, check_rules: bool = True) -> None:
        if url is None or url in self.seen or depth > self.cfg.max_depth:
            return
        if not domain_allowed(url, self.cfg.allowed_domains):
            return
        if check_rules and kind == "page":
            if self._allow and not any(p.search(url) for p in self._allow):
                return
            if any(p.search(url) for p in self._deny):
                return
        self.seen.add(url)
        self.queues.setdefault(host_of(url), deque()).append((url, depth, kind))

    # -- results → journal
    def _lineage(self, res: FetchResult, status: str, reason: Optional[str], sha256: Optional[str] = None,
                 records: int = 0) -> LineageRecord:
        return LineageRecord(source=self.cfg.name, url=res.url, final_url=res.final_url, time=res.fetched_at,
                             status=status, reason=reason, http_status=res.http_status, bytes=res.bytes,
                             sha256=sha256, attempts=res.attempts,
                             records=records, robots=res.robots, license=self.cfg.license)

    def _drain_robots(self) -> None:
        while True:
            try:
                entry, attempts = self._robots_events.get_nowait()
            except queue.Empty:
                return
            url = entry.origin + "/robots.txt"
            status = {"parsed": "ok", "allow-all": "ok", "unreachable": "error"}[entry.state]
            rec = LineageRecord(source=self.cfg.name, url=url, final_url=url, status=status,
                                reason=entry.reason, http_status=entry.http_status,
                                bytes=len(entry.body.encode("utf-8")), attempts=attempts,
                                sha256=sha256_text(entry.body) if entry.body else None,
                                robots="robots.txt", license=self.cfg.license)
            self.journal.append({"kind": "robots", "lineage": _lineage_json(rec),
                                 "entry": {"origin": entry.origin, "state": entry.state,
                                           "http_status": entry.http_status, "body": entry.body,
                                           "reason": entry.reason}})

    def _finish(self, res: FetchResult, depth: int, kind: str, status: str, reason: Optional[str],
                extracted: Optional[dict] = None, links: Optional[list[str]] = None, sitemaps=None) -> None:
        doc_row = None
        sha = extracted.get("sha256") if extracted else None
        if extracted and status == "ok" and kind == "page":
            doc_row, status, reason = self._document(res, extracted)
        rec = self._lineage(res, status, reason, sha, records=1 if doc_row else 0)
        if doc_row:
            self.docs[doc_row["url"]] = doc_row
            self.text_owner[doc_row["sha256"]] = doc_row["url"]
        entry = {"kind": kind, "lineage": _lineage_json(rec), "depth": depth, "final_url": res.final_url,
                 "fetched": res.attempts > 0, "links": links or [], "sitemaps": sitemaps or [], "doc": doc_row}
        if extracted:
            entry["encoding"] = extracted.get("encoding")
            entry["charset_source"] = extracted.get("charset_source")
        self.journal.append(entry)
        if self.bar is not None and kind == "page" and res.attempts > 0:
            self.bar.update(1)  # counts page fetches, like max_pages

    def _document(self, res: FetchResult, ex: dict) -> tuple[Optional[dict], str, Optional[str]]:
        url = res.final_url or res.url
        if ex.get("noindex"):
            return None, "skipped", "meta-robots-noindex: the page asks not to be indexed"
        if self._doc_patterns and not any(p.search(url) for p in self._doc_patterns):
            return None, "ok", "links only: not an article URL (documents.url_patterns)"
        text = ex.get("text") or ""
        if len(text) < self.cfg.documents.min_chars:
            return None, "skipped", f"too-little-text: {len(text)} chars < {self.cfg.documents.min_chars}"
        digest = sha256_text(text)
        if digest in self.text_owner and self.text_owner[digest] != url:
            return None, "skipped", f"duplicate-text: same text as {self.text_owner[digest]}"
        published = None
        if ex.get("date"):
            try:
                published = datetime.combine(date_cls.fromisoformat(ex["date"][:10]), datetime.min.time(),
                                             tzinfo=timezone.utc)
            except ValueError:
                published = None
        try:
            doc = Document(id=sha256_text(url)[:16], lang=self.cfg.language, text=text, title=ex.get("title"),
                           source=self.cfg.name, url=url, revision_time=published, retrieved_at=res.fetched_at,
                           license=self.cfg.license)
        except ValidationError as err:
            return None, "error", f"invalid-document: {validation_message(err)}"
        return doc.model_dump(mode="json"), "ok", None

    def _link_ok(self, url: Optional[str]) -> bool:
        """In an allowed domain, matching the recipe's allow rules (if any) and none of its deny rules."""
        if url is None or not domain_allowed(url, self.cfg.allowed_domains):
            return False
        if self._allow and not any(p.search(url) for p in self._allow):
            return False
        return not any(p.search(url) for p in self._deny)

    def _accept_links(self, links: list[str], depth: int) -> list[str]:
        """Out-links worth following; they are journaled with the page so a restart knows them."""
        kept = []
        if depth + 1 > self.cfg.max_depth:
            return kept
        for raw in links:
            url = normalize_url(raw)
            if self._link_ok(url) and url not in kept:
                kept.append(url)
                self._enqueue(url, depth + 1, "page", check_rules=False)
        return kept

    # -- the loop
    def run(self, quiet: Optional[bool] = None) -> dict[str, Any]:
        started = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.out / JOURNAL)
        self._replay(self.journal)
        resumed = sum(1 for e in self.journal.entries if e.get("kind") == "page")
        fetched_before = sum(1 for e in self.journal.entries if e.get("kind") == "page" and e.get("fetched"))
        fetcher = Fetcher(self.cfg, pacer=self.pacer, robots_loaded=self.robots,
                          on_robots=lambda entry, n: self._robots_events.put((entry, n)))
        if quiet is not None:
            console.set_quiet(quiet)
        extract_pool = _extract_pool(self.processes)  # first: it may fork
        self.bar = console.progress(desc=f"crawl {self.cfg.name}", total=self.cfg.max_pages, unit="page")
        self.bar.update(min(fetched_before, self.cfg.max_pages))
        fetch_pool = ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="fetch")
        fetching: dict[Future, tuple[str, int, str]] = {}
        extracting: dict[Future, tuple[FetchResult, int]] = {}
        busy: set[str] = set()
        max_pending_extract = 2 * self.processes + 2
        pages_used = self.pages_used
        try:
            while True:
                # dispatch: at most one URL per host in flight, within the page budget
                for host in list(self.queues):
                    if len(fetching) >= self.cfg.concurrency or len(extracting) >= max_pending_extract:
                        break
                    q = self.queues[host]
                    if host in busy or not q:
                        continue
                    url, depth, kind = q[0]
                    if kind == "page" and pages_used + sum(1 for v in fetching.values() if v[2] == "page") >= self.cfg.max_pages:
                        continue
                    q.popleft()
                    busy.add(host)
                    accept = HTML_TYPES if kind == "page" else XML_TYPES
                    fetching[fetch_pool.submit(fetcher.fetch, url, accept)] = (url, depth, kind)
                self._drain_robots()
                if not fetching and not extracting:
                    break
                done, _ = wait(list(fetching) + list(extracting), return_when=FIRST_COMPLETED)
                self._drain_robots()
                for fut in done:
                    if fut in fetching:
                        url, depth, kind = fetching.pop(fut)
                        busy.discard(host_of(url))
                        res: FetchResult = fut.result()
                        if kind == "page" and res.attempts > 0:
                            pages_used += 1
                        if res.final_url and res.final_url != res.url:
                            self.seen.add(res.final_url)
                        if res.status != "ok" or res.body is None:
                            self._finish(res, depth, kind, res.status, res.reason)
                        elif kind == "sitemap":
                            self._sitemap_done(res, depth)
                        else:
                            f = extract_pool.submit(process_page, res.body, res.content_type, res.final_url or url,
                                                    self.html_dir, self.options)
                            res.body = None  # the worker owns it now; keep memory flat
                            extracting[f] = (res, depth)
                    else:
                        res, depth = extracting.pop(fut)
                        try:
                            ex = fut.result()
                        except ImportError:
                            raise
                        except Exception as err:  # a dead worker process, not a bad page
                            ex = {"error": f"extract-error: {type(err).__name__}: {err}"}
                        if ex.get("error"):
                            self._finish(res, depth, "page", "error", ex["error"], extracted=ex)
                        else:
                            links = self._accept_links(ex.get("links") or [], depth)
                            self._finish(res, depth, "page", "ok", None, extracted=ex, links=links)
        finally:
            for fut in fetching:
                fut.cancel()
            fetch_pool.shutdown(wait=True, cancel_futures=True)
            extract_pool.shutdown(wait=True, cancel_futures=True)
            self.bar.close()
            self.journal.close()
        return self._consolidate(time.monotonic() - started, resumed)

    def _sitemap_done(self, res: FetchResult, depth: int) -> None:
        try:
            pages, nested = parse_sitemap(res.body)
        except Exception as err:
            res.body = None
            self._finish(res, depth, "sitemap", "error", f"sitemap-parse-error: {type(err).__name__}: {err}")
            return
        res.body = None
        kept_pages = []
        for u in pages:
            n = normalize_url(u)
            if self._link_ok(n):
                kept_pages.append(n)
                self._enqueue(n, 0, "page", check_rules=False)
        kept_nested = []
        for u in nested[:1000]:
            n = normalize_url(u)
            if n:
                kept_nested.append(n)
                self._enqueue(n, 0, "sitemap", check_rules=False)
        # sitemap page URLs start at depth 0 in the replay too: store them with depth -1
        self._finish(res, -1, "sitemap", "ok", None, links=kept_pages, sitemaps=kept_nested)

    # -- outputs
    def _consolidate(self, seconds: float, resumed: int) -> dict[str, Any]:
        journal = self.journal
        records = [LineageRecord.model_validate(e["lineage"]) for e in journal.entries]
        write_records(self.out / "manifest.parquet", records, LineageRecord)
        docs = [Document.model_validate(d) for d in self.docs.values()]
        write_records(self.out / "documents-00000.parquet", docs, Document)
        pages = [e for e in journal.entries if e.get("kind") == "page"]
        failed = Counter(e["lineage"]["reason"].split(":")[0].split(" after ")[0]
                         for e in pages if e["lineage"]["status"] == "error")
        skipped = Counter(_reason_key(e["lineage"]["reason"]) for e in pages if e["lineage"]["status"] == "skipped")
        summary = {
            "source": self.cfg.name,
            "license": self.cfg.license,
            "snapshot_dir": str(self.out),
            "urls_attempted": len(pages),
            "fetched": sum(1 for e in pages if e["lineage"]["sha256"]),  # bodies downloaded and stored
            "skipped_robots": sum(1 for e in pages if e["lineage"].get("robots") in ("disallowed", "unreachable")),
            "skipped": dict(skipped),
            "failed": dict(failed),
            "documents": len(docs),
            "bytes": sum(e["lineage"]["bytes"] for e in pages),
            "robots_files": sum(1 for e in journal.entries if e.get("kind") == "robots"),
            "sitemaps": sum(1 for e in journal.entries if e.get("kind") == "sitemap"),
            "resumed_from": resumed,
            "seconds": round(seconds, 3),
            "processes": self.processes,
        }
        write_json(self.out / "summary.json", summary)
        return summary


def _reason_key(reason: str) -> str:
    if reason.startswith("robots.txt"):
        return "robots"
    return reason.split(":")[0].split(" (")[0]


def crawl(source: Union[str, os.PathLike, SourceConfig], output_root: Union[str, os.PathLike] = "data",
          day: Optional[Union[str, date_cls]] = None, processes: int = 1, quiet: Optional[bool] = None,
          pacer: Optional[HostPacer] = None) -> dict[str, Any]:
    """Crawl one source (a recipe path or a SourceConfig) into `output_root/raw/<day>/<name>/`;
    resumes a previous run of the same day. Returns the summary (also written as summary.json)."""
    cfg = source if isinstance(source, SourceConfig) else load_source(source)
    return Crawler(cfg, snapshot_dir(output_root, cfg.name, day), processes=processes, pacer=pacer).run(quiet=quiet)
