"""A small character n-gram language model (interpolated Witten–Bell) and the `perplexity` step.

Why our own: KenLM does not pip-install here, and a character model needs no tokenizer, handles
Bengali conjuncts as they are written, and is small enough to ship as an .npz artifact. Trained on
trusted monolingual text (by default the sides of the bundled trusted parallel corpora), it scores
disfluent or garbled lines (wrong script mixes, boilerplate, broken encodings) with a high
per-character perplexity. The rejection limit is learned on held-out trusted lines and stored in the
model file, never taken as a quantile of the input: clean input passes whole, and decisions do not
depend on how the input is chunked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Iterable, Optional

from pydantic import Field

import numpy as np

from bilingual.filters.base import Fraction, PositiveFloat, PositiveInt, StepParams, register

BOS, EOS = 2, 3  # code points used as sentence-start padding and end symbol
_P = np.uint64(0x100000001B3)  # odd multiplier of the rolling n-gram hash


def _encode(texts: list[str], order: int) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one code-point array, each padded with order-1 BOS and one EOS; and the
    index of each text's first predicted position (the char after its padding)."""
    pad = "\x02" * (order - 1)
    joined = "".join(pad + t + "\x03" for t in texts)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lens = np.fromiter((len(t) + order for t in texts), dtype=np.int64, count=len(texts))
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]) + order - 1
    return cps, starts


def _grams(cps: np.ndarray, order: int) -> list[np.ndarray]:
    """g[n-1][i] = hash of the n characters ending at i (n = 1..order); g for the empty context is 0."""
    out = [cps + np.uint64(1)]
    with np.errstate(over="ignore"):
        for _ in range(1, order):
            prev = out[-1]
            g = np.zeros_like(prev)
            g[1:] = prev[:-1] * _P + cps[1:] + np.uint64(1)
            out.append(g)
    return out


