"""Interlanguage links: which English article a Bengali article is linked to.

Inputs:
- a Wikimedia `langlinks.sql(.gz)` table dump (`INSERT INTO `langlinks` VALUES (ll_from,'ll_lang','ll_title'),...;`),
  read by a small streaming parser of MySQL dump rows (quoted strings with backslash escapes, so
  quotes, parentheses and commas inside titles are safe; memory is one INSERT line at a time);
- a TSV with a header naming `bn_page_id` and/or `bn_title`, and `en_title`
  (e.g. data/samples/wiki/overlap_bn_en_titles.tsv).
English redirects are followed when a redirect map is given (from the English dump itself:
`dump.redirects_from_dump`, or a `source<TAB>target` TSV).
"""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\",
            "%": "\\%", "_": "\\_"}
_INSERT_RE = re.compile(r"INSERT INTO `([^`]+)` VALUES ")
_VALUE_RE = re.compile(r"'((?:[^'\\]|\\.)*)'|(NULL)|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)", re.S)
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)


class SqlFormatError(ValueError):
    """A SQL dump row that cannot be parsed; the message names the file, line and column."""


def _open_text(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8", newline="\n") if gz else open(path, encoding="utf-8", newline="\n")


def _unescape(s: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), s) if "\\" in s else s


def _parse_values(line: str, pos: int, where) -> Iterator[tuple]:
    """Rows of one `VALUES (...),(...);` statement starting at `pos`."""
    n = len(line)
    while True:
        if pos >= n or line[pos] != "(":
            raise SqlFormatError(f"{where(pos)}: expected '(' to open a row, found {line[pos:pos + 20]!r}")
        pos += 1
        row = []
        while True:
            m = _VALUE_RE.match(line, pos)
            if not m:
                raise SqlFormatError(f"{where(pos)}: cannot read a value at {line[pos:pos + 30]!r} "
                                     "(unterminated string or bad escaping?)")
            if m.group(1) is not None:
                row.append(_unescape(m.group(1)))
            elif m.group(2):
                row.append(None)
            else:
                num = m.group(3)
                row.append(int(num) if re.fullmatch(r"-?\d+", num) else float(num))
            pos = m.end()
            if pos < n and line[pos] == ",":
                pos += 1
                continue
            if pos < n and line[pos] == ")":
                pos += 1
                break
            raise SqlFormatError(f"{where(pos)}: expected ',' or ')' after a value, found {line[pos:pos + 20]!r}")
        yield tuple(row)
        if pos < n and line[pos] == ",":
            pos += 1
            continue
        if pos < n and line[pos] == ";":
            return
        raise SqlFormatError(f"{where(pos)}: expected ',' or ';' after a row, found {line[pos:pos + 20]!r}")


def iter_sql_rows(path, table: Optional[str] = None) -> Iterator[tuple]:
    """Rows (tuples of str/int/float/None) of the INSERT statements of a MySQL table dump."""
    path = Path(path)
    with _open_text(path) as f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):
                if not line.startswith("INSERT INTO"):
                    continue
                m = _INSERT_RE.match(line)
                if not m:
                    raise SqlFormatError(f"{path}:{lineno}: unreadable INSERT statement {line[:60]!r}")
                if table is not None and m.group(1) != table:
                    continue
                yield from _parse_values(line.rstrip("\n"), m.end(),
                                         lambda p, ln=lineno: f"{path}:{ln}:{p + 1}")
        except UnicodeDecodeError as err:
            raise SqlFormatError(f"{path}:{lineno + 1}: not UTF-8 ({err})") from err
        except (EOFError, OSError) as err:
            raise SqlFormatError(f"{path}: truncated or unreadable after line {lineno} ({err})") from err


def normalize_title(title: str) -> str:
    """MediaWiki title form: underscores are spaces, first letter upper case."""
    t = " ".join(title.replace("_", " ").split())
    return t[:1].upper() + t[1:] if t else t


def read_langlinks_sql(path, lang: str = "en") -> dict[int, str]:
    """`ll_from` page id → title in `lang`, from a langlinks table dump."""
    links: dict[int, str] = {}
    for row in iter_sql_rows(path, "langlinks"):
        if len(row) < 3:
            raise SqlFormatError(f"{path}: langlinks row with {len(row)} columns: {row!r}")
        if row[1] == lang and row[2]:
            links[int(row[0])] = normalize_title(str(row[2]))
    return links


@dataclass
class Link:
    bn_page_id: Optional[int]
    bn_title: Optional[str]
    en_title: str


def read_links_tsv(path) -> list[Link]:
    """Rows of a TSV with columns bn_page_id and/or bn_title, and en_title (header required)."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        cols = set(reader.fieldnames or [])
        if "en_title" not in cols or not ({"bn_page_id", "bn_title"} & cols):
            raise SqlFormatError(f"{path}: header must name en_title and bn_page_id or bn_title, got {sorted(cols)}")
        for lineno, row in enumerate(reader, 2):
            pid = (row.get("bn_page_id") or "").strip()
            if pid and not pid.isdigit():
                raise SqlFormatError(f"{path}:{lineno}: bn_page_id {pid!r} is not a number")
            en = (row.get("en_title") or "").strip()
            if not en:
                raise SqlFormatError(f"{path}:{lineno}: empty en_title")
            out.append(Link(int(pid) if pid else None, normalize_title(row["bn_title"]) if row.get("bn_title") else None,
                            normalize_title(en)))
    return out


def load_links(path, lang: str = "en") -> list[Link]:
    """Links from a langlinks SQL dump (by its INSERT statements) or a TSV (by its header)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".sql", ".sql.gz")):
        return [Link(pid, None, title) for pid, title in read_langlinks_sql(path, lang).items()]
    return read_links_tsv(path)


def read_redirects_tsv(path) -> dict[str, str]:
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[0] and parts[1]:
                out[normalize_title(parts[0])] = normalize_title(parts[1])
    return out


def resolve(title: str, redirects: Optional[dict[str, str]], max_hops: int = 5) -> str:
    """Follow redirects (at most `max_hops`, so loops end)."""
    t = normalize_title(title)
    for _ in range(max_hops):
        if not redirects or t not in redirects:
            break
        t = redirects[t]
    return t
