"""Turn one fetched body into text, title, date and out-links (runs in extraction processes).

`process_page` is a plain top-level function of picklable arguments so a ProcessPoolExecutor
can run it; it also stores the raw body gzip-compressed under its sha256, so the CPU work of a
page (hashing, compressing, decoding, parsing, extracting) happens outside the fetch loop.
It never raises: malformed HTML becomes an `error` string, and the crawl goes on.

Text: trafilatura main-text extraction (or the recipe's content CSS selector), then NFC
normalization (Bengali pre-composed letters such as U+09DF YYA decompose under NFC; without it
the same word has two spellings) and removal of control characters. Title: the page's <h1>
headline when <title> confirms it, else trafilatura's title without a trailing " | Site" part.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any, Optional

from bilingual.sources.web.fetch import decode_html

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:]\s+")
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "figcaption")


def clean_text(text: str) -> str:
    """NFC, no control characters, single spaces, no empty lines."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def store_raw(body: bytes, raw_dir: str | os.PathLike) -> str:
    """Write `<raw_dir>/<sha256>.html.gz` (atomically; skipped when present). Returns the sha256."""
    digest = hashlib.sha256(body).hexdigest()
    path = Path(raw_dir) / f"{digest}.html.gz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(gzip.compress(body, compresslevel=6, mtime=0))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return digest


def _parse(text: str, base_url: str):
    import lxml.html

    text = _XML_DECL.sub("", text, count=1)
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
    tree = lxml.html.document_fromstring(text.encode("utf-8", errors="replace"), parser=parser, base_url=base_url)
    return tree


def _meta_robots(tree) -> set[str]:
    out: set[str] = set()
    for meta in tree.iter("meta"):
        if (meta.get("name") or "").strip().lower() in ("robots", "bilingual-corpus-bot"):
            out.update(t.strip().lower() for t in (meta.get("content") or "").split(","))
    return out


def _links(tree, base_url: str, selectors: list[str]) -> list[str]:
    from urllib.parse import urljoin

    base = base_url
    for b in tree.iter("base"):
        if b.get("href"):
            base = urljoin(base_url, b.get("href").strip())
            break
    anchors = []
    if selectors:
        for sel in selectors:
            for el in tree.cssselect(sel):
                anchors.extend([el] if el.tag == "a" else el.iter("a"))
    else:
        anchors = list(tree.iter("a"))
    out, seen = [], set()
    for a in anchors:
        href = (a.get("href") or "").strip()
        rel = (a.get("rel") or "").lower()
        if not href or href.startswith("#") or "nofollow" in rel:
            continue
        try:
            url = urljoin(base, href)
        except ValueError:
            continue
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out


def _headline(tree) -> Optional[str]:
    title_el = tree.find(".//title")
    page_title = clean_text(title_el.text_content()) if title_el is not None else ""
    for h1 in tree.iter("h1"):
        text = clean_text(h1.text_content())
        if 3 <= len(text) <= 400 and (not page_title or text in page_title):
            return text
    return None


def _strip_site_name(title: Optional[str]) -> Optional[str]:
    if not title:
        return None
    parts = _TITLE_SEPARATORS.split(title)
    return max(parts, key=len).strip() if len(parts) > 1 else title.strip()


def _selector_text(tree, selector: str) -> str:
    paragraphs = []
    for el in tree.cssselect(selector):
        blocks = [b for b in el.iter(*_BLOCKS)]
        if blocks:
            paragraphs.extend(b.text_content() for b in blocks if not any(p in blocks for p in b.iterancestors()))
        else:
            paragraphs.append(el.text_content())
    return "\n".join(paragraphs)


def process_page(body: bytes, content_type: Optional[str], url: str, raw_dir: str,
                 options: dict[str, Any]) -> dict[str, Any]:
    """Everything the crawl needs from one body. Keys: sha256, encoding, charset_source, text,
    title, date, links, noindex, error (None when fine)."""
    out: dict[str, Any] = {"sha256": None, "encoding": None, "charset_source": None, "text": "", "title": None,
                           "date": None, "links": [], "noindex": False, "error": None}
    try:
        out["sha256"] = store_raw(body, raw_dir)
        text, enc, how = decode_html(body, content_type)
        out["encoding"], out["charset_source"] = enc, how
        mime = (content_type or "").split(";")[0].strip().lower()
        if mime == "text/plain":
            out["text"] = clean_text(text)
            return out
        tree = _parse(text, url)
        robots = _meta_robots(tree)
        out["noindex"] = "noindex" in robots or "none" in robots
        if not ({"nofollow", "none"} & robots) and options.get("follow", True):
            out["links"] = _links(tree, url, options.get("link_selectors") or [])
        headline = _headline(tree)
        selector = options.get("content_selector")
        if selector:
            import trafilatura

            out["text"] = clean_text(_selector_text(tree, selector))
            meta = trafilatura.extract_metadata(tree, default_url=url)
            title, date = (meta.title, meta.date) if meta is not None else (None, None)
        else:
            import trafilatura

            doc = trafilatura.bare_extraction(tree, url=url, with_metadata=True, include_comments=False,
                                              include_tables=True)
            title, date = (doc.title, doc.date) if doc is not None else (None, None)
            out["text"] = clean_text(doc.text or "") if doc is not None else ""
        out["title"] = headline or _strip_site_name(clean_text(title) if title else None)
        out["date"] = date
    except ImportError:  # a broken install, not a bad page: stop with the message instead of failing every page
        raise
    except Exception as err:  # malformed input must never stop the crawl
        out["error"] = f"extract-error: {type(err).__name__}: {str(err)[:200]}"
    return out