class CharNgramLM:
    """Interpolated Witten–Bell: P(c | h) = (C(hc) + T(h)·P(c | h')) / (C(h) + T(h)),
    backing off to a uniform base. n-grams are 64-bit rolling hashes kept in sorted numpy
    arrays, so training and scoring are vectorized (millions of characters a second)."""

    def __init__(self, order: int = 4):
        self.order = order
        self.grams: list[np.ndarray] = []  # per order: sorted n-gram hashes
        self.counts: list[np.ndarray] = []
        self.ctx: list[np.ndarray] = []  # per order: sorted context hashes (n-1 chars)
        self.ctx_total: list[np.ndarray] = []
        self.ctx_types: list[np.ndarray] = []
        self.vocab = 1
        self.limit: Optional[float] = None  # the perplexity above which a line is rejected (learned on trusted text)

    def fit(self, texts: Iterable[str], max_chars: int = 5_000_000) -> "CharNgramLM":
        buf, seen = [], 0
        for t in texts:
            buf.append(t)
            seen += len(t)
            if seen >= max_chars:
                break
        cps, starts = _encode(buf, self.order)
        pad = np.zeros(len(cps), dtype=bool)
        for k in range(self.order - 1):  # padding positions are never predicted
            pad[starts - 1 - k] = True
        mask = ~pad
        g = _grams(cps, self.order)
        self.grams, self.counts, self.ctx, self.ctx_total, self.ctx_types = [], [], [], [], []
        for n in range(1, self.order + 1):
            keys = g[n - 1][mask]
            ctxk = (g[n - 2][np.flatnonzero(mask) - 1] if n > 1 else np.zeros(mask.sum(), dtype=np.uint64))
            uk, first, cnt = np.unique(keys, return_index=True, return_counts=True)
            uctx = ctxk[first]
            cu, inv = np.unique(uctx, return_inverse=True)
            self.grams.append(uk)
            self.counts.append(cnt.astype(np.int64))
            self.ctx.append(cu)
            self.ctx_total.append(np.bincount(inv, weights=cnt, minlength=len(cu)))
            self.ctx_types.append(np.bincount(inv, minlength=len(cu)).astype(np.float64))
        self.vocab = len(self.grams[0]) + 1
        return self

    def logprobs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text: sum of log2 P over its characters plus the end symbol, and that count."""
        if not texts:
            return np.zeros(0), np.zeros(0)
        cps, starts = _encode(texts, self.order)
        g = _grams(cps, self.order)
        p = np.full(len(cps), 1.0 / self.vocab)
        live = np.ones(len(cps), dtype=bool)
        for n in range(1, self.order + 1):
            ctxk = np.zeros(len(cps), dtype=np.uint64) if n == 1 else np.concatenate([[0], g[n - 2][:-1]]).astype(np.uint64)
            ci = np.searchsorted(self.ctx[n - 1], ctxk)
            ci = np.minimum(ci, len(self.ctx[n - 1]) - 1)
            found = live & (self.ctx[n - 1][ci] == ctxk)
            gi = np.minimum(np.searchsorted(self.grams[n - 1], g[n - 1]), len(self.grams[n - 1]) - 1)
            c = np.where(self.grams[n - 1][gi] == g[n - 1], self.counts[n - 1][gi], 0)
            tot, typ = self.ctx_total[n - 1][ci], self.ctx_types[n - 1][ci]
            p = np.where(found, (c + typ * p) / (tot + typ), p)
            live = found  # a longer context cannot be known when its suffix is not
        lp = np.log2(p)
        ends = np.concatenate([starts[1:] - (self.order - 1), [len(cps)]])
        csum = np.concatenate([[0.0], np.cumsum(lp)])
        sums = csum[ends] - csum[starts]
        return sums, (ends - starts).astype(np.float64)

    def perplexities(self, texts: list[str]) -> np.ndarray:
        lp, n = self.logprobs(list(texts))
        return np.power(2.0, -lp / np.maximum(n, 1))

    def perplexity(self, text: str) -> float:
        return float(self.perplexities([text])[0])

    def save(self, path) -> Path:
        """One .npz artifact (order, vocab and the count tables)."""
        from bilingual.storage import atomic_path

        path = Path(path)
        arrays = {"order": np.array(self.order), "vocab": np.array(self.vocab)}
        if self.limit is not None:
            arrays["limit"] = np.array(self.limit)
        for n in range(self.order):
            arrays.update({f"grams{n}": self.grams[n], f"counts{n}": self.counts[n], f"ctx{n}": self.ctx[n],
                           f"total{n}": self.ctx_total[n], f"types{n}": self.ctx_types[n]})
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path) -> "CharNgramLM":
        with np.load(path) as z:
            lm = cls(int(z["order"]))
            lm.vocab = int(z["vocab"])
            lm.limit = float(z["limit"]) if "limit" in z else None
            for n in range(lm.order):
                lm.grams.append(z[f"grams{n}"])
                lm.counts.append(z[f"counts{n}"])
                lm.ctx.append(z[f"ctx{n}"])
                lm.ctx_total.append(z[f"total{n}"])
                lm.ctx_types.append(z[f"types{n}"])
        return lm


class PerplexityParams(StepParams):
    order: Annotated[int, Field(ge=1, le=8)] = 4
    models: dict[str, str] = {}  # {"bn": path, "en": path} of saved models (with their limits); missing sides are trained
    train_files: dict[str, list[str]] = {}  # trusted monolingual text (one per line, or Parquet with `text`);
    #                                         a side without files learns from the bundled trusted corpora
    max_train_chars: PositiveInt = 2_000_000
    heldout_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1  # trusted lines kept out of training to learn the limit on
    quantile: Fraction = 0.995  # the limit: this quantile of the held-out trusted lines' perplexity ...
    margin: PositiveFloat = 2.5  # ... times this margin (text from other domains is a little less likely, garbage far less)
    max_ppl: dict[str, PositiveFloat] = {}  # a fixed limit per side instead
    lowercase: bool = True  # headlines in capitals are not garbage


def _trusted_lines(side: str, files: list[str]) -> list[str]:
    """Trusted monolingual text: the given files, else that side of the bundled trusted parallel
    corpora (the adequacy step's default trusted set, which excludes the evaluation sets)."""
    if files:
        from bilingual.corpus.dataset import read_text_lines

        return [t for f in files for t in read_text_lines(f, side)]
    from bilingual.filters.steps.adequacy import AdequacyParams, trusted_pairs

    return [getattr(p, side) for p in trusted_pairs(AdequacyParams())]


def fit_with_limit(lines: list[str], p: PerplexityParams, seed: int = 13) -> tuple["CharNgramLM", float]:
    """Train on most trusted lines; the limit is `quantile` × `margin` of the perplexity of the rest."""
    import random

    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    n_held = max(1, int(len(lines) * p.heldout_share))
    held = [lines[i] for i in order[:n_held]]
    train = [lines[i] for i in sorted(order[n_held:])]
    if p.lowercase:
        train, held = [t.lower() for t in train], [t.lower() for t in held]
    lm = CharNgramLM(p.order).fit(train, p.max_train_chars)
    limit = float(np.quantile(lm.perplexities(held), p.quantile)) * p.margin
    return lm, limit


def _fit(ds, alive, p: PerplexityParams, ctx):
    """Load or train one model per side with its limit (main process), before the step's pass."""
    for side in ("bn", "en"):
        if side in p.models:
            lm, path = CharNgramLM.load(p.models[side]), p.models[side]
            limit = lm.limit
        else:
            lm, limit = fit_with_limit(_trusted_lines(side, p.train_files.get(side, [])), p)
            lm.limit = limit
            path = None
            if ctx.artifacts_dir is not None:
                path = str(lm.save(Path(ctx.artifacts_dir) / f"charlm-{side}.npz"))
        if side in p.max_ppl:
            limit = p.max_ppl[side]
        if limit is None:
            raise ValueError(f"{path}: this model has no stored perplexity limit; give max_ppl.{side} or retrain it")
        ctx.state[f"charlm_{side}"] = (lm, path, limit)


@register("perplexity", PerplexityParams, fit=_fit, outputs={"ppl_bn": "float32", "ppl_en": "float32"})
def perplexity_step(batch, p: PerplexityParams, ctx):
    """Per-character perplexity of each side under a character LM of trusted text; above the limit
    learned on held-out trusted lines = disfluent/garbled."""
    out, reasons = {}, [None] * len(batch["bn"])
    for side in ("bn", "en"):
        lm, _, limit = ctx.state[f"charlm_{side}"]
        ppl = lm.perplexities([t.lower() for t in batch[side]] if p.lowercase else batch[side])
        out[f"ppl_{side}"] = ppl.tolist()
        for j in np.flatnonzero(ppl > limit):
            reasons[j] = reasons[j] or f"high_perplexity_{side}"
    out["_reason"] = reasons
    return out
