"""Polite, bounded HTTP fetching for the web collector.

- `HostPacer`: one request at a time per host, and the next one starts no sooner than
  `delay` seconds after the previous one ENDED (so the spacing the server sees can never be
  below the delay, whatever the network latency).
- `RobotsCache`: robots.txt fetched once per scheme+host+port with protego; 2xx → parsed,
  4xx → everything allowed, 5xx or unreachable → the host is disallowed (RFC 9309 §2.3.1).
  Redirects of robots.txt are followed within the same host only; one to another host is treated as
  no robots.txt (that host's rules are not this host's, and its body is never stored as this host's).
  Crawl-delay and Request-rate for our user agent raise the host's delay.
- `Fetcher.fetch(url)`: http(s) only; redirects followed by hand (each hop re-checked against
  the allowed domains and robots.txt); retries with tenacity (exponential backoff with jitter on
  connection errors, timeouts, 429 and 5xx; Retry-After honoured; attempts bounded); bodies
  streamed and cut at `max_bytes`; only HTML/text content types; a total deadline per request
  (`timeout`, headers and body together: the socket is shut down when it expires), so a server
  dribbling bytes cannot hold a fetch beyond `timeout` per attempt, `max_attempts` × `timeout` in all
  (plus the backoff waits).
- `decode_html(body, content_type)`: the charset from the BOM, the HTTP header, `<meta charset>`
  / `<meta http-equiv>` / `<?xml encoding?>` declarations, else strict UTF-8, else detection
  (windows-1252 preferred among equally likely single-byte code pages, as browsers do).
"""

from __future__ import annotations

import codecs
import email.utils
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from protego import Protego
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from bilingual.sources.web.config import SourceConfig

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml",
             "application/x-gzip", "application/gzip", "application/octet-stream", "text/plain")
REDIRECT_CODES = (301, 302, 303, 307, 308)


# ----------------------------------------------------------------------------- URLs

def normalize_url(url: str, base: Optional[str] = None) -> Optional[str]:
    """Absolute http(s) URL without fragment, lower-case scheme/host, no default port; None if not http(s)."""
    try:
        url = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        return None
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def domain_allowed(url: str, domains: list[str]) -> bool:
    host = host_of(url)
    return any(host == d or host.endswith("." + d) for d in domains)


# ----------------------------------------------------------------------------- charset

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.\-]+)["']""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SINGLE_BYTE_WESTERN = {"latin-1", "iso8859-1", "cp1252", "ascii"}


def _codec(name: Optional[str]) -> Optional[str]:
    if not name:
        return None
    name = name.strip().strip("'\"").lower()
    name = {"x-sjis": "shift_jis", "unicode": "utf-16", "iso-10646-ucs-2": "utf-16"}.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: Optional[str]) -> Optional[str]:
    m = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type or "", re.I)
    return m.group(1) if m else None


def decode_html(body: bytes, content_type: Optional[str] = None) -> tuple[str, str, str]:
    """(text, codec name, how it was chosen). Order: BOM, HTTP header, in-document declaration
    (first 4 KiB), strict UTF-8, charset_normalizer detection, UTF-8 with replacement."""
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return body.decode(enc, errors="replace").lstrip("\ufeff"), enc, "bom"
    candidates: list[tuple[str, str]] = []
    declared = _codec(header_charset(content_type))
    if declared:
        candidates.append((declared, "http-header"))
    head = body[:4096]
    m = _META_CHARSET.search(head) or _XML_DECL.search(head)
    if m:
        meta = _codec(m.group(1).decode("ascii", "ignore"))
        if meta and meta.startswith("utf-16"):  # an ASCII-readable declaration cannot be UTF-16 (WHATWG)
            meta = "utf-8"
        if meta:
            candidates.append((meta, "meta"))
    for enc, how in candidates:
        if enc in _SINGLE_BYTE_WESTERN and _is_multibyte_utf8(body):
            # A page labelled Latin-1 whose bytes are valid UTF-8 with non-ASCII characters is a
            # mislabelled UTF-8 page (common on Bengali sites); decoding it as Latin-1 gives mojibake.
            return body.decode("utf-8"), "utf-8", f"{how}-corrected"
        try:
            return body.decode(enc), enc, how
        except (UnicodeDecodeError, LookupError):
            continue  # a wrong declaration: fall through to the next evidence
    try:
        return body.decode("utf-8"), "utf-8", "utf-8-valid"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        enc = _detect(from_bytes(body[:200_000]))
        if enc:
            return body.decode(enc, errors="replace"), enc, "detected"
    except Exception:  # detection is best effort
        pass
    return body.decode("utf-8", errors="replace"), "utf-8", "fallback-replace"


