"""The `adequacy` step: reject pairs whose sides are not translations of each other.

The scorer (bilingual.filters.adequacy_model) is trained by the step itself from trusted parallel
pairs (by default the bundled Tatoeba pairs and the TICO-19 documents outside the held-out
benchmark half; or the files a recipe lists in `trusted`), widened by the bundled OPUS-100 validation
pairs that a first scorer accepts (`widen`), saved under the run's artifacts
(`artifacts/adequacy/`, with its training report) and reused by a rerun with the same trusted data
and parameters. Each pair gets an `adequacy` score (P(translation)); pairs under the threshold
chosen for `false_reject` on held-out trusted documents are rejected as `low_adequacy`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from bilingual.filters.base import StepParams, register


class AdequacyParams(StepParams):
    trusted: list[str] = []  # .tsv / .tmx / "x.bn,x.en" files of trusted pairs; [] = the bundled corpora
    # pairs of unknown quality that widen the domain, kept where a scorer fit on `trusted` alone accepts them;
    # None = the bundled OPUS-100 validation set when `trusted` is the default, else none
    widen: Optional[list[str]] = None
    false_reject: float = 0.01  # share of held-out trusted pairs the threshold may reject
    threshold: Optional[float] = None  # a fixed threshold instead of the learned one
    model: Optional[str] = None  # a saved scorer folder to use as it is (no training)
    seed: int = 13


def trusted_pairs(p: AdequacyParams):
    from bilingual.filters.adequacy_model import bundled_trusted, read_trusted
    from bilingual.layout import PARALLEL_SAMPLES
    from bilingual.mining.align import benchmark_split, tico_documents

    if p.trusted:
        return read_trusted(p.trusted)
    held_out = benchmark_split(tico_documents(PARALLEL_SAMPLES / "tico19-all.en-bn.tmx"))
    return bundled_trusted(exclude_tico_docs=held_out)


def widening_pairs(p: AdequacyParams):
    from bilingual.filters.adequacy_model import bundled_widening, read_trusted

    if p.widen is None:
        return [] if p.trusted else bundled_widening()
    return read_trusted(p.widen)


def load_or_fit(p: AdequacyParams, folder: Optional[Path]):
    """The scorer for these parameters: the run's saved one when its fingerprint matches, else a copy of
    the one this machine already trained on the same trusted data (cache), else trained now; it is
    saved in `folder` (the run's artifacts) and in the cache."""
    import shutil

    from bilingual.filters.adequacy_model import AdequacyScorer, fingerprint, fit_scorer

    if p.model:
        return AdequacyScorer.load(p.model), p.model
    pairs, widen = trusted_pairs(p), widening_pairs(p)
    fp = fingerprint(pairs + widen, seed=p.seed, false_reject=p.false_reject, widened=len(widen))
    cache = Path(os.environ.get("BILINGUAL_CACHE", Path.home() / ".cache" / "bilingual")) / f"adequacy-{fp}"
    folder = folder or cache
    for candidate in dict.fromkeys([folder, cache]):
        scorer = _load_matching(candidate, fp)
        if scorer is not None:
            if candidate != folder:
                shutil.rmtree(folder, ignore_errors=True)
                shutil.copytree(candidate, folder)
            return scorer, str(folder)
    scorer = fit_scorer(pairs, seed=p.seed, false_reject=p.false_reject, widen=widen)
    scorer.report["fingerprint"] = fp
    scorer.save(folder)
    if folder != cache:
        try:
            scorer.save(cache)
        except OSError:
            pass  # a read-only cache only costs the next run a fit
    return scorer, str(folder)


def _load_matching(folder: Path, fp: str):
    from bilingual.filters.adequacy_model import AdequacyScorer

    if not (folder / "scorer.json").exists():
        return None
    try:
        scorer = AdequacyScorer.load(folder)
    except (OSError, ValueError, KeyError, EOFError):
        return None  # an unreadable or outdated scorer is trained again
    return scorer if scorer.report.get("fingerprint") == fp else None


def _fit(ds, alive, p: AdequacyParams, ctx):
    from bilingual import console

    folder = Path(ctx.artifacts_dir) / "adequacy" if ctx.artifacts_dir is not None else None
    scorer, where = load_or_fit(p, folder)
    ctx.state["adequacy"] = scorer
    ho = scorer.report.get("heldout", {})
    # filter and build write their artifacts in a work folder that is renamed to the output folder when
    # complete: its path is gone by the time a person reads it, so name the folder within the output
    shown = where if p.model or folder is None else f"{Path(ctx.artifacts_dir).name}/adequacy/ of this run's output"
    console.detail("adequacy scorer", {"folder": shown, "threshold": round(scorer.threshold, 4),
                                        "held-out false rejects": ho.get("false_reject"), "held-out AUC": ho.get("auc")})


def _lid_columns(batch):
    """The langid step's predictions when it ran before (same lid.176 model): not computed twice."""
    if not all(c in batch for c in ("lid_bn", "lid_bn_prob", "lid_en", "lid_en_prob")):
        return None
    return tuple([p if l == side else 0.0 for l, p in zip(batch[f"lid_{side}"], batch[f"lid_{side}_prob"])]
                 for side in ("bn", "en"))


@register("adequacy", AdequacyParams, fit=_fit, outputs={"adequacy": "float32"})
def adequacy_step(batch, p: AdequacyParams, ctx):
    """P(the sides translate each other) from the scorer trained on trusted pairs; low = misaligned/partial."""
    from threadpoolctl import threadpool_limits

    scorer = ctx.state["adequacy"]
    limit = p.threshold if p.threshold is not None else scorer.threshold
    with threadpool_limits(1):  # one thread per worker: OpenMP threads thrash on shared cores
        scores = scorer.score(batch["bn"], batch["en"], _lid_columns(batch)).tolist()
    return {"adequacy": scores, "_reason": [None if s >= limit else "low_adequacy" for s in scores]}
