"""Helpers for tests, benchmarks and demos (as `transformers.testing_utils`): a small web site served on 127.0.0.1
by a real HTTP server (in a thread, or in a process of its own so that it is not measured with its client), a run
killed at a known point, and Wikipedia dumps re-packed into other shapes. The library never imports this module;
importing it costs only the standard library."""

from __future__ import annotations

import bz2
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional, Union

from bilingual.layout import SAMPLES

BN_PAGE = SAMPLES / "html" / "bn_ukbdnews.com.23646.html"  # a real Bengali news page
EN_PAGE = SAMPLES / "html" / "en_bbc.com.52241221.html"  # a real English news page


# ------------------------------------------------------------------ a web site on 127.0.0.1

@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})


# a fixed Reply, or a function (handler, n-th request for this path) -> Reply, or None when it wrote the response
# itself (a fault: slow, endless, cut off)
Route = Union[Reply, Callable[[BaseHTTPRequestHandler, int], Optional[Reply]]]
NOT_FOUND = Reply(404, b"not found", {"Content-Type": "text/plain"})


def html(body: str, status: int = 200, content_type: str = "text/html; charset=utf-8", **headers) -> Reply:
    return Reply(status, body.encode("utf-8"), {"Content-Type": content_type, **headers})


class LocalSite:
    """A route table ({path with query: Route}) served on 127.0.0.1 by a threaded server; every request is
    logged as (monotonic time, Host header without port, path). `lookup(path)` answers paths the table lacks
    (a site too large to hold); `log_route` (e.g. "/__log") answers the log as JSON, for a client in another
    process. Use as a context manager."""

    def __init__(self, routes: Optional[dict[str, Route]] = None, *,
                 lookup: Optional[Callable[[str], Optional[Route]]] = None, log_route: Optional[str] = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.log: list[tuple[float, str, str]] = []
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test and benchmark output clean
                pass

            def do_GET(self):
                if self.path == log_route:
                    with site._lock:
                        body = json.dumps(site.log).encode()
                    self._send(Reply(200, body, {"Content-Type": "application/json"}))
                    return
                with site._lock:
                    site.log.append((time.monotonic(), (self.headers.get("Host") or "").split(":")[0], self.path))
                    n = site.hits[self.path] = site.hits.get(self.path, 0) + 1
                route = site.routes.get(self.path)
                if route is None and lookup is not None:
                    route = lookup(self.path)
                if route is None or isinstance(route, Reply):
                    reply = route or NOT_FOUND
                else:
                    try:
                        reply = route(self, n)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                if reply is not None:
                    self._send(reply)

            def _send(self, reply: Reply):
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def requests_for(self, path: str) -> list[float]:
        return [t for t, _h, p in self.log if p == path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


LOG_ROUTE = "/__log"


def _serve_in_child(make_site, args, conn) -> None:
    with make_site(*args) as site:
        conn.send(site.port)
        conn.recv()  # until told to stop


class SiteProcess:
    """The LocalSite that `make_site(*args)` returns, served in a spawned process of its own (so that a benchmark
    measures only its client). `make_site` must be importable (a module-level function) and pass
    `log_route=LOG_ROUTE` for `log()` to work. Use as a context manager."""

    def __init__(self, make_site: Callable[..., LocalSite], *args):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_in_child, args=(make_site, args, child), daemon=True)

    def __enter__(self):
        self._proc.start()
        self.port = self._conn.recv()
        return self

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def log(self) -> list[tuple[float, str, str]]:
        """The site's request log, [(monotonic time, host, path), ...]."""
        from urllib.request import urlopen

        with urlopen(self.url(LOG_ROUTE), timeout=10) as r:
            return json.loads(r.read())

    def __exit__(self, *exc):
        self._conn.send("stop")
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=10)


# ------------------------------------------------------------------ a run killed at a known point

def kill_when(proc, folder: Path, pattern: str, timeout: float = 300.0) -> None:
    """SIGKILL the running `proc` (a subprocess.Popen with stderr=PIPE) as soon as a file matching the glob `pattern`
    exists under `folder`: a run killed at a known point, to test what its rerun resumes. Fails when the run ends
    first or `timeout` seconds pass."""
    import os
    import signal

    deadline = time.monotonic() + timeout
    while not list(Path(folder).glob(pattern)):
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern} under {folder} after {timeout:.0f} s")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


# ------------------------------------------------------------------ Wikipedia dumps re-packed

def split_pages(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header up to </siteinfo>, [each <page>...</page> with its leading whitespace], footer)."""
    cut = xml.index(b"</siteinfo>") + len(b"</siteinfo>")
    header, rest = xml[:cut] + b"\n", xml[cut:]
    pages, pos = [], 0
    while (end := rest.find(b"</page>", pos)) >= 0:
        pages.append(rest[pos:end + len(b"</page>")])
        pos = end + len(b"</page>")
    return header, pages, rest[pos:]


def make_multistream(xml: Union[bytes, Path], out_dir: Path, pages_per_stream: int = 10,
                     name: str = "bnwiki-20230501") -> tuple[Path, Path]:
    """Write a dump (its XML, or a single-stream .bz2 file) as Wikimedia's multistream layout (a header stream, one
    bz2 stream per group of pages, a footer stream) and its index (`offset:page_id:title`, bz2); returns
    (dump, index)."""
    if not isinstance(xml, bytes):
        xml = bz2.decompress(Path(xml).read_bytes())
    header, pages, footer = split_pages(xml)
    dump = Path(out_dir) / f"{name}-pages-articles-multistream.xml.bz2"
    index = Path(out_dir) / f"{name}-pages-articles-multistream-index.txt.bz2"
    lines = []
    with open(dump, "wb") as f:
        f.write(bz2.compress(header))
        for i in range(0, len(pages), pages_per_stream):
            offset, group = f.tell(), pages[i:i + pages_per_stream]
            for page in group:
                pid = int(re.search(rb"<id>(\d+)</id>", page).group(1))
                lines.append(f"{offset}:{pid}:{re.search(rb'<title>(.*?)</title>', page).group(1).decode()}")
            f.write(bz2.compress(b"".join(group)))
        f.write(bz2.compress(footer))
    index.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return dump, index