def _detect(results) -> Optional[str]:
    """charset_normalizer's choice, except that among equally good single-byte candidates windows-1252 wins:
    it is the HTML default for undeclared legacy pages (WHATWG), and the tie-break of the detector alone
    often picks cp1250, which turns a Latin-1 page's è/ù/ê into č/ů/ę."""
    best = results.best()
    if best is None or not best.encoding:
        return None
    for m in results:
        if m.chaos <= best.chaos and m.coherence >= best.coherence and "cp1252" in (m.could_be_from_charset or []):
            return "cp1252"
    return best.encoding


def _is_multibyte_utf8(body: bytes) -> bool:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(ord(c) > 127 for c in text)


# ----------------------------------------------------------------------------- politeness

class HostPacer:
    """Per-host serialisation and spacing: `with pacer.slot(host, delay):` around each request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock, self._sleep = clock, sleep
        self._locks: dict[str, threading.Lock] = {}
        self._last_end: dict[str, float] = {}
        self._not_before: dict[str, float] = {}
        self._guard = threading.Lock()

    def _lock(self, host: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(host, threading.Lock())

    def hold_off(self, host: str, seconds: float) -> None:
        """Keep every request to `host` back for `seconds` (a 429/503 Retry-After)."""
        with self._guard:
            self._not_before[host] = max(self._not_before.get(host, 0.0), self._clock() + seconds)

    class _Slot:
        def __init__(self, pacer: "HostPacer", host: str, delay: float):
            self.pacer, self.host, self.delay = pacer, host, delay

        def __enter__(self):
            p = self.pacer
            self.lock = p._lock(self.host)
            self.lock.acquire()
            while True:
                with p._guard:
                    ready = max(p._last_end.get(self.host, float("-inf")) + self.delay,
                                p._not_before.get(self.host, float("-inf")))
                wait = ready - p._clock()
                if wait <= 0:
                    return self
                p._sleep(wait)

        def __exit__(self, *exc):
            with self.pacer._guard:
                self.pacer._last_end[self.host] = self.pacer._clock()
            self.lock.release()
            return False

    def slot(self, host: str, delay: float) -> "HostPacer._Slot":
        return HostPacer._Slot(self, host, delay)


@dataclass
class RobotsEntry:
    origin: str
    state: str  # "parsed" | "allow-all" | "unreachable"
    http_status: Optional[int] = None
    body: str = ""
    reason: Optional[str] = None
    parser: Optional[Protego] = None

    def decision(self, url: str, user_agent: str) -> str:
        if self.state == "unreachable":
            return "unreachable"
        if self.state == "allow-all" or self.parser is None:
            return "allowed"
        return "allowed" if self.parser.can_fetch(url, user_agent) else "disallowed"

    def delay(self, user_agent: str) -> float:
        """The larger of Crawl-delay and the spacing implied by Request-rate for our agent."""
        if self.parser is None:
            return 0.0
        delay = float(self.parser.crawl_delay(user_agent) or 0.0)
        rate = self.parser.request_rate(user_agent)
        if rate is not None and rate.requests:
            delay = max(delay, rate.seconds / rate.requests)
        return delay


def origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


# ----------------------------------------------------------------------------- fetching

class Retryable(Exception):
    """A failure worth another try; `retry_after` (seconds) when the server said how long to wait."""

    def __init__(self, reason: str, http_status: Optional[int] = None, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason, self.http_status, self.retry_after = reason, http_status, retry_after


class GiveUp(Exception):
    def __init__(self, reason: str, http_status: Optional[int] = None, status: str = "error"):
        super().__init__(reason)
        self.reason, self.http_status, self.status = reason, http_status, status


def parse_retry_after(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass
class FetchResult:
    url: str
    final_url: Optional[str] = None
    status: str = "ok"  # ok / skipped / error (LineageRecord.status)
    reason: Optional[str] = None
    http_status: Optional[int] = None
    content_type: Optional[str] = None
    body: Optional[bytes] = None
    bytes: int = 0
    attempts: int = 0  # HTTP requests made for this URL (retries and redirect hops included)
    robots: Optional[str] = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


# ----------------------------------------------------------------------------- total deadline per request

_current = threading.local()  # the _Deadline of the request this thread is making


class _Deadline:
    """A hard limit on one request, headers and body included: when it expires, the socket in use is shut
    down, so a server that sends one byte every half second (which no socket timeout catches) cannot hold
    the fetch beyond `seconds`."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.connection = None  # set by _TrackedConnection.request
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        _current.deadline = None
        return False

    def _expire(self) -> None:
        self.expired = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _tracked(base):
    class _TrackedConnection(base):
        def request(self, *args, **kwargs):  # noqa: D401 - urllib3 calls this for new and reused connections
            deadline = getattr(_current, "deadline", None)
            if deadline is not None:
                deadline.connection = self
            return super().request(*args, **kwargs)
    return _TrackedConnection


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections that register themselves with the thread's _Deadline."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        pools = {}
        for scheme, pool_cls in self.poolmanager.pool_classes_by_scheme.items():
            pools[scheme] = type(f"Deadline{pool_cls.__name__}", (pool_cls,),
                                 {"ConnectionCls": _tracked(pool_cls.ConnectionCls)})
        self.poolmanager.pool_classes_by_scheme = pools


