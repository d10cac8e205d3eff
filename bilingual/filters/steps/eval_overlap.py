"""Removal of training pairs whose bn or en side occurs in an evaluation set of the recipe."""

from __future__ import annotations

import functools
from typing import Literal

from bilingual.filters.base import StepParams, register
from bilingual.filters.steps.dedup import key_hash
from bilingual.schema import normalize_key

class EvalOverlapParams(StepParams):
    eval_sets: list[str] = []  # files BilingualDataset can read (TSV, TMX, Parquet, JSONL, `a.bn,a.en` pairs)
    sides: list[Literal["bn", "en"]] = ["bn", "en"]


@functools.lru_cache(maxsize=4)
def eval_keys(paths: tuple[str, ...]) -> dict[str, frozenset]:
    from bilingual.corpus.dataset import read_any

    keys = {"bn": set(), "en": set()}
    for path in paths:
        for row in read_any(path):
            for side in ("bn", "en"):
                if row.get(side):
                    keys[side].add(key_hash(normalize_key(row[side])))
    return {k: frozenset(v) for k, v in keys.items()}


@register("eval_overlap", EvalOverlapParams)
def eval_overlap_step(batch, p: EvalOverlapParams, ctx):
    """Drop training pairs whose normalized bn or en side occurs in an evaluation set of the recipe."""
    keys = eval_keys(tuple(str(x) for x in p.eval_sets))
    reasons = []
    for b, e in zip(batch["bn"], batch["en"]):
        r = None
        for side, t in (("bn", b), ("en", e)):
            if side in p.sides and key_hash(normalize_key(t)) in keys[side]:
                r = f"eval_overlap_{side}"
                break
        reasons.append(r)
    return {"_reason": reasons}
