"""Unicode normalization and cleanup for Bengali and English text.

Lossless by default: NFC, control characters and stray whitespace go, but the things Bengali
needs stay exactly as written: ZWJ/ZWNJ between letters of a word (র‍্যাব), the danda (।),
Bengali digits (০–৯). Repairs that change spelling conventions are opt-in. HTML character references
(`&amp;`, `&gt;`, `&#39;`) are decoded: text scraped from web pages or doubly escaped in TMX keeps them,
and they are characters, not markup (the `junk` step would otherwise reject the pair as HTML).
"""

from __future__ import annotations

import html
import re
import unicodedata

from typing import Literal

from bilingual.filters.base import StepParams, register

ZWNJ, ZWJ = "\u200c", "\u200d"
BN_LETTER = r"\u0980-\u09ff"

# Controls except \t\n\r are removed; \t\n\r and exotic spaces become a plain space.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\u200b\u2060\ufffe]")
_SPACES = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# ZWJ/ZWNJ at a word edge carry no meaning, except after a hasanta (ত্‍ is the legacy khanda ta).
_DANGLING_ZW = re.compile(r"(?<![\w\u0980-\u09ff])[\u200c\u200d]+|(?<!\u09cd)[\u200c\u200d]+(?![\w\u0980-\u09ff])")
_REPEATED_ZW = re.compile(r"([\u200c\u200d])\1+")
_DOUBLE_SIGN = re.compile(r"([\u09bc\u09cd\u09be-\u09cc\u09d7\u0981-\u0983])\1+")  # doubled nukta/hasanta/vowel sign
_KHANDA_TA = re.compile("\u09a4\u09cd\u200d")  # legacy khanda ta (pre-Unicode 4.1)
_PIPE_DANDA = re.compile(rf"(?<=[{BN_LETTER}])\s*\|(?=\s|$)")
# character references with their semicolon only: "AT&T", "R&D" and "&copy2020" stay as written
_ENTITY = re.compile(r"&(?:[a-zA-Z][a-zA-Z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")


def unescape_entities(text: str) -> str:
    """One level of HTML character references decoded (unknown names stay as they are)."""
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text) if "&" in text else text


def normalize_text(text: str, *, form: str = "NFC", strip_controls: bool = True, collapse_whitespace: bool = True,
                   dangling_zero_width: bool = True, repeated_signs: bool = True, khanda_ta: bool = False,
                   pipe_to_danda: bool = False, html_entities: bool = True) -> str:
    """One text through the configured repairs. Defaults never change a visible Bengali spelling."""
    if not text:
        return ""
    if html_entities:  # first: a reference may stand for a control character, a space or a non-NFC letter
        text = unescape_entities(text)
    if strip_controls:
        text = _CONTROLS.sub("", text)
    if form:
        text = unicodedata.normalize(form, text)
    if dangling_zero_width:
        text = _REPEATED_ZW.sub(r"\1", text)
        text = _DANGLING_ZW.sub("", text)
    if repeated_signs:
        text = _DOUBLE_SIGN.sub(r"\1", text)
    if khanda_ta:
        text = _KHANDA_TA.sub("\u09ce", text)
    if pipe_to_danda:
        text = _PIPE_DANDA.sub("।", text)
    if collapse_whitespace:
        text = _SPACES.sub(" ", text).strip()
    return text

class NormalizeParams(StepParams):
    form: Literal["NFC", "NFKC", "NFD", "NFKD", ""] = "NFC"  # "" = leave as is
    strip_controls: bool = True
    collapse_whitespace: bool = True
    dangling_zero_width: bool = True
    repeated_signs: bool = True
    khanda_ta: bool = False
    pipe_to_danda: bool = False
    html_entities: bool = True  # decode &amp; &gt; &#39; ... (one level)


@register("normalize", NormalizeParams, outputs={})
def normalize_step(batch, p: NormalizeParams, ctx):
    """NFC + Bengali repairs + control/whitespace cleanup; a side left empty is rejected ('empty_<side>')."""
    kw = p.model_dump()
    out, reasons, changed = {}, [None] * len(batch["bn"]), 0
    for side in ("bn", "en"):
        new = [normalize_text(t or "", **kw) for t in batch[side]]
        changed += sum(a != b for a, b in zip(new, batch[side]))
        for i, t in enumerate(new):
            if not t and reasons[i] is None:
                reasons[i] = f"empty_{side}"
        out[side] = new
    out["_reason"] = reasons
    out["_counts"] = {"changed_texts": changed}
    return out
