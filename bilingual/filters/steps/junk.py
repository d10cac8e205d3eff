"""The `junk` step: HTML leftovers, mojibake and very long lines."""

from __future__ import annotations

import re

from bilingual.filters.base import PositiveInt, StepParams, register


_HTML = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>|&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,6});")
# UTF-8 read as Latin-1/cp1252: Bengali comes out as "à¦"/"à§", punctuation as "â€", accents as "Ã".
_MOJIBAKE = re.compile(r"à¦|à§|â€|Ã[\x80-\xbf©¡-¿]|\ufffd|ï»¿")


class JunkParams(StepParams):
    html: bool = True
    mojibake: bool = True
    max_chars: PositiveInt = 1000  # a "sentence" longer than this is a paragraph or markup dump


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
