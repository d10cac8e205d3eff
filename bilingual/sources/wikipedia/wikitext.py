"""Wikitext → clean plain text, with a lean stack/regex cleaner instead of mwparserfromhell.

Why not mwparserfromhell: it builds a full node tree for every page, which made it ~75% of the
baseline's time on the bundled bnwiki sample; we only need the prose. This cleaner does a few linear
passes: comments and content-bearing tags (<ref>, <gallery>, <math>, ...) are removed; templates
`{{...}}` and tables `{|...|}` are removed with one nesting-aware scan (a few inline templates that
carry prose — lang, nowrap, convert — keep their text); links are resolved innermost-first, so a
file caption's inner links go before the file link itself; then external links, bold/italics,
HTML entities and list/heading markup. `tests/sources/wikipedia/test_wiki_text.py` compares the output with
mwparserfromhell's `strip_code` on the real bundled Bengali and English pages.

Namespaces come from the dump's own `<siteinfo>` (e.g. বিষয়শ্রেণী = 14, চিত্র = 6 on bnwiki), plus
MediaWiki's canonical names for the same namespace numbers, which every wiki accepts
(`[[File:...]]` and `[[Image:...]]` are common on bnwiki too).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

FILE_NS = (6, -2)
CATEGORY_NS = 14

# MediaWiki's canonical namespace names (valid on every wiki, whatever its language) and aliases.
CANONICAL = {
    -2: ("Media",), -1: ("Special",), 1: ("Talk",), 2: ("User",), 3: ("User talk",),
    4: ("Project", "WP"), 5: ("Project talk", "WT"), 6: ("File", "Image"), 7: ("File talk", "Image talk"),
    8: ("MediaWiki",), 9: ("MediaWiki talk",), 10: ("Template",), 11: ("Template talk",), 12: ("Help",),
    13: ("Help talk",), 14: ("Category",), 15: ("Category talk",), 100: ("Portal",), 101: ("Portal talk",),
    118: ("Draft",), 119: ("Draft talk",), 828: ("Module",), 829: ("Module talk",),
}
# Interwiki prefixes of Wikimedia sister projects (links to them keep their label, if any).
SISTER_PREFIXES = frozenset(
    "w wikipedia wikt wiktionary s wikisource q wikiquote b wikibooks n wikinews v wikiversity voy wikivoyage "
    "m meta c commons species wikispecies d wikidata mw mediawikiwiki phab foundation wmf iarchive "
    "outreach incubator".split())
_LANG_PREFIX_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")


def _norm_ns(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass
class Namespaces:
    """Namespace names → numbers for one wiki, built from its dump's <siteinfo>."""

    names: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_siteinfo(cls, namespaces: Mapping[int, str], canonical: bool = True) -> "Namespaces":
        names: dict[str, int] = {}
        if canonical:
            for key, aliases in CANONICAL.items():
                for alias in aliases:
                    names[_norm_ns(alias)] = key
        for key, name in namespaces.items():  # the dump's own names win
            if name:
                names[_norm_ns(name)] = int(key)
        return cls(names)

    def lookup(self, prefix: str) -> Optional[int]:
        return self.names.get(_norm_ns(prefix))


DEFAULT_NAMESPACES = Namespaces.from_siteinfo({})

_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_DROP_TAGS = ("ref|references|gallery|math|timeline|imagemap|score|graph|templatedata|syntaxhighlight|source|"
              "code|chem|ce|hiero|mapframe|maplink|categorytree|inputbox|charinsert|indicator|section|pre")
