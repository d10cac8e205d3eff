"""A small character n-gram language model (interpolated Witten–Bell) and the `perplexity` step.

Why our own: KenLM does not pip-install here, and a character model needs no tokenizer, handles
Bengali conjuncts as they are written, and is small enough to ship as an .npz artifact. Trained on
in-domain monolingual text (by default the corpus' own side after the earlier steps), it scores
disfluent or garbled lines (wrong script mixes, boilerplate, broken encodings) with a high
per-character perplexity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from bilingual.filters.base import StepParams, register

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
            for n in range(lm.order):
                lm.grams.append(z[f"grams{n}"])
                lm.counts.append(z[f"counts{n}"])
                lm.ctx.append(z[f"ctx{n}"])
                lm.ctx_total.append(z[f"total{n}"])
                lm.ctx_types.append(z[f"types{n}"])
        return lm


class PerplexityParams(StepParams):
    order: int = 4
    models: dict[str, str] = {}  # {"bn": path, "en": path} of saved models; missing sides are trained
    train_files: dict[str, list[str]] = {}  # monolingual text (one per line) or Parquet with a `text` column
    max_train_chars: int = 2_000_000
    quantile: float = 0.995  # drop lines above this quantile of the training lines' perplexity ...
    max_ppl: dict[str, float] = {}  # ... or above a fixed perplexity per side


def _train_texts(ds, alive, side: str, files: list[str]):
    if files:
        from bilingual.corpus.dataset import read_text_lines

        for f in files:
            yield from read_text_lines(f, side)
        return
    import pyarrow as pa
    import pyarrow.compute as pc

    col = ds.data.column(side)
    mask = pa.array(alive)
    offset = 0
    for chunk in col.chunks:
        yield from pc.filter(chunk, mask[offset:offset + len(chunk)]).to_pylist()
        offset += len(chunk)


def _fit(ds, alive, p: PerplexityParams, ctx):
    """Load or train one model per side (main process), before the step's pass."""
    for side in ("bn", "en"):
        if side in p.models:
            lm, path = CharNgramLM.load(p.models[side]), p.models[side]
        else:
            lm = CharNgramLM(p.order).fit(_train_texts(ds, alive, side, p.train_files.get(side, [])),
                                          p.max_train_chars)
            path = None
            if ctx.artifacts_dir is not None:
                path = str(lm.save(Path(ctx.artifacts_dir) / f"charlm-{side}.npz"))
        ctx.state[f"charlm_{side}"] = (lm, path)


def _decide(table, alive, p: PerplexityParams, ctx):
    """Thresholds: fixed `max_ppl`, else the `quantile` of the alive rows' perplexity (per side)."""
    codes = np.zeros(len(alive), dtype=np.int8)
    for k, side in enumerate(("bn", "en"), start=1):
        ppl = table.column(f"ppl_{side}").to_numpy(zero_copy_only=False).astype(np.float64)
        live = alive & (codes == 0)
        limits = ctx.state.setdefault("perplexity_limits", {})
        if side in p.max_ppl:
            limit = p.max_ppl[side]
        elif side in limits:  # fixed by the first chunk of a chunked run
            limit = limits[side]
        else:
            limit = float(np.quantile(ppl[alive], p.quantile)) if alive.any() else float("inf")
        codes[live & (ppl > limit)] = k
        if alive.any():
            limits[side] = limit
    return codes, ["high_perplexity_bn", "high_perplexity_en"]


@register("perplexity", PerplexityParams, fit=_fit, decide=_decide, outputs={"ppl_bn": "float32", "ppl_en": "float32"})
def perplexity_step(batch, p: PerplexityParams, ctx):
    """Per-character perplexity of each side under the in-domain character LM; high = disfluent/garbled."""
    return {f"ppl_{side}": ctx.state[f"charlm_{side}"][0].perplexities(batch[side]).tolist() for side in ("bn", "en")}