class Fetcher:
    """Thread-safe: one instance is shared by the crawl's fetch threads."""

    def __init__(self, config: SourceConfig, pacer: Optional[HostPacer] = None,
                 robots_loaded: Optional[dict[str, RobotsEntry]] = None,
                 on_robots: Optional[Callable[[RobotsEntry, int], None]] = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.cfg = config
        self.pacer = pacer or HostPacer()
        self._sleep = sleep
        self._robots: dict[str, RobotsEntry] = dict(robots_loaded or {})
        self._robots_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._on_robots = on_robots
        self._local = threading.local()

    # -- sessions: one per thread (requests.Session is not documented as thread-safe)
    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.mount("http://", _DeadlineAdapter())
            s.mount("https://", _DeadlineAdapter())
            s.headers.update({"User-Agent": self.cfg.user_agent,
                              "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
                              "Accept-Encoding": "gzip, deflate"})
            self._local.session = s
        return s

    # -- robots.txt
    def robots_for(self, url: str) -> RobotsEntry:
        origin = origin_of(url)
        with self._guard:
            entry = self._robots.get(origin)
            if entry is not None:
                return entry
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:
            with self._guard:
                entry = self._robots.get(origin)
            if entry is None:
                entry, attempts = self._fetch_robots(origin)
                with self._guard:
                    self._robots[origin] = entry
                if self._on_robots:
                    self._on_robots(entry, attempts)
            return entry

    def _fetch_robots(self, origin: str) -> tuple[RobotsEntry, int]:
        url = origin + "/robots.txt"
        tries = [0]
        for _hop in range(6):  # RFC 9309: follow at least five redirects
            try:
                # RFC 9309 §2.5: parse at least the first 500 KiB; a longer file is cut there, not refused
                resp = self._request_with_retries(url, accept_types=None, limit=-512_000, tries=tries, for_robots=True)
            except (GiveUp, Retryable) as err:
                return RobotsEntry(origin, "unreachable", err.http_status, reason=err.reason), tries[0]
            attempts = tries[0]
            code, headers, body = resp
            if code in REDIRECT_CODES and headers.get("location"):
                nxt = normalize_url(headers["location"], url)
                if nxt is None:
                    return RobotsEntry(origin, "allow-all", code, reason="robots redirect to a non-http URL"), attempts
                if host_of(nxt) != host_of(origin):
                    # Only same-host redirects are followed: another host's rules are not this host's, and
                    # its body must never be stored as this host's robots.txt. Treated as no robots.txt.
                    return RobotsEntry(origin, "allow-all", code,
                                       reason=f"robots.txt redirects to another host ({nxt}): not followed, "
                                              "treated as no robots.txt"), attempts
                url = nxt
                continue
            if 200 <= code < 300:
                text = body.decode("utf-8", errors="replace")
                return RobotsEntry(origin, "parsed", code, text, parser=Protego.parse(text)), attempts
            if 400 <= code < 500:
                return RobotsEntry(origin, "allow-all", code, reason=f"robots.txt http {code}: all allowed"), attempts
            return RobotsEntry(origin, "unreachable", code, reason=f"robots.txt http {code}"), attempts
        return RobotsEntry(origin, "unreachable", None, reason="robots.txt: too many redirects"), tries[0]

    def host_delay(self, url: str) -> float:
        return max(self.cfg.delay, self.robots_for(url).delay(self.cfg.user_agent))

    # -- one request with retries
    def _request_with_retries(self, url: str, accept_types: Optional[tuple], limit: int,
                              tries: Optional[list] = None, for_robots: bool = False):
        """(status, headers, body) of one URL, no redirect following; retried per config.
        `tries[0]` counts the requests made. Raises GiveUp/Retryable (after the last try)."""
        cfg = self.cfg
        tries = tries if tries is not None else [0]

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            base = min(cfg.backoff_max, cfg.backoff * (2 ** (state.attempt_number - 1)))
            base += random.uniform(0, cfg.backoff)  # jitter
            ra = getattr(exc, "retry_after", None)
            return max(base, ra or 0.0)

        retrying = Retrying(stop=stop_after_attempt(cfg.max_attempts), wait=wait,
                            retry=retry_if_exception_type(Retryable), reraise=True, sleep=self._sleep)
        for attempt in retrying:
            with attempt:
                tries[0] += 1
                return self._request_once(url, accept_types, limit, for_robots)
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_once(self, url: str, accept_types: Optional[tuple], limit: int, for_robots: bool = False):
        """One request. `limit` > 0: a longer body is refused; < 0: the body is cut at -limit bytes."""
        cfg = self.cfg
        truncate = limit < 0
        limit = abs(limit)
        host = host_of(url)
        # robots.txt itself (and a same-host redirect of it, whatever its path) is paced by the recipe's delay:
        # asking robots_for() here would wait on the lock held by the robots.txt fetch in progress
        delay = cfg.delay if for_robots else self.host_delay(url)
        with self.pacer.slot(host, delay):
            deadline = _Deadline(cfg.timeout)
            try:
                with deadline:
                    result = self._exchange(url, accept_types, limit, truncate, host)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                if deadline.expired:
                    raise Retryable(f"timeout: no complete response in {cfg.timeout}s (total deadline)") from err
                if isinstance(err, requests.Timeout):
                    raise Retryable(f"timeout: {type(err).__name__}") from err
                if isinstance(err, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)) \
                        or not isinstance(err, requests.RequestException):
                    raise Retryable(f"connection-error: {type(err).__name__}") from err
                raise GiveUp(f"request-error: {type(err).__name__}: {err}") from err
            finally:
                if deadline.expired:
                    self._local.session = None  # its connection was shut down mid-request
            if deadline.expired:  # a body without Content-Length ends "normally" when its socket is shut down
                raise Retryable(f"timeout: no complete response in {cfg.timeout}s (total deadline)")
            return result

    def _exchange(self, url: str, accept_types: Optional[tuple], limit: int, truncate: bool, host: str):
        cfg = self.cfg
        resp = self._session().get(url, stream=True, allow_redirects=False, timeout=(cfg.timeout, cfg.timeout))
        with resp:
            code = resp.status_code
            if code == 429 or code >= 500:
                ra = parse_retry_after(resp.headers.get("Retry-After"))
                if ra is not None:
                    if ra > cfg.max_retry_after:
                        raise GiveUp(f"http-{code}: Retry-After {ra:.0f}s exceeds max_retry_after", code)
                    self.pacer.hold_off(host, ra)
                raise Retryable(f"http-{code}", code, ra)
            if code in REDIRECT_CODES:
                return code, {"location": resp.headers.get("Location", "")}, b""
            ctype = resp.headers.get("Content-Type", "")
            if code >= 400 or code < 200:
                # the body of a 4xx robots.txt is irrelevant; pages: not retried
                return code, {"content-type": ctype}, b""
            mime = ctype.split(";")[0].strip().lower()
            if accept_types is not None and mime not in accept_types:
                raise GiveUp(f"content-type: {mime or 'missing'}", code, status="skipped")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit and not truncate:
                raise GiveUp(f"too-large: Content-Length {int(length)} > {limit}", code, status="skipped")
            chunks, total = [], 0
            for chunk in resp.iter_content(chunk_size=65536):
                total += len(chunk)
                if total > limit:
                    if truncate:
                        chunks.append(chunk[: len(chunk) - (total - limit)])
                        break
                    raise GiveUp(f"too-large: body > {limit} bytes", code, status="skipped")
                chunks.append(chunk)
            return code, {"content-type": ctype}, b"".join(chunks)

    # -- one URL: robots, redirects, retries
    def fetch(self, url: str, accept_types: tuple = HTML_TYPES) -> FetchResult:
        cfg = self.cfg
        result = FetchResult(url=url)
        current = url
        tries = [0]
        for hop in range(cfg.max_redirects + 1):
            robots = self.robots_for(current)
            decision = robots.decision(current, cfg.user_agent)
            result.robots = decision
            if decision != "allowed":
                result.final_url = current if hop else None
                result.status = "skipped"
                where = "" if hop == 0 else f" (after redirect to {current})"
                result.reason = ("robots.txt disallows" if decision == "disallowed"
                                 else f"robots.txt unreachable ({robots.reason}): host disallowed") + where
                return result
            try:
                code, headers, body = self._request_with_retries(current, accept_types, cfg.max_bytes, tries)
                result.attempts = tries[0]
            except Retryable as err:
                result.attempts = tries[0]
                result.status, result.http_status = "error", err.http_status
                result.reason = f"{err.reason} after {tries[0]} attempts"
                result.final_url = current
                return result
            except GiveUp as err:
                result.attempts = tries[0]
                result.status, result.reason, result.http_status = err.status, err.reason, err.http_status
                result.final_url = current
                if err.reason.startswith("too-large: body"):
                    result.bytes = cfg.max_bytes
                return result
            result.http_status = code
            if code in REDIRECT_CODES:
                nxt = normalize_url(headers.get("location") or "", current)
                if nxt is None:
                    result.status, result.reason = "skipped", f"redirect to a non-http(s) URL {headers.get('location')!r}"
                    result.final_url = current
                    return result
                if not domain_allowed(nxt, cfg.allowed_domains):
                    result.status, result.reason = "skipped", f"redirect-offsite: {nxt} is outside allowed domains"
                    result.final_url = current
                    return result
                current = nxt
                continue
            result.final_url = current
            if code >= 400 or code < 200:
                result.status, result.reason = "error", f"http-{code}"
                return result
            result.content_type = headers.get("content-type")
            result.body = body
            result.bytes = len(body)
            return result
        result.status, result.reason, result.final_url = "skipped", f"too-many-redirects (> {cfg.max_redirects})", current
        return result
