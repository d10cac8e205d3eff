"""Length steps: `length` (bounds per side) and `length_ratio` (OpusFilter's LengthRatioFilter:
longer/shorter, reject when >= threshold), so the two can be compared decision by decision."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bilingual.filters.base import NonNegativeInt, PositiveInt, StepParams, register

SIDES = ("bn", "en")


class LengthParams(StepParams):
    unit: Literal["char", "word"] = "word"
    min_bn: NonNegativeInt = 1
    max_bn: PositiveInt = 200
    min_en: NonNegativeInt = 1
    max_en: PositiveInt = 200


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
    threshold: Annotated[float, Field(ge=1.0)] = 3.0  # longer side / shorter side


@register("length_ratio", LengthRatioParams, outputs={"length_ratio": "float32"})
def length_ratio_step(batch, p: LengthRatioParams, ctx):
    """Reject pairs whose longer side is >= threshold times the shorter one."""
    ratios = []
    for b, e in zip(batch["bn"], batch["en"]):
        lo, hi = sorted((_length(b, p.unit), _length(e, p.unit)))
        ratios.append(0.0 if hi == 0 else float("inf") if lo == 0 else hi / lo)
    return {"length_ratio": ratios, "_reason": [None if r < p.threshold else "length_ratio" for r in ratios]}
