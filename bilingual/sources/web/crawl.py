"""The web collector: crawl one configured site into a raw snapshot, politely and resumably.

    crawl("recipes/sources/prothomalo.yaml", "data") ->
        data/raw/<YYYY-MM-DD>/<name>/manifest.parquet      one LineageRecord per URL attempted
                                     documents-NNNNN.parquet  extracted texts as Documents (byte-bounded shards)
                                     html/<sha256>.html.gz    raw bodies, named by their hash
                                     journal.jsonl            the resumable state (append-only)
                                     summary.json

Shape of a run: the main thread schedules; `concurrency` fetch threads do HTTP (one request at a
time per host, spaced by the host's delay); `processes` extraction workers (threads in this
process when 1, a process pool when more) hash, store, decode and extract each body. Every finished
URL is appended to the journal as one fsynced JSON line before anything else depends on it; a
restart replays the journal (completed URLs, their out-links, robots.txt files) and fetches only
what is missing, and what failed before: fetch errors and pages skipped because robots.txt was
unreachable are tried again by a same-day rerun (the latest attempt is the one in the manifest).
Parquet files are written atomically from the journal at the end, streaming it (documents in shards
bounded by bytes), so a killed crawl never leaves a manifest that looks complete.

Memory is set by configuration, not by the size of the site: bodies and documents live in files and the
journal; the URL sets (seen, done, latest entry per URL, text hashes) are 64-bit keys in `HashIndex`es (8-16
bytes per URL, no string kept); the frontier keeps `frontier_memory` URLs per host on the heap and the rest in
a scratch file (frontier.py).
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import queue
import re
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from datetime import date as date_cls, datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from pydantic import ValidationError
from protego import Protego

from bilingual import console
from bilingual.schema import Document, LineageRecord, sha256_text, validation_message
from bilingual.storage import (PARQUET_OPTS, ShardWriter, arrow_schema, atomic_path, parquet_files, records_to_table,
                               snapshot_dir, write_json)
from bilingual.sources.web.config import SourceConfig, load_source
from bilingual.sources.web.extract import process_page
from bilingual.sources.web.fetch import (HTML_TYPES, XML_TYPES, Fetcher, FetchResult, HostPacer, RobotsEntry, domain_allowed,
                            host_of, normalize_url)
from bilingual.sources.web.frontier import Frontier, HashIndex, key64

JOURNAL = "journal.jsonl"
HTML_DIR = "html"
FRONTIER_DIR = "frontier"  # scratch: URLs waiting beyond `frontier_memory` per host
# consolidation holds at most this many manifest records and this many bytes of document values at a time: small,
# so memory stops growing with the crawl early (a batch is Python objects, several times its bytes on disk)
MANIFEST_BATCH = 1_000
DOCUMENT_BUFFER_BYTES = 2 * 2**20


# ----------------------------------------------------------------------------- journal

class Journal:
    """Append-only JSON lines, one fsync per entry. A torn last line (a kill mid-write) is cut off on open.
    Entries are not kept in memory: `entries()` streams them from the file and `read_at()` reads back the one
    entry at a byte offset (what `append` returned), so the heap holds offsets, not entries."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists():
            good = 0
            with open(path, "rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        break
                    try:
                        json.loads(line)
                    except json.JSONDecodeError:
                        break
                    good += len(line)
            if good != path.stat().st_size:
                with open(path, "r+b") as fh:
                    fh.truncate(good)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "ab")
        self._reader = None

    def append(self, entry: dict) -> int:
        """Write one entry durably; returns its byte offset."""
        offset = self._fh.tell()
        self._fh.write((json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return offset

    def entries(self) -> Iterator[tuple[int, dict]]:
        """(byte offset, entry) of every entry so far, in order, read from the file."""
        if not self._fh.closed:
            self._fh.flush()
        with open(self.path, "rb") as fh:
            offset = 0
            for line in fh:
                yield offset, json.loads(line)
                offset += len(line)

    def read_at(self, offset: int) -> dict:
        """The entry written at `offset`."""
        if self._reader is None:
            self._reader = open(self.path, "rb")
        self._reader.seek(offset)
        return json.loads(self._reader.readline())

    def close(self) -> None:
        self._fh.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _failed(entry: dict) -> bool:
    """An entry a same-day rerun tries again: a fetch error, or a page skipped because robots.txt was
    unreachable (the robots.txt is fetched again too)."""
    lineage = entry.get("lineage") or {}
    if entry.get("kind") == "robots":
        return entry["entry"]["state"] == "unreachable"
    return lineage.get("status") == "error" or lineage.get("robots") == "unreachable"


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
        """Rebuild the crawl's state from the journal in two streaming passes: first what is done (and the latest
        entry of each URL), then the frontier: start URLs, then the out-links of completed entries in journal
        order, less what is done or already queued (the same order a crawl without a restart would follow)."""
        self.done = HashIndex()  # URLs completed (a page or sitemap, or a redirect target of one)
        self.seen = HashIndex()  # URLs done or queued (a superset of done)
        self.frontier = Frontier(self.out / FRONTIER_DIR, self.cfg.frontier_memory)
        self.text_owner = HashIndex(values=True)  # text sha256 -> journal offset of the entry that kept it
        self.robots: dict[str, RobotsEntry] = {}
        latest = HashIndex(values=True)  # URL -> journal offset of its latest entry
        self.resumed = 0
        for offset, entry in journal.entries():
            kind = entry.get("kind")
            if kind == "robots":
                e = entry["entry"]
                if _failed(entry):  # unreachable before: asked again in this run
                    self.robots.pop(e["origin"], None)
                    continue
                self.robots[e["origin"]] = RobotsEntry(e["origin"], e["state"], e.get("http_status"), e.get("body", ""),
                                                       e.get("reason"),
                                                       Protego.parse(e["body"]) if e["state"] == "parsed" else None)
                continue
            url = entry["lineage"]["url"]
            if kind == "page":
                self.resumed += 1
            latest.add(key64(url), offset)
            if _failed(entry):
                continue
            for done_url in (url, entry.get("final_url")):
                if done_url:
                    self.done.add(key64(done_url))
                    self.seen.add(key64(done_url))
            doc = entry.get("doc")
            if doc:
                self.text_owner.add(key64(doc["sha256"]), offset)
        # a URL counts by its latest entry: failed ones are fetched again (and count against max_pages again)
        self.pages_used = self.retrying = 0
        for sm in self.cfg.sitemap_urls:
            self._enqueue(normalize_url(sm), 0, "sitemap", check_rules=False)
        for u in self.cfg.start_urls:
            self._enqueue(normalize_url(u), 0, "page", check_rules=False)
        for offset, entry in journal.entries():
            if entry.get("kind") == "robots":
                continue
            key = key64(entry["lineage"]["url"])
            if _failed(entry):
                if latest.get(key) == offset and key not in self.done:
                    self.retrying += 1
                continue
            if latest.get(key) == offset and entry.get("fetched") and entry.get("kind") == "page":
                self.pages_used += 1
            for link in entry.get("links", []):
                self._enqueue(link, entry.get("depth", 0) + 1, "page", check_rules=False)
            for sm in entry.get("sitemaps", []):
                self._enqueue(sm, 0, "sitemap", check_rules=False)

    def _enqueue(self, url: Optional[str], depth: int, kind: str, check_rules: bool = True) -> None:
        if url is None or depth > self.cfg.max_depth:
            return
        key = key64(url)
        if key in self.seen:
            return
        if not domain_allowed(url, self.cfg.allowed_domains):
            return
        if check_rules and kind == "page":
            if self._allow and not any(p.search(url) for p in self._allow):
                return
            if any(p.search(url) for p in self._deny):
                return
        self.seen.add(key)
        self.frontier.push(host_of(url), (url, depth, kind))

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
        entry = {"kind": kind, "lineage": _lineage_json(rec), "depth": depth, "final_url": res.final_url,
                 "fetched": res.attempts > 0, "links": links or [], "sitemaps": sitemaps or [], "doc": doc_row}
        if extracted:
            entry["encoding"] = extracted.get("encoding")
            entry["charset_source"] = extracted.get("charset_source")
        offset = self.journal.append(entry)
        if doc_row:
            self.text_owner.add(key64(doc_row["sha256"]), offset)
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
        owner = self.text_owner.get(key64(digest))
        if owner is not None:
            kept = self.journal.read_at(owner)["doc"]  # the full hash decides, not the 64-bit key
            if kept["sha256"] == digest and kept["url"] != url:
                return None, "skipped", f"duplicate-text: same text as {kept['url']}"
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
        resumed, fetched_before = self.resumed, self.pages_used
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
                for host in self.frontier.hosts():
                    if len(fetching) >= self.cfg.concurrency or len(extracting) >= max_pending_extract:
                        break
                    head = self.frontier.peek(host)
                    if host in busy or head is None:
                        continue
                    url, depth, kind = head
                    if kind == "page" and pages_used + sum(1 for v in fetching.values() if v[2] == "page") >= self.cfg.max_pages:
                        continue
                    self.frontier.pop(host)
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
                            self.seen.add(key64(res.final_url))
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
            self.frontier.close()
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
        """manifest.parquet (the latest entry of each URL), documents-NNNNN.parquet and summary.json, streamed
        from the journal in two passes: memory is a 64-bit key → journal offset map, not the entries. Where two
        entries share a key the entry at the stored offset is read back, so a shared key never drops a record."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def same_url(offset: int, e: dict) -> bool:
            other = self.journal.read_at(offset)
            return (other.get("kind"), other["lineage"]["url"]) == (e.get("kind"), e["lineage"]["url"])

        latest = HashIndex(values=True)
        for offset, e in self.journal.entries():
            latest.add(key64(f'{e.get("kind")} {e["lineage"]["url"]}'), offset)
        for old in parquet_files(self.out, "documents-*.parquet"):
            old.unlink()  # derived from the journal: rewritten whole
        lineage_schema = arrow_schema(LineageRecord)
        counts = Counter()
        failed, skipped = Counter(), Counter()
        doc_owner = HashIndex(values=True)  # document URL -> offset of the entry whose document was written
        n_documents = 0
        batch: list[LineageRecord] = []
        with atomic_path(self.out / "manifest.parquet") as tmp, \
                pq.ParquetWriter(tmp, lineage_schema, **PARQUET_OPTS) as manifest, \
                ShardWriter(self.out, "documents", arrow_schema(Document),
                            buffer_bytes=DOCUMENT_BUFFER_BYTES) as documents:
            for offset, e in self.journal.entries():
                newest = latest.get(key64(f'{e.get("kind")} {e["lineage"]["url"]}'))
                if newest != offset and same_url(newest, e):
                    continue  # a later attempt of the same URL is in the manifest
                lin = e["lineage"]
                batch.append(LineageRecord.model_validate(lin))
                if len(batch) >= MANIFEST_BATCH:
                    manifest.write_table(records_to_table(batch, LineageRecord))
                    batch = []
                kind = e.get("kind")
                counts[kind] += 1
                doc = e.get("doc")
                if doc:
                    owner = doc_owner.get(key64(doc["url"]))
                    if owner is None or self.journal.read_at(owner)["doc"]["url"] != doc["url"]:
                        if owner is None:
                            doc_owner.add(key64(doc["url"]), offset)
                        documents.write(Document.model_validate(doc).to_row())
                        n_documents += 1
                if kind != "page":
                    continue
                counts["fetched"] += 1 if lin["sha256"] else 0  # bodies downloaded and stored
                counts["bytes"] += lin["bytes"]
                counts["skipped_robots"] += 1 if lin.get("robots") in ("disallowed", "unreachable") else 0
                if lin["status"] == "error":
                    failed[lin["reason"].split(":")[0].split(" after ")[0]] += 1
                elif lin["status"] == "skipped":
                    skipped[_reason_key(lin["reason"])] += 1
            manifest.write_table(records_to_table(batch, LineageRecord) if batch
                                 else pa.Table.from_pylist([], schema=lineage_schema))
        summary = {
            "source": self.cfg.name,
            "license": self.cfg.license,
            "snapshot_dir": str(self.out),
            "urls_attempted": counts["page"],
            "fetched": counts["fetched"],
            "skipped_robots": counts["skipped_robots"],
            "skipped": dict(skipped),
            "failed": dict(failed),
            "documents": n_documents,
            "bytes": counts["bytes"],
            "robots_files": counts["robots"],
            "sitemaps": counts["sitemap"],
            "resumed_from": resumed,
            "retried": self.retrying,
            "seconds": round(seconds, 3),
            "processes": self.processes,
        }
        write_json(self.out / "summary.json", summary)
        self.journal.close()  # the reader read_at opened
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
