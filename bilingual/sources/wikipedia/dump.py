"""Streaming reader for MediaWiki `pages-articles` XML dumps, built on mwxml.

Inputs: plain `.xml`, `.bz2`, `.gz`, `.xz`, and multistream `.bz2` with its index
(`offset:page_id:title` lines, plain or `.bz2`). Output: `Document`s for main-namespace articles
(latest revision), with page/revision ids, title, revision time (UTC), dump name and licence.
Redirects are skipped, disambiguation pages optionally.

Memory is set by configuration, never by the dump's size: mwxml walks the XML with iterparse and
clears each page; documents are yielded one by one; every task is bounded in bytes and at most
2 × processes tasks are in flight; pool workers start from a forkserver and are replaced every
WORKER_TASKS tasks. Parallel work (`processes > 1`):
- multistream + index: the file is cut at bz2 stream offsets into runs of streams of about
  MULTISTREAM_TASK_BYTES compressed bytes; each worker decompresses its run, wraps it in the dump's
  own header and parses it with mwxml; results come back in file order, so output is deterministic;
- otherwise: one reader decompresses and cuts the XML after whole `</page>` elements (~1 MB
  chunks, a bounded number in flight); workers parse the chunks with mwxml and clean the text, and
  results come back in file order. With N > 1 the reader is a thread of this process, so that
  decompression (Python's bz2 releases the GIL) overlaps with this thread's collecting and writing
  on another core; with N = 1 everything runs in order in this thread. Chunks do not depend on the
  number of processes, so the output is the same for any N.

Bad input (truncated bz2/xz/gz, a dump cut mid-page, malformed XML) raises nothing at the caller:
iteration stops, everything before the fault has been yielded, and `DumpStats.error` holds a
message naming the file, the last good page and the compressed byte offset.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import queue
import re
import threading
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import quote

import mwxml
from pydantic import ValidationError

from bilingual.schema import Document, quarantine_row, validation_message
from bilingual.sources.wikipedia.wikitext import Namespaces, WikitextCleaner

LICENSE = "CC BY-SA 4.0"
_DUMP_NAME_RE = re.compile(r"(?P<db>[a-z][a-z0-9_]*wiki)-(?P<date>\d{8}|\d{6}|latest)")
DISAMBIGUATION_RE = re.compile(
    r"\{\{\s*(?:disambig(?:uation)?|dab|hndis|geodis|surname|given name|set index|"
    r"দ্ব্যর্থতা নিরসন|দ্ব্যর্থবোধকতা নিরসন|দ্ব্যর্থকতা নিরসন|দ্ব্যর্থতা|দ্ব্যর্থবোধক)\s*[|}]", re.I)
BATCH_PAGES = 32
MULTISTREAM_TASK_BYTES = 2 << 20  # compressed input per worker task: memory is set by this, not the dump size
WORKER_TASKS = 16  # tasks a pool worker runs before it is replaced by a fresh fork
XML_CHUNK_BYTES = 1 << 20  # decompressed XML per single-stream task
READ_AHEAD_CHUNKS = 4  # chunks the single-stream reader thread may have ready before they are sent out
QUARANTINE_SAMPLE = 100  # quarantined rows kept in DumpStats.quarantine; all of them go to on_quarantine


class DumpReadError(RuntimeError):
    """A dump that could not be read to the end; the message names file, page and byte offset."""


@dataclass
class DumpInfo:
    path: str
    dbname: str
    lang: str
    name: str  # e.g. "bnwiki-202305"
    base_url: Optional[str]
    namespaces: dict[int, str]

    def url(self, title: str) -> Optional[str]:
        if not self.base_url:
            return None
        return self.base_url + quote(title.replace(" ", "_"), safe="/:()'!,;*@$")


@dataclass
class RawPage:
    page_id: int
    title: str
    ns: int
    redirect: Optional[str]  # target title of a redirect page
    rev_id: Optional[int]
    timestamp: Optional[float]  # unix seconds
    text: str


@dataclass
class DumpStats:
    """What happened to every page of one dump: pages == documents + skipped + quarantined.

    Every quarantined row goes to `on_quarantine` (collect_dump streams them to Parquet); `quarantine`
    keeps only the first QUARANTINE_SAMPLE of them, so memory does not grow with the number of bad pages."""

    pages: int = 0
    documents: int = 0
    redirects: int = 0
    other_namespace: int = 0
    disambiguation: int = 0
    quarantined: int = 0
    error: Optional[str] = None
    quarantine: list = field(default_factory=list)
    on_quarantine: Optional[Callable[[dict], None]] = field(default=None, repr=False, compare=False)

    @property
    def skipped(self) -> int:
        return self.redirects + self.other_namespace + self.disambiguation

    def as_dict(self) -> dict:
        return {"pages": self.pages, "documents": self.documents, "redirects": self.redirects,
                "other_namespace": self.other_namespace, "disambiguation": self.disambiguation,
                "quarantined": self.quarantined, "error": self.error}


# ---------------------------------------------------------------- opening files

def _compression(path: Path) -> str:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"BZh"):
        return "bz2"
    if magic.startswith(b"\x1f\x8b"):
        return "gz"
    if magic.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return "xml"


def open_dump(path) -> tuple[io.BufferedReader, io.IOBase]:
    """(raw compressed file, decompressed binary stream); compression sniffed from the magic bytes."""
    path = Path(path)
    raw = open(path, "rb")
    kind = _compression(path)
    if kind == "bz2":
        return raw, bz2.BZ2File(raw)
    if kind == "gz":
        return raw, gzip.GzipFile(fileobj=raw)
    if kind == "xz":
        return raw, lzma.LZMAFile(raw)
    return raw, raw


def _dump_info(path, dump: mwxml.Dump, lang: Optional[str]) -> DumpInfo:
    si = dump.site_info
    dbname = si.dbname or ""
    m = _DUMP_NAME_RE.search(Path(path).name)
    name = f"{m.group('db')}-{m.group('date')}" if m else (dbname or Path(path).name.split(".")[0])
    if not dbname and m:
        dbname = m.group("db")
    if lang is None:
        lang = dbname[:-4] if dbname.endswith("wiki") else "en"
    base = None
    if si.base and "/wiki/" in si.base:
        base = si.base[:si.base.index("/wiki/") + len("/wiki/")]
    namespaces = {ns.id: ns.name or "" for ns in (si.namespaces or [])}
    return DumpInfo(str(path), dbname, lang, name, base, namespaces)


def read_dump_info(path, lang: Optional[str] = None) -> DumpInfo:
    raw, stream = open_dump(path)
    with raw, stream:
        return _dump_info(path, mwxml.Dump.from_file(stream), lang)


# ---------------------------------------------------------------- pages → documents

def _to_raw(page) -> RawPage:
    rev = None
    for rev in page:  # the last revision is the latest
        pass
    ts = rev.timestamp.unix() if rev is not None and rev.timestamp is not None else None
    return RawPage(int(page.id), page.title, int(page.namespace), page.redirect,
                   int(rev.id) if rev is not None and rev.id is not None else None, ts,
                   (rev.text or "") if rev is not None else "")


_READ_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error, ET.ParseError, mwxml.errors.MalformedXML,
                ValueError, AssertionError, KeyError, TypeError, AttributeError)


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, EOFError) or "end-of-stream" in text or "ended before" in text:
        return f"truncated compressed stream ({text})"
    if isinstance(err, (ET.ParseError, mwxml.errors.MalformedXML)):
        return f"malformed or cut XML ({text})"
    return f"{type(err).__name__}: {text}"


def iter_raw_pages(path, stats: Optional[DumpStats] = None, lang: Optional[str] = None,
                   info_out: Optional[list] = None) -> Iterator[RawPage]:
    """Pages of a (single-stream) dump in file order. On a fault, stops and puts the message into
    `stats.error` (raises DumpReadError when no stats object is given)."""
    path = Path(path)
    raw, stream = open_dump(path)
    last: Optional[RawPage] = None
    try:
        with raw, stream:
            try:
                dump = mwxml.Dump.from_file(stream)
                if info_out is not None:
                    info_out.append(_dump_info(path, dump, lang))
                for page in dump:
                    rp = _to_raw(page)
                    last = rp
                    yield rp
            except _READ_ERRORS as err:
                where = (f"after page id {last.page_id} ({last.title!r})" if last else "before the first page")
                msg = f"{path}: {_describe(err)} {where}, near compressed byte {raw.tell():,}"
                if stats is None:
                    raise DumpReadError(msg) from err
                stats.error = msg
    except OSError as err:  # closing a broken stream
        if stats is not None and stats.error is None:
            stats.error = f"{path}: {_describe(err)}"


class PageConverter:
    """RawPage → Document (or a skip reason / quarantine row). Picklable, so pool workers get one."""

    def __init__(self, info: DumpInfo, skip_disambiguation: bool = False, retrieved_at: Optional[datetime] = None):
        self.info = info
        self.skip_disambiguation = skip_disambiguation
        self.retrieved_at = retrieved_at or datetime.now(timezone.utc)
        self.cleaner = WikitextCleaner(Namespaces.from_siteinfo(info.namespaces))

    def __call__(self, page: RawPage):
        """('doc', Document) | ('skip', reason) | ('bad', quarantine row)."""
        if page.ns not in self.info.namespaces and self.info.namespaces:
            return "bad", quarantine_row({"page_id": page.page_id, "title": page.title, "ns": page.ns},
                                         f"{self.info.path}: page {page.page_id} ({page.title!r}) is in namespace "
                                         f"{page.ns}, which the dump's <siteinfo> does not declare")
        if page.ns != 0:
            return "skip", "other_namespace"
        if page.redirect:
            return "skip", "redirects"
        if self.skip_disambiguation and DISAMBIGUATION_RE.search(page.text):
            return "skip", "disambiguation"
        row = {"id": f"{self.info.dbname}:{page.page_id}", "lang": self.info.lang, "text": self.cleaner(page.text),
               "title": page.title, "source": f"wikipedia-{self.info.lang}", "url": self.info.url(page.title),
               "dump": self.info.name, "page_id": page.page_id, "revision_id": page.rev_id,
               "revision_time": (datetime.fromtimestamp(page.timestamp, tz=timezone.utc)
                                 if page.timestamp is not None else None),
               "retrieved_at": self.retrieved_at, "license": LICENSE}
        try:
            return "doc", Document.model_validate(row)
        except ValidationError as err:
            row["text"] = row["text"][:200]
            return "bad", quarantine_row(row, f"{self.info.path}: page {page.page_id} ({page.title!r}): "
                                              + validation_message(err))


def _account(stats: DumpStats, result) -> Optional[Document]:
    kind, value = result
    stats.pages += 1
    if kind == "doc":
        stats.documents += 1
        return value
    if kind == "skip":
        setattr(stats, value, getattr(stats, value) + 1)
    else:
        stats.quarantined += 1
        if len(stats.quarantine) < QUARANTINE_SAMPLE:
            stats.quarantine.append(value)
        if stats.on_quarantine is not None:
            stats.on_quarantine(value)
    return None


# ---------------------------------------------------------------- multistream

def read_index(index_path) -> list[int]:
    """Sorted unique stream offsets from a multistream index (`offset:page_id:title` per line)."""
    index_path = Path(index_path)
    opener = bz2.open if _compression(index_path) == "bz2" else open
    offsets = set()
    with opener(index_path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            head = line.split(":", 1)[0]
            if not head.isdigit():
                raise DumpReadError(f"{index_path}: line {lineno} is not 'offset:page_id:title': {line[:80]!r}")
            offsets.add(int(head))
    return sorted(offsets)


def _stream_tasks(path: Path, offsets: list[int], task_bytes: int) -> Iterator[list[int]]:
    """Runs of consecutive bz2 streams, each about `task_bytes` of compressed input (at least one stream):
    the stream boundaries of one task, [start, ..., end]. Set by configuration, not by the file's size."""
    bounds = offsets + [path.stat().st_size]
    start = 0
    for i in range(1, len(bounds)):
        if bounds[i] - bounds[start] >= task_bytes or i == len(bounds) - 1:
            yield bounds[start:i + 1]
            start = i


