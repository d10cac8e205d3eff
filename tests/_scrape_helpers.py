"""A real HTTP server on 127.0.0.1 for the crawler tests and benchmark.

`LocalSite` serves a route table in a background thread and logs every request it receives
(monotonic time, Host header, path). A route is either a `Reply` (fixed status/headers/body),
or a function `(handler, hit_number) -> Reply | None` for faults (a function returning None has
written the response itself, e.g. a slow or endless one).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional, Union

from bilingual.sources.web.config import SourceConfig

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "html"
BN_PAGE = SAMPLES / "bn_ukbdnews.com.23646.html"
EN_PAGE = SAMPLES / "en_bbc.com.52241221.html"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})


Route = Union[Reply, Callable[[BaseHTTPRequestHandler, int], Optional[Reply]]]


def html(body: str, status: int = 200, content_type: str = "text/html; charset=utf-8", **headers) -> Reply:
    return Reply(status, body.encode("utf-8"), {"Content-Type": content_type, **headers})


class LocalSite:
    def __init__(self, routes: Optional[dict[str, Route]] = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.log: list[tuple[float, str, str]] = []
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                with site._lock:
                    site.log.append((time.monotonic(), (self.headers.get("Host") or "").split(":")[0], self.path))
                    n = site.hits[self.path] = site.hits.get(self.path, 0) + 1
                route = site.routes.get(self.path)
                if route is None:
                    reply = Reply(404, b"not found", {"Content-Type": "text/plain"})
                elif isinstance(route, Reply):
                    reply = route
                else:
                    try:
                        reply = route(self, n)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                if reply is None:
                    return
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


def config(site: LocalSite, start: list[str], **overrides) -> SourceConfig:
    """A test recipe: tiny delays and timeouts so faults resolve in well under a second."""
    base = dict(name="testsite", language="bn", license="test-only", start_urls=[site.url(p) for p in start],
                allowed_domains=["127.0.0.1"], delay=0.0, timeout=2.0, max_attempts=3, backoff=0.05,
                backoff_max=0.2, max_pages=50, max_depth=3, concurrency=2, documents={"min_chars": 20})
    base.update(overrides)
    return SourceConfig.model_validate(base)


def slow(seconds: float, reply: Reply):
    def route(handler, n):
        time.sleep(seconds)
        return reply
    return route


def endless(chunk: bytes = b"<p>" + "আ".encode() * 2000 + b"</p>\n"):
    """A 200 text/html response without Content-Length that never ends (until the client hangs up)."""
    def route(handler, n):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for _ in range(100_000):  # about 600 MB at most: far beyond any test max_bytes
                handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        return None
    return route


def sequence(*replies: Reply):
    """The n-th request gets replies[n-1] (the last one repeats)."""
    def route(handler, n):
        return replies[min(n, len(replies)) - 1]
    return route
