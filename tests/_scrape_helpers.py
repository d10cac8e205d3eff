"""Helpers for the crawler tests: a test recipe for a `LocalSite` and routes that misbehave (slow, endless, a
sequence of replies). The site itself (`LocalSite`, `Reply`, `html`) lives in bilingual.testing_utils, shared with
the benchmarks."""

from __future__ import annotations

import time

from bilingual.sources.web.config import SourceConfig
from bilingual.testing_utils import BN_PAGE, EN_PAGE, LocalSite, Reply, html  # noqa: F401 (re-exported to the tests)


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
