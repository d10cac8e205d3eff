"""Download a Wikipedia dump run: pages-articles multistream + index + langlinks.

Reads the run's `dumpstatus.json` (`<base>/<wiki>/<date>/dumpstatus.json`; for `latest`, the newest
dated run in `<base>/<wiki>/` whose multistream job is done), then fetches each file into
`.part` with HTTP Range resume, retrying with exponential backoff (tenacity); a finished file is
verified against the sha1 (else md5) in the dump status before it is renamed into place, so a
file with a wrong checksum never looks complete. TLS certificates are always verified.
Each file gets a LineageRecord in the snapshot's manifest; a rerun skips verified files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import requests
from tenacity import (RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential)

from bilingual import storage
from bilingual.console import progress
from bilingual.schema import LineageRecord

DEFAULT_BASE = "https://dumps.wikimedia.org"
JOBS = {"articlesmultistreamdump": ("pages-articles-multistream.xml.bz2", "pages-articles-multistream-index.txt.bz2"),
        "langlinkstable": ("langlinks.sql.gz",)}
LICENSE = "CC BY-SA 4.0"
USER_AGENT = "bilingual-corpus-pipeline/0.1 (dump downloader)"


class DownloadError(RuntimeError):
    pass


class _Retryable(Exception):
    pass


@dataclass
class DumpFile:
    name: str
    url: str
    size: Optional[int]
    sha1: Optional[str]
    md5: Optional[str]


def _session() -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    s.verify = True  # never turned off
    return s


def _get_json(session, url: str, timeout: float):
    r = session.get(url, timeout=timeout)
    if r.status_code != 200:
        raise DownloadError(f"{url}: HTTP {r.status_code}")
    try:
        return r.json()
    except ValueError as err:
        raise DownloadError(f"{url}: not JSON ({err})") from err


def resolve_run(session, base: str, wiki: str, date: str, timeout: float = 30) -> tuple[str, dict]:
    """(date, dumpstatus) of the requested run; `latest` = newest run whose multistream job is done."""
    if date != "latest":
        if not re.fullmatch(r"\d{8}", date):
            raise DownloadError(f"--date must be YYYYMMDD or latest, got {date!r}")
        return date, _get_json(session, f"{base}/{wiki}/{date}/dumpstatus.json", timeout)
    r = session.get(f"{base}/{wiki}/", timeout=timeout)
    if r.status_code != 200:
        raise DownloadError(f"{base}/{wiki}/: HTTP {r.status_code}")
    dates = sorted(set(re.findall(r'href="(\d{8})/?"', r.text)), reverse=True)
    for d in dates:
        try:
            status = _get_json(session, f"{base}/{wiki}/{d}/dumpstatus.json", timeout)
        except DownloadError:
            continue
        if status.get("jobs", {}).get("articlesmultistreamdump", {}).get("status") == "done":
            return d, status
    raise DownloadError(f"{base}/{wiki}/: no finished dump run found among {len(dates)} dates")


def wanted_files(status: dict, base: str) -> list[DumpFile]:
    out = []
    for job, suffixes in JOBS.items():
        files = status.get("jobs", {}).get(job, {}).get("files", {})
        if status.get("jobs", {}).get(job, {}).get("status") not in (None, "done"):
            raise DownloadError(f"dump job {job} is not done (status {status['jobs'][job].get('status')!r})")
        for name, meta in sorted(files.items()):
            if any(name.endswith(s) for s in suffixes):
                url = meta.get("url") or ""
                out.append(DumpFile(name, url if url.startswith("http") else base + url, meta.get("size"),
                                    meta.get("sha1"), meta.get("md5")))
    if not out:
        raise DownloadError("dumpstatus.json lists none of the pages-articles multistream, index or langlinks files")
    return out


def _hashes(path: Path) -> tuple[str, str, str]:
    sha1, md5, sha256 = hashlib.sha1(), hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha1.update(block)
            md5.update(block)
            sha256.update(block)
    return sha1.hexdigest(), md5.hexdigest(), sha256.hexdigest()


def _verify(path: Path, f: DumpFile) -> tuple[bool, str, str]:
    sha1, md5, sha256 = _hashes(path)
    if f.sha1:
        return sha1 == f.sha1, f"sha1 {sha1} (expected {f.sha1})", sha256
    if f.md5:
        return md5 == f.md5, f"md5 {md5} (expected {f.md5})", sha256
    return True, "no checksum in dumpstatus.json", sha256


def _fetch_once(session, f: DumpFile, part: Path, timeout: float, state: dict) -> None:
    have = part.stat().st_size if part.exists() else 0
    if f.size is not None and have == f.size:
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    state["attempts"] += 1
    try:
        with session.get(f.url, headers=headers, stream=True, timeout=timeout) as r:
            state["http_status"] = r.status_code
            if r.status_code == 416 and f.size is not None and have >= f.size:
                return
            if r.status_code >= 500 or r.status_code == 429:
                raise _Retryable(f"HTTP {r.status_code}")
            if r.status_code not in (200, 206):
                raise DownloadError(f"{f.url}: HTTP {r.status_code}")
            mode = "ab" if r.status_code == 206 and have else "wb"  # a server ignoring Range restarts the file
            with open(part, mode) as out:
                for chunk in r.iter_content(1 << 16):
                    out.write(chunk)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
        raise _Retryable(str(err)) from err
    got = part.stat().st_size
    if f.size is not None and got < f.size:
        raise _Retryable(f"connection ended at byte {got:,} of {f.size:,}")


def download_file(session, f: DumpFile, folder: Path, attempts: int = 5, timeout: float = 60,
                  wait_max: float = 30, wait_min: float = 1) -> LineageRecord:
    dest = folder / f.name
    part = folder / (f.name + ".part")
    state = {"attempts": 0, "http_status": None}
    rec = dict(source="wikipedia-dump", url=f.url, path=str(dest), license=LICENSE)
    if dest.exists():
        ok, detail, sha256 = _verify(dest, f)
        if ok:
            return LineageRecord(**rec, status="ok", bytes=dest.stat().st_size, sha256=sha256, attempts=0,
                                 reason=None)
        dest.rename(folder / (f.name + ".bad"))
    try:
        for attempt in Retrying(stop=stop_after_attempt(attempts), reraise=True,
                                wait=wait_exponential(multiplier=wait_min, min=wait_min, max=wait_max),
                                retry=retry_if_exception_type(_Retryable)):
            with attempt:
                _fetch_once(session, f, part, timeout, state)
    except (_Retryable, RetryError) as err:
        return LineageRecord(**rec, status="error", reason=f"{f.url}: gave up after {state['attempts']} attempts "
                             f"({err}); partial file kept as {part.name} for the next run",
                             bytes=part.stat().st_size if part.exists() else 0, attempts=state["attempts"],
                             http_status=state["http_status"])
    except DownloadError as err:
        return LineageRecord(**rec, status="error", reason=str(err), attempts=state["attempts"],
                             http_status=state["http_status"])
    ok, detail, sha256 = _verify(part, f)
    if not ok:
        bad = folder / (f.name + ".bad")
        part.replace(bad)
        return LineageRecord(**rec, status="error", reason=f"{f.name}: checksum mismatch, {detail}; kept as {bad.name}, "
                             "not as a complete file", bytes=bad.stat().st_size, sha256=sha256,
                             attempts=state["attempts"], http_status=state["http_status"])
    part.replace(dest)
    return LineageRecord(**rec, status="ok", bytes=dest.stat().st_size, sha256=sha256, attempts=state["attempts"],
                         http_status=state["http_status"])


def download_dump(wiki: str, output_dir, date: str = "latest", base_url: str = DEFAULT_BASE,
                  attempts: int = 5, timeout: float = 60, wait_min: float = 1, wait_max: float = 30) -> dict:
    """Fetch one dump run into `output_dir/raw/<YYYY-MM-DD of the run>/wikipedia-dump-<wiki>/`."""
    if not re.fullmatch(r"[a-z_]+wiki", wiki):
        raise DownloadError(f"--wiki must look like bnwiki or enwiki, got {wiki!r}")
    if not base_url.startswith(("https://", "http://")):
        raise DownloadError(f"--base-url must be http(s), got {base_url!r}")
    base = base_url.rstrip("/")
    session = _session()
    run, status = resolve_run(session, base, wiki, date, timeout)
    files = wanted_files(status, base)
    folder = storage.snapshot_dir(output_dir, f"wikipedia-dump-{wiki}", f"{run[:4]}-{run[4:6]}-{run[6:]}")
    folder.mkdir(parents=True, exist_ok=True)
    storage.write_json(folder / "dumpstatus.json", status)
    records = []
    for f in progress(files, desc=f"{wiki} {run}", unit="file"):
        r = download_file(session, f, folder, attempts, timeout, wait_max, wait_min)
        records.append(r.model_copy(update={"source": f"wikipedia-dump-{wiki}"}))
    storage.write_manifest(folder, records)
    return {"wiki": wiki, "date": run, "snapshot": str(folder), "files": [
        {"file": Path(r.path).name, "status": r.status, "bytes": r.bytes, "attempts": r.attempts, "reason": r.reason}
        for r in records], "ok": all(r.status == "ok" for r in records)}


def dumpstatus_for(files: dict[str, Path], wiki: str, date: str) -> dict:
    """A dumpstatus.json (version 0.8 layout) describing local files; used by tests and mirrors."""
    jobs: dict = {}
    for name, path in files.items():
        job = next(j for j, suf in JOBS.items() if any(name.endswith(s) for s in suf))
        sha1, md5, _ = _hashes(path)
        jobs.setdefault(job, {"status": "done", "updated": "2023-05-02 00:00:00", "files": {}})["files"][name] = {
            "size": path.stat().st_size, "url": f"/{wiki}/{date}/{name}", "md5": md5, "sha1": sha1}
    return {"jobs": jobs, "version": "0.8"}


__all__ = ["download_dump", "DownloadError", "dumpstatus_for", "json"]
