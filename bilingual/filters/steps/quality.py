"""Row-local quality steps: length bounds, length ratio, script share, number consistency,
and junk (HTML leftovers, mojibake, very long lines).

Script share follows OpusFilter's CharacterScoreFilter definition (share of alphabetic characters
that are in the expected script) and length ratio its LengthRatioFilter (longer/shorter, reject
when >= threshold), so the two can be compared decision by decision.
"""

from __future__ import annotations

import re
from typing import Literal

import regex

from bilingual.filters.base import StepParams, register

SIDES = ("bn", "en")


# ---------------------------------------------------------------- length

class LengthParams(StepParams):
    unit: Literal["char", "word"] = "word"
    min_bn: int = 1
    max_bn: int = 200
    min_en: int = 1
    max_en: int = 200


def _length(text: str, unit: str) -> int:
    return len(text.split()) if unit == "word" else len(text)


@register("length", LengthParams, outputs={"len_bn": "int32", "len_en": "int32"})
def length_step(batch, p: LengthParams, ctx):
    """Reject sides shorter than min_* or longer than max_* (in words or characters)."""
    out = {f"len_{s}": [_length(t, p.unit) for t in batch[s]] for s in SIDES}
    reasons = []
    for lb, le in zip(out["len_bn"], out["len_en"]):
        r = None
        if lb < p.min_bn:
            r = "too_short_bn"
        elif le < p.min_en:
            r = "too_short_en"
        elif lb > p.max_bn:
            r = "too_long_bn"
        elif le > p.max_en:
            r = "too_long_en"
        reasons.append(r)
    out["_reason"] = reasons
    return out


class LengthRatioParams(StepParams):
    unit: Literal["char", "word"] = "char"
    threshold: float = 3.0


@register("length_ratio", LengthRatioParams, outputs={"length_ratio": "float32"})
def length_ratio_step(batch, p: LengthRatioParams, ctx):
    """Reject pairs whose longer side is >= threshold times the shorter one."""
    ratios = []
    for b, e in zip(batch["bn"], batch["en"]):
        lo, hi = sorted((_length(b, p.unit), _length(e, p.unit)))
        ratios.append(0.0 if hi == 0 else float("inf") if lo == 0 else hi / lo)
    return {"length_ratio": ratios, "_reason": [None if r < p.threshold else "length_ratio" for r in ratios]}


# ---------------------------------------------------------------- script share

_NOT_ALPHA = regex.compile(r"\p{Alphabetic=No}")
_NOT_SCRIPT = {"Bengali": regex.compile(r"\p{^Script=Bengali}"), "Latin": regex.compile(r"\p{^Script=Latin}")}


def script_share(text: str, script: str) -> float:
    alphas = _NOT_ALPHA.sub("", text)
    if not alphas:
        return 1.0
    return len(_NOT_SCRIPT[script].sub("", alphas)) / len(alphas)


class ScriptParams(StepParams):
    min_bn: float = 0.8  # share of letters in Bengali script on the bn side
    min_en: float = 0.8  # share of letters in Latin script on the en side


@register("script", ScriptParams, outputs={"script_bn": "float32", "script_en": "float32"})
def script_step(batch, p: ScriptParams, ctx):
    """Share of letters in the expected script: Bengali on the bn side, Latin on the en side."""
    sb = [script_share(t, "Bengali") for t in batch["bn"]]
    se = [script_share(t, "Latin") for t in batch["en"]]
    reasons = [("script_bn" if b < p.min_bn else "script_en" if e < p.min_en else None) for b, e in zip(sb, se)]
    return {"script_bn": sb, "script_en": se, "_reason": reasons}


# ---------------------------------------------------------------- numbers

_BN_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
_NUMBER = re.compile(r"[0-9\u09e6-\u09ef]+(?:[.,][0-9\u09e6-\u09ef]+)*")


def numbers(text: str) -> list[str]:
    """Numbers in a text with Bengali digits mapped to ASCII and separators removed, sorted."""
    return sorted(re.sub(r"[.,]", "", m).translate(_BN_DIGITS).lstrip("0") or "0" for m in _NUMBER.findall(text))


class NumbersParams(StepParams):
    min_agreement: float = 1.0  # share of numbers (multiset, either side) that must match


@register("numbers", NumbersParams, outputs={"number_agreement": "float32"})
def numbers_step(batch, p: NumbersParams, ctx):
    """Numbers must agree across sides (০–৯ equals 0–9); pairs without numbers pass."""
    from collections import Counter

    scores = []
    for b, e in zip(batch["bn"], batch["en"]):
        nb, ne = Counter(numbers(b)), Counter(numbers(e))
        total = max(sum(nb.values()), sum(ne.values()))
        scores.append(1.0 if total == 0 else sum((nb & ne).values()) / total)
    return {"number_agreement": scores, "_reason": [None if s >= p.min_agreement else "number_mismatch" for s in scores]}


# ---------------------------------------------------------------- junk

_HTML = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>|&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,6});")
# UTF-8 read as Latin-1/cp1252: Bengali comes out as "à¦"/"à§", punctuation as "â€", accents as "Ã".
_MOJIBAKE = re.compile(r"à¦|à§|â€|Ã[\x80-\xbf©¡-¿]|\ufffd|ï»¿")


class JunkParams(StepParams):
    html: bool = True
    mojibake: bool = True
    max_chars: int = 1000  # a "sentence" longer than this is a paragraph or markup dump


@register("junk", JunkParams)
def junk_step(batch, p: JunkParams, ctx):
    """Reject HTML leftovers, mojibake and very long lines, naming which."""
    reasons = []
    for b, e in zip(batch["bn"], batch["en"]):
        r = None
        for side, t in (("bn", b), ("en", e)):
            if len(t) > p.max_chars:
                r = f"very_long_{side}"
            elif p.html and ("<" in t or "&" in t) and _HTML.search(t):
                r = f"html_{side}"
            elif p.mojibake and _MOJIBAKE.search(t):
                r = f"mojibake_{side}"
            if r:
                break
        reasons.append(r)
    return {"_reason": reasons}
