"""Sentence segmentation for Bengali and English, rule-based (no model, fast, predictable).

Bengali: the danda (।) and double danda (॥) always end a sentence; ? and ! end one when followed by
space; a full stop ends one only after a real word — abbreviations (ড., মো., খ্রি., কি.মি.) are short
tokens or contain an inner dot, and decimals (৩.৫, 3.5) have no space after the dot. Closing quotes
and brackets stay with the sentence they close.
English: . ? ! followed by space and an upper-case letter, digit, quote or bracket; not after a
known abbreviation (Mr., Dr., St., e.g., U.S., Jan.) or a single-letter initial (J. R. R. Tolkien).
Paragraph breaks (blank lines) always end a sentence.
"""

from __future__ import annotations

import re
import unicodedata

_CLOSERS = "\"'”’»)]}›"
_BOUNDARY_RE = re.compile(r"([।॥]+|[.?!…]+)([" + re.escape(_CLOSERS) + r"]*)(\s+|$)")
_DANDA_GLUED_RE = re.compile(r"([।॥]+)(?=[^\s" + re.escape(_CLOSERS) + r"।॥])")
_NEXT_EN_RE = re.compile(r"[\"'“‘(\[]?[A-Z0-9\u0980-\u09FF]")

EN_ABBREVIATIONS = frozenset("""
mr mrs ms dr prof st jr sr vs etc e.g i.e cf al fig figs no nos vol vols pp p ed eds inc ltd co corp gen col lt
capt cmdr sgt maj rev hon mt ft jan feb mar apr jun jul aug sep sept oct nov dec approx est dept univ assn bros
ca c op ch sec art u.s u.k u.n a.d b.c d.c ph.d b.a m.a m.d
""".split())
BN_ABBREVIATIONS = frozenset("""
ড ডা ডঃ মো মোঃ মুহা খ্রি খ্রিঃ খ্রিস্টপূ খ্রি.পূ কি মি সে লি নং পৃ ইং বি সা মু প্রা অধ্যা জে এম এস
""".split())


def _prev_token(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "(\"'“‘[":
        start -= 1
    return text[start:end]


def _bn_letters(token: str) -> int:
    return sum(1 for ch in token if unicodedata.category(ch) == "Lo")


def _is_boundary(text: str, m: re.Match, lang: str) -> bool:
    punct, space = m.group(1), m.group(3)
    if punct[0] in "।॥":
        return True
    nxt = text[m.end():m.end() + 2]
    if not space and m.end() < len(text):
        return False  # 3.5, ৩.৫, U.S.A, example.com
    if punct[0] in "?!…":
        return True
    if not nxt:
        return True
    token = _prev_token(text, m.start())
    bare = token.rstrip(".").lower()
    if lang == "bn" and re.search(r"[\u0980-\u09FF]", token):
        if "." in bare or bare in BN_ABBREVIATIONS or _bn_letters(bare) < 3:
            return False
        return True
    if bare in EN_ABBREVIATIONS or "." in bare and len(bare) <= 6:
        return False
    if len(bare) == 1 and bare.isalpha():
        return False  # an initial
    if re.fullmatch(r"[০-৯0-9]+", bare) and lang == "bn":
        return False  # "১৯৭২." inside Bengali prose is rare as an ending; keep it
    return bool(_NEXT_EN_RE.match(nxt)) or lang == "bn"


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of `text` in order; each stripped, none empty."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n|\n", text):
        para = para.strip()
        if not para:
            continue
        para = _DANDA_GLUED_RE.sub(r"\1 ", para)
        start = 0
        for m in _BOUNDARY_RE.finditer(para):
            if _is_boundary(para, m, lang):
                end = m.end(2)
                sent = para[start:end].strip()
                if sent:
                    out.append(sent)
                start = m.end()
        rest = para[start:].strip()
        if rest:
            out.append(rest)
    return out
