"""The `normalize` step: Unicode/whitespace repairs on both sides (see normalize.py)."""

from __future__ import annotations

from .normalize import normalize_text
from .pipeline import StepParams, register


class NormalizeParams(StepParams):
    form: str = "NFC"
    strip_controls: bool = True
    collapse_whitespace: bool = True
    dangling_zero_width: bool = True
    repeated_signs: bool = True
    khanda_ta: bool = False
    pipe_to_danda: bool = False


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