def _decompress_range(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    out = []
    while data:
        d = bz2.BZ2Decompressor()
        out.append(d.decompress(data))
        if not d.eof:
            raise EOFError("compressed stream ended before the end-of-stream marker was reached")
        data = d.unused_data
    return b"".join(out)


def _decompress_streams(path: Path, bounds: list[int]) -> tuple[bytes, list[str]]:
    """Decompress the bz2 streams starting at bounds[i] (ending at bounds[i+1]) one by one; a damaged
    stream is skipped (its pages are lost, the others are kept) and named in the returned problems."""
    out, problems = [], []
    for s, e in zip(bounds, bounds[1:]):
        try:
            out.append(_decompress_range(path, s, e))
        except (EOFError, OSError, ValueError) as err:
            problems.append(f"bz2 stream at byte {s:,} (..{e:,}) unreadable ({err})")
    return b"".join(out), problems


def _header(path: Path, first_offset: int) -> bytes:
    head = _decompress_range(path, 0, first_offset)
    cut = head.rfind(b"</siteinfo>")
    if cut < 0:
        raise DumpReadError(f"{path}: the first bz2 stream (bytes 0..{first_offset}) holds no <siteinfo>")
    return head[:cut + len(b"</siteinfo>")] + b"\n"


def _release_free_memory() -> None:
    """Hand the free pages of the C heap back to the OS (glibc's malloc_trim; a no-op elsewhere). A task's XML
    lives in bytes objects of tens of MB; glibc raises its mmap threshold after freeing such a block, so the next
    ones come from the heap, whose freed pages stay in the RSS. Measured on ×10 multistream in one process:
    210 → 140 MB after 3,000 documents, same CPU (RSS still creeps with it; see BENCHMARKS.md)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


def _parse_chunk(task):
    """Worker: parse a run of whole <page> elements (wrapped in the dump's header) and convert them.
    `body` is XML bytes, or a (path, start, end) compressed byte range of a multistream file.
    Returns (results as plain tuples, error message or None)."""
    body, header, converter, where = task
    results, last, problems, dump = [], None, [], None
    try:
        if isinstance(body, tuple):
            body, problems = _decompress_streams(*body)
            body = body.replace(b"</mediawiki>", b"")
        dump = mwxml.Dump.from_file(io.BytesIO(header + body + b"</mediawiki>"))
        for page in dump:
            rp = _to_raw(page)
            last = rp
            kind, value = converter(rp)
            results.append((kind, value.model_dump() if kind == "doc" else value))
    except _READ_ERRORS as err:
        after = f"after page id {last.page_id} ({last.title!r})" if last else "before its first page"
        problems.append(f"{_describe(err)} {where}, {after}")
    body = dump = None  # the decompressed XML, tens of MB: freed before the heap is trimmed
    _release_free_memory()
    return results, (f"{converter.info.path}: " + "; ".join(problems)) if problems else None


def _ordered_pool(tasks: Iterator, processes: int, ahead: int, in_process: bool = True):
    """Like Pool.imap, but reads at most `ahead` tasks in advance, so memory stays bounded. One process
    parses in this process when `in_process`; otherwise in one worker that is replaced like the others."""
    from collections import deque
    if processes <= 1 and in_process:
        yield from map(_parse_chunk, tasks)
        return
    # Workers are replaced after WORKER_TASKS tasks: a long-lived parser's heap creeps up with every task it
    # has seen (measured: 230 MB after 7 tasks, 390 MB after ~70, same pages), so its lifetime is bounded too.
    # They start from a forkserver, not from this process: a fork of the reader would inherit (and count)
    # whatever the reader holds at that moment.
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(["bilingual.sources.wikipedia.dump"])
    pool = ctx.Pool(max(processes, 1), maxtasksperchild=WORKER_TASKS)
    pending: deque = deque()
    try:
        for task in tasks:
            pending.append(pool.apply_async(_parse_chunk, (task,)))
            if len(pending) >= ahead:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        pool.terminate()
        pool.join()


def _consume(results, stats: DumpStats) -> Iterator[Document]:
    for batch, error in results:
        for kind, value in batch:
            if kind == "doc":
                value = Document.model_construct(**value)  # validated in the worker
            doc = _account(stats, (kind, value))
            if doc is not None:
                yield doc
        if error:  # keep the first message; independent later chunks still count
            stats.error = stats.error or error


def iter_multistream(path, index_path, converter_factory, processes: int, stats: DumpStats,
                     task_bytes: int = MULTISTREAM_TASK_BYTES) -> Iterator[Document]:
    path = Path(path)
    offsets = read_index(index_path)
    header = _header(path, offsets[0])
    info_dump = mwxml.Dump.from_file(io.BytesIO(header + b"</mediawiki>"))
    converter = converter_factory(_dump_info(path, info_dump, None))
    tasks = (((path, bounds), header, converter, f"in the bz2 streams at bytes {bounds[0]:,}..{bounds[-1]:,}")
             for bounds in _stream_tasks(path, offsets, task_bytes))
    # Always in workers, even for one process: parsing task after task in one process creeps up with the
    # dump (397 MB at x10, 610 MB at x100 of the bnwiki sample, 1 process); replaced workers do not.
    yield from _consume(_ordered_pool(tasks, processes, 2 * max(processes, 1), in_process=False), stats)


def _xml_chunks(path: Path, problems: list, info_out: list, lang, chunk_bytes: int = XML_CHUNK_BYTES):
    """The single reader: decompress, cut the XML after whole </page> elements, yield tasks.
    The first item is None once the header is read (so the caller can build its converter).
    A fault of the file itself goes into `problems`; it ends reading, but the whole pages read before
    it are still yielded."""
    raw, stream = open_dump(path)
    buf, header, done_bytes, eof = bytearray(), None, 0, False
    with raw, stream:
        while not eof:
            try:
                block = stream.read1(1 << 16)
            except (EOFError, OSError, lzma.LZMAError, zlib.error) as err:
                problems.append(f"{path}: {_describe(err)}, near compressed byte {raw.tell():,}")
                block = b""
            eof = not block
            buf += block
            if header is None:
                cut = buf.find(b"</siteinfo>")
                if cut < 0:
                    if eof:
                        problems.append(f"{path}: no <siteinfo> header (not a MediaWiki XML dump?)")
                        return
                    continue
                cut += len(b"</siteinfo>")
                header = bytes(buf[:cut]) + b"\n"
                del buf[:cut]
                try:
                    info = _dump_info(path, mwxml.Dump.from_file(io.BytesIO(header + b"</mediawiki>")), lang)
                except _READ_ERRORS as err:
                    problems.append(f"{path}: unreadable <siteinfo> header ({_describe(err)})")
                    return
                info_out.append(info)
                yield None
            if len(buf) >= chunk_bytes or eof:
                end = buf.rfind(b"</page>")
                if end >= 0:
                    end += len(b"</page>")
                    yield bytes(buf[:end]), header, f"in decompressed bytes {done_bytes:,}..{done_bytes + end:,}"
                    done_bytes += end
                    del buf[:end]
        if problems:
            return
        rest = bytes(buf).strip()
        if b"<page" in rest:
            problems.append(f"{path}: dump cut in the middle of a page at decompressed byte {done_bytes:,} "
                            f"({len(rest):,} bytes of an unfinished <page> dropped)")
        elif rest != b"</mediawiki>":
            problems.append(f"{path}: dump does not end with </mediawiki> after decompressed byte {done_bytes:,} "
                            f"(cut or malformed: {rest[:60]!r})")


def _read_ahead(items: Iterator, depth: int) -> Iterator:
    """What `items` yields, produced by a background thread at most `depth` items ahead.
    An exception in `items` is raised here; leaving early stops the thread and closes `items`."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as err:  # handed to the consumer, raised there
            put((False, err))
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="dump-reader", daemon=True)
    thread.start()
    try:
        while True:
            more, value = ready.get()
            if more:
                yield value
            elif value is None:
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()


def iter_pool(path, converter_factory, processes: int, stats: DumpStats, lang) -> Iterator[Document]:
    """Single-stream dump: one reader cuts the XML into chunks, `processes` workers parse them.
    Errors are reported in file order, whatever N: the first chunk's error, else the reader's."""
    info_box: list = []
    reader_problems: list = []
    chunks = _xml_chunks(Path(path), reader_problems, info_box, lang)
    if processes > 1:
        chunks = _read_ahead(chunks, READ_AHEAD_CHUNKS)
    try:
        if next(chunks, "none") is None:  # the header was read
            converter = converter_factory(info_box[0])
            tasks = ((body, header, converter, where) for body, header, where in chunks)
            yield from _consume(_ordered_pool(tasks, processes, 2 * processes), stats)
    finally:
        chunks.close()
    if reader_problems:
        stats.error = stats.error or reader_problems[0]


# ---------------------------------------------------------------- public entry point

def iter_documents(path, lang: Optional[str] = None, index=None, processes: int = 1,
                   skip_disambiguation: bool = False, stats: Optional[DumpStats] = None,
                   retrieved_at: Optional[datetime] = None) -> Iterator[Document]:
    """Documents of one dump, in file order. See the module docstring for parallelism and errors.

    Pass a `DumpStats` to get the per-page accounting, quarantined rows and any read error; without
    one, a read error raises DumpReadError after the documents before it have been yielded."""
    own = stats is None
    stats = stats if stats is not None else DumpStats()

    def factory(info: DumpInfo) -> PageConverter:
        if lang is not None:
            info.lang = lang
        return PageConverter(info, skip_disambiguation, retrieved_at)

    if index is not None:
        yield from iter_multistream(path, index, factory, processes, stats)
    else:
        yield from iter_pool(path, factory, processes, stats, lang)
    if own and stats.error:
        raise DumpReadError(stats.error)


# ---------------------------------------------------------------- snapshot writer

def _safe_stem(path: Path) -> str:
    stem = path.name
    for ext in (".bz2", ".gz", ".xz", ".xml"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:120] or "dump"


def collect_dump(dump_path, lang: str, output_root, index=None, processes: int = 1, day=None,
                 langlinks=None, skip_disambiguation: bool = False, shard_rows: int = 1_000_000,
                 shard_bytes: Optional[int] = None) -> dict:
    """Read one dump into the snapshot `output_root/raw/<day>/wikipedia-<lang>/`:
    `documents-<dump stem>-NNNNN.parquet` (Documents), `manifest.parquet` (a LineageRecord per input file,
    status error + reason when the dump could not be read to the end; what was read before is kept),
    `quarantine-<stem>.parquet` (pages that failed validation, e.g. empty after cleaning),
    `stats-<stem>.json`, and `langlinks.parquet` when a langlinks file is given.
    An input already recorded as ok with the same sha256 is skipped (rerun resumes).
    Shards are cut at `shard_bytes` of values (storage.DEFAULT_SHARD_BYTES) or `shard_rows` rows, whichever
    comes first, so memory does not grow with the dump."""
    import pyarrow as pa

    from bilingual import storage
    from bilingual.schema import LineageRecord
    from bilingual.sources.corpora.readers import file_sha256

    dump_path = Path(dump_path)
    out = storage.snapshot_dir(output_root, f"wikipedia-{lang}", day)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_stem(dump_path)
    sha = file_sha256(dump_path)
    manifest = storage.read_manifest(out)
    done = [r for r in manifest if r.path == str(dump_path) and r.status == "ok" and r.sha256 == sha]
    summary = {"source": f"wikipedia-{lang}", "license": LICENSE, "snapshot": str(out), "dump": str(dump_path)}
    if done and storage.parquet_files(out, f"documents-{stem}-*.parquet"):
        stats_path = out / f"stats-{stem}.json"
        prev_stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        summary.update({"read": prev_stats.get("pages", 0), "kept": done[0].records,
                        "quarantined": prev_stats.get("quarantined", 0), "status": "ok", "reason": None,
                        "skipped_existing": True})
    else:
        for old in (storage.parquet_files(out, f"documents-{stem}-*.parquet")
                    + storage.parquet_files(out, f"quarantine-{stem}.parquet")
                    + list(out.glob(f".documents-{stem}-*.tmp")) + list(out.glob(f".quarantine-{stem}-*.tmp"))):
            old.unlink()  # a previous run's shards and quarantine, or the temporary shard of a killed one
        from bilingual.console import progress
        with contextlib.ExitStack() as files:
            quarantine: list = []  # the quarantine file's writer, opened at the first bad page

            def keep_quarantined(row: dict) -> None:
                if not quarantine:
                    quarantine.append(files.enter_context(storage.ShardWriter(
                        out, f"quarantine-{stem}", storage.QUARANTINE_SCHEMA, single_file=True)))
                quarantine[0].write(row)

            stats = DumpStats(on_quarantine=keep_quarantined)
            writer = files.enter_context(storage.ShardWriter(out, f"documents-{stem}", storage.arrow_schema(Document),
                                                             shard_rows, shard_bytes or storage.DEFAULT_SHARD_BYTES))
            for doc in progress(iter_documents(dump_path, lang, index, processes, skip_disambiguation, stats),
                                desc=f"{dump_path.name}", unit="doc"):
                writer.write(doc.to_row())
        storage.write_json(out / f"stats-{stem}.json", stats.as_dict())
        record = LineageRecord(source=f"wikipedia-{lang}", path=str(dump_path), status="error" if stats.error else "ok",
                               reason=stats.error, bytes=dump_path.stat().st_size, sha256=sha,
                               records=stats.documents, license=LICENSE)
        manifest = [r for r in storage.read_manifest(out) if r.path != str(dump_path)] + [record]
        storage.write_manifest(out, manifest)
        summary.update({"read": stats.pages, "kept": stats.documents, "quarantined": stats.quarantined,
                        "skipped": stats.skipped, "status": record.status, "reason": stats.error,
                        "skipped_existing": False})
    if langlinks is not None:
        from bilingual.sources.wikipedia.langlinks import load_links
        links = load_links(langlinks)
        table = pa.Table.from_pylist([{"bn_page_id": l.bn_page_id, "bn_title": l.bn_title, "en_title": l.en_title}
                                      for l in links],
                                     schema=pa.schema([("bn_page_id", pa.int64()), ("bn_title", pa.string()),
                                                       ("en_title", pa.string())]))
        storage.write_table(out / "langlinks.parquet", table)
        summary["langlinks"] = len(links)
    return summary


def redirects_from_dump(path) -> dict[str, str]:
    """Redirect title → target title of the main namespace of a pages-articles dump."""
    from bilingual.sources.wikipedia.langlinks import normalize_title

    return {normalize_title(p.title): normalize_title(p.redirect) for p in iter_raw_pages(path)
            if p.ns == 0 and p.redirect}