_SELF_CLOSING_RE = re.compile(rf"<(?:{_DROP_TAGS})\b[^>]*/\s*>", re.I)
_DROP_TAG_RE = re.compile(rf"<({_DROP_TAGS})\b[^>]*>.*?(?:</\1\s*>|\Z)", re.I | re.S)
_BR_RE = re.compile(r"<br\s*/?\s*>", re.I)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*\b[^<>]*>")
_TOKEN_RE = re.compile(r"\{\{|\}\}|^[ \t]*\{\||^[ \t]*\|\}", re.M)
_LINK_RE = re.compile(r"\[\[((?:[^\[\]]|\[(?!\[)|\](?!\]))*)\]\]")  # innermost: no [[ or ]] inside
_EXTLINK_RE = re.compile(r"\[(?:(?:https?|ftp):)?//[^\s\]\[]+(?:[ \t]+([^\]\[]*))?\]", re.I)
_URL_RE = re.compile(r"(?:https?|ftp)://[^\s<>\[\]{}|]+", re.I)
_QUOTES_RE = re.compile(r"'{2,}")
_MAGIC_RE = re.compile(r"__[A-Z০-৯A-Za-z\u0980-\u09FF]+__")
_HEADING_RE = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$")
_EMPTY_PARENS_RE = re.compile(r"[(（]\s*[,;:।/–—-]*\s*[)）]")
_SPACE_RE = re.compile(r"[ \t\u00a0\u2009\u202f]+")
_SPACE_PUNCT_RE = re.compile(r" +([,;:.।॥?!)])")
_OPEN_PAREN_SPACE_RE = re.compile(r"\(\s*[,;:]?\s*(?=\S)")
_HAS_WORD_RE = re.compile(r"\w", re.U)

# Inline templates whose argument is prose (rendered instead of removed). Keys are casefolded names.
_KEEP_ARG = {"nowrap": 1, "nobr": 1, "small": 1, "big": 1, "lang": -1, "transl": -1, "ভাষা": -1, "nobold": 1,
             "noitalic": 1, "em": 1, "smaller": 1, "larger": 1, "resize": -1, "linktext": 1, "sic": -1}


def _split_args(body: str) -> list[str]:
    """Split a template body on `|` outside nested [[..]] / {{..}}."""
    parts, depth, start, i = [], 0, 0, 0
    n = len(body)
    while i < n:
        two = body[i:i + 2]
        if two in ("[[", "{{"):
            depth += 1
            i += 2
            continue
        if two in ("]]", "}}"):
            depth = max(0, depth - 1)
            i += 2
            continue
        if body[i] == "|" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:])
    return parts


def _renders(body: str) -> bool:
    key = " ".join(body.partition("|")[0].split()).casefold()
    return key in _KEEP_ARG or key.startswith(("lang-", "lang_", "convert", "cvt"))


def _render_template(body: str) -> str:
    """Text for a template that carries prose; '' for everything else (infoboxes, citations, ...)."""
    name, _, _ = body.partition("|")
    key = " ".join(name.split()).casefold()
    if "|" not in body:
        return ""
    args = [a for a in _split_args(body)[1:] if not re.match(r"^\s*[\w\- ]+\s*=", a)]
    if not args:
        return ""
    if key.startswith("lang-") or key.startswith("lang_"):
        return args[0]
    if key in ("convert", "cvt"):
        return " ".join(a.strip() for a in args[:2])
    pos = _KEEP_ARG.get(key)
    if pos is None:
        return ""
    if pos == -1:
        return args[-1]
    return args[pos - 1] if len(args) >= pos else ""


def strip_templates(text: str) -> str:
    """Remove `{{templates}}` and `{| tables |}` (nested either way) in one scan; a few prose-bearing
    templates are replaced by their text. An opener that is never closed is kept out of the output
    on its own (two characters), rather than swallowing the rest of the page."""
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        stack: list[tuple[str, int]] = []
        emitted_to = pos
        for m in _TOKEN_RE.finditer(text, pos):
            tok = m.group().strip()
            if tok in ("{{", "{|"):
                if not stack:
                    out.append(text[emitted_to:m.start()])
                stack.append((tok, m.start()))
                continue
            if not stack:
                continue
            want = "{{" if tok == "}}" else "{|"
            if not any(t == want for t, _ in stack):
                continue  # a stray closer inside another construct
            while stack:
                t, start = stack.pop()
                if t == want:
                    break
            if not stack:
                if want == "{{":
                    body = text[start + 2:m.start()]
                    if _renders(body):
                        out.append(_render_template(strip_templates(body) if "{{" in body else body))
                emitted_to = m.end()
        if stack:  # unclosed: drop the outermost opener only and rescan after it
            _, start = stack[0]
            pos = start + 2 + (len(text[start:]) - len(text[start:].lstrip(" \t")))
            continue
        out.append(text[emitted_to:])
        break
    return "".join(out)


