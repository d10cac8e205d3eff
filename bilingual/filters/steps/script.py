"""The `script` step: share of letters in the expected script (Bengali on the bn side, Latin on the
en side), as OpusFilter's CharacterScoreFilter defines it (share of alphabetic characters)."""

from __future__ import annotations

import regex

from bilingual.filters.base import Fraction, StepParams, register


_NOT_ALPHA = regex.compile(r"\p{Alphabetic=No}")
_NOT_SCRIPT = {"Bengali": regex.compile(r"\p{^Script=Bengali}"), "Latin": regex.compile(r"\p{^Script=Latin}")}


def script_share(text: str, script: str) -> float:
    alphas = _NOT_ALPHA.sub("", text)
    if not alphas:
        return 1.0
    return len(_NOT_SCRIPT[script].sub("", alphas)) / len(alphas)


class ScriptParams(StepParams):
    min_bn: Fraction = 0.8  # share of letters in Bengali script on the bn side
    min_en: Fraction = 0.8  # share of letters in Latin script on the en side


@register("script", ScriptParams, outputs={"script_bn": "float32", "script_en": "float32"})
def script_step(batch, p: ScriptParams, ctx):
    """Share of letters in the expected script: Bengali on the bn side, Latin on the en side."""
    sb = [script_share(t, "Bengali") for t in batch["bn"]]
    se = [script_share(t, "Latin") for t in batch["en"]]
    reasons = [("script_bn" if b < p.min_bn else "script_en" if e < p.min_en else None) for b, e in zip(sb, se)]
    return {"script_bn": sb, "script_en": se, "_reason": reasons}