class WikitextCleaner:
    """Callable turning one page's wikitext into paragraphs of plain text ("\\n\\n"-separated)."""

    def __init__(self, namespaces: Optional[Namespaces] = None, keep_headings: bool = True):
        self.ns = namespaces or DEFAULT_NAMESPACES
        self.keep_headings = keep_headings

    def _link(self, m: re.Match) -> str:
        target, pipe, label = m.group(1).partition("|")
        t = target.strip()
        leading_colon = t.startswith(":")
        t = t.lstrip(":").strip()
        if pipe and "|" in label:  # only files have several pipes; take the last part as the caption
            label = label.rsplit("|", 1)[-1]
        if ":" in t:
            prefix, _, rest = t.partition(":")
            ns = self.ns.lookup(prefix)
            if ns is not None:
                if ns in FILE_NS:
                    return "" if not leading_colon else (label or rest)
                if ns == CATEGORY_NS and not leading_colon:
                    return ""
                return label.strip() if pipe and label.strip() else t
            p = prefix.strip()
            if _LANG_PREFIX_RE.match(p) and p not in SISTER_PREFIXES:
                if not leading_colon:
                    return ""  # an interlanguage link
                return label.strip() if pipe and label.strip() else rest
            if p.casefold() in SISTER_PREFIXES:
                return label.strip() if pipe else ""
        if pipe:
            label = label.strip()
            if not label:  # pipe trick: [[Foo (bar)|]] shows "Foo"
                return re.sub(r"\s*\(.*?\)\s*$", "", t.split(",")[0])
            return label
        return t.split("#")[0] if not t.startswith("#") else t[1:]

    def __call__(self, text: str) -> str:
        if not text:
            return ""
        text = _COMMENT_RE.sub("", text)
        text = _SELF_CLOSING_RE.sub("", text)
        text = _DROP_TAG_RE.sub("", text)
        text = strip_templates(text)
        text = _EXTLINK_RE.sub(lambda m: m.group(1) or "", text)  # before wikilinks: captions may hold them
        for _ in range(6):  # innermost links first: file captions may hold links
            text, n = _LINK_RE.subn(self._link, text)
            if not n:
                break
        text = text.replace("[[", "").replace("]]", "")  # strays of broken markup
        text = _URL_RE.sub("", text)
        text = _BR_RE.sub(" ", text)
        text = _TAG_RE.sub("", text)
        text = _QUOTES_RE.sub("", text)
        text = _MAGIC_RE.sub("", text)
        text = html.unescape(text)
        paragraphs = []
        for line in text.split("\n"):
            line = line.strip()
            if not line:
                continue
            h = _HEADING_RE.match(line)
            if h:
                if not self.keep_headings:
                    continue
                line = h.group(2)
            elif line[0] in "|!" or line.startswith("----") or line.startswith("[[") or line.startswith("]]"):
                continue  # table rows left by broken markup, rules, unclosed links
            else:
                line = line.lstrip("*#:; ")
            line = _EMPTY_PARENS_RE.sub("", line)
            line = _SPACE_RE.sub(" ", line)
            line = _SPACE_PUNCT_RE.sub(r"\1", line)
            line = _OPEN_PAREN_SPACE_RE.sub("(", line).strip()
            if line and _HAS_WORD_RE.search(line):
                paragraphs.append(line)
        return "\n\n".join(paragraphs)


def clean_wikitext(text: str, namespaces: Optional[Namespaces] = None) -> str:
    return WikitextCleaner(namespaces)(text)
