"""Exact and near-duplicate removal.

Dedup needs global state, so each step splits in two: a row-local part (in the fused `map` pass,
any `num_proc`) computes a 64-bit key or a MinHash signature per row; the main process then
decides over that column with numpy, in row order, so the FIRST occurrence is always kept and the
result does not depend on `num_proc`. Memory: 8 bytes per row per key, plus the LSH band tables.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from datasets import Sequence, Value

from bilingual.schema import normalize_key
from bilingual.filters.base import StepParams, register

KEYS = ("pair", "bn", "en")


def _key_text(bn: str, en: str, key: str, normalize: bool) -> str:
    f = normalize_key if normalize else (lambda s: s)
    if key == "pair":
        return f(bn) + "\t" + f(en)
    return f(bn if key == "bn" else en)


def key_hash(text: str) -> int:
    return xxhash.xxh64_intdigest(text.encode("utf-8")) & 0x7FFF_FFFF_FFFF_FFFF  # int64 for Arrow


# ---------------------------------------------------------------- exact

class ExactDedupParams(StepParams):
    keys: list[Literal["pair", "bn", "en"]] = ["pair"]
    normalize: bool = True  # compare normalize_key forms (NFC, casefold, collapsed spaces); False = raw text


def _exact_outputs(p: ExactDedupParams):
    return {f"_h_{k}": "int64" for k in p.keys}


def _exact_decide(table: pa.Table, alive: np.ndarray, p: ExactDedupParams, ctx):
    codes = np.zeros(len(alive), dtype=np.int8)
    live = alive.copy()
    for i, k in enumerate(p.keys, start=1):
        # dead rows hold null: fill with 0 so the column stays int64 (nulls would turn it to float)
        h = pc.fill_null(table.column(f"_h_{k}"), 0).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(live)
        _, first = np.unique(h[idx], return_index=True)
        keep = np.zeros(len(idx), dtype=bool)
        keep[first] = True
        seen = ctx.state.get(f"seen_{k}")  # keys kept by earlier chunks of the same run
        if seen is not None and len(seen):
            keep &= ~np.isin(h[idx], seen)
        dup = idx[~keep]
        codes[dup] = i
        live[dup] = False
        ctx.state[f"seen_{k}"] = h[idx[keep]] if seen is None else np.union1d(seen, h[idx[keep]])
    return codes, [f"duplicate_{k}" for k in p.keys]


@register("exact_dedup", ExactDedupParams, decide=_exact_decide, outputs=_exact_outputs,
          temp_columns=tuple(f"_h_{k}" for k in KEYS))
def exact_dedup_step(batch, p: ExactDedupParams, ctx):
    """Drop later copies of a pair (and, if listed, of a bn or en side); the first occurrence stays."""
    return {f"_h_{k}": [key_hash(_key_text(b, e, k, p.normalize)) for b, e in zip(batch["bn"], batch["en"])]
            for k in p.keys}


# ---------------------------------------------------------------- MinHash LSH

class NearDedupParams(StepParams):
    threshold: float = 0.8  # estimated Jaccard similarity at or above which a later row is a near-duplicate
    num_perm: int = 64
    ngram: int = 5  # character shingles on the normalized text
    field: Literal["pair", "bn", "en"] = "pair"
    seed: int = 1
    recall_weight: float = 0.9  # LSH banding: weight of missed pairs vs extra candidates (candidates are verified)


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int):
    """Multiply-shift hash family h(x) = ((a·x + b) mod 2^64) >> 32 with odd a: one per permutation."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 62, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = gen.randint(0, 1 << 62, size=num_perm, dtype=np.uint64)
    return a, b


@functools.lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int, recall_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows per band) minimising the weighted false-positive plus false-negative mass
    around `threshold` (datasketch's MinHashLSH criterion; weights 0.5/0.5 there). Every candidate
    is verified against the threshold, so a false positive only costs time: weight recall up."""
    best, best_err = (1, num_perm), float("inf")
    lo = np.linspace(0.0, threshold, 200)
    hi = np.linspace(threshold, 1.0, 200)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - lo ** r) ** b, lo)
            fn = np.trapezoid((1 - hi ** r) ** b, hi)
            err = (1 - recall_weight) * fp + recall_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


_P = np.uint64(0x100000001B3)


def shingle_hashes(text: str, n: int) -> np.ndarray:
    """64-bit rolling hashes of the character n-grams of normalize_key(text) (whole text if shorter)."""
    key = normalize_key(text)
    cps = np.frombuffer(key.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cps) == 0:
        return np.zeros(1, dtype=np.uint64)
    n = min(n, len(cps))
    g = cps + np.uint64(1)
    with np.errstate(over="ignore"):
        for k in range(1, n):
            g = g[:-1] * _P + cps[k:] + np.uint64(1)
    return g


def minhash_batch(texts: list[str], num_perm: int, ngram: int, seed: int, chunk: int = 1 << 16) -> np.ndarray:
    """MinHash signatures (uint32, num_perm per text): all shingles of a chunk of texts hashed in
    one vectorized product, then a per-text minimum (np.minimum.reduceat)."""
    a, b = _permutations(num_perm, seed)
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    i = 0
    while i < len(texts):
        hs, lens, j, total = [], [], i, 0
        while j < len(texts) and (total < chunk or j == i):
            h = shingle_hashes(texts[j], ngram)
            hs.append(h)
            lens.append(len(h))
            total += len(h)
            j += 1
        hv = np.concatenate(hs)
        with np.errstate(over="ignore"):
            phv = ((np.outer(hv, a) + b) >> np.uint64(32)).astype(np.uint32)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        out[i:j] = np.minimum.reduceat(phv, starts, axis=0)
        i = j
    return out


def minhash(text: str, num_perm: int = 64, ngram: int = 5, seed: int = 1) -> np.ndarray:
    return minhash_batch([text], num_perm, ngram, seed)[0]


def jaccard(a: str, b: str, n: int = 5) -> float:
    """Exact Jaccard similarity of the shingle sets (for evaluating the MinHash estimate)."""
    sa, sb = set(shingle_hashes(a, n).tolist()), set(shingle_hashes(b, n).tolist())
    return len(sa & sb) / max(1, len(sa | sb))


def _near_outputs(p: NearDedupParams):
    return {"_minhash": Sequence(Value("uint32"), length=p.num_perm)}


def _near_decide(table: pa.Table, alive: np.ndarray, p: NearDedupParams, ctx):
    """Keep-first over LSH buckets: a row is dropped when a KEPT earlier row in one of its buckets
    has estimated Jaccard >= threshold."""
    bands, rows = lsh_params(p.threshold, p.num_perm, p.recall_weight)
    codes = np.zeros(len(alive), dtype=np.int8)
    # LSH tables and kept signatures persist across chunks of one run (they grow with KEPT rows)
    state = ctx.state.setdefault("near_dedup", {"tables": [dict() for _ in range(bands)], "sigs": {}, "base": 0})
    tables, kept_sigs, base = state["tables"], state["sigs"], state["base"]
    col = table.column("_minhash")
    offset = 0
    for chunk in col.chunks:
        # .values keeps a slot for null (dead) rows, unlike .flatten(), so row i stays row i
        vals = chunk.values.slice(chunk.offset * p.num_perm, len(chunk) * p.num_perm)
        sigs = vals.to_numpy(zero_copy_only=False).reshape(-1, p.num_perm)
        for j in range(len(sigs)):
            i = offset + j
            gi = base + i  # row number over the whole run
            if not alive[i]:
                continue
            sig = sigs[j]
            keys = [sig[k * rows:(k + 1) * rows].tobytes() for k in range(bands)]
            dup = False
            for t, key in zip(tables, keys):
                cands = t.get(key)
                if cands is None:
                    continue
                for c in cands:
                    if np.count_nonzero(kept_sigs[c] == sig) >= p.threshold * p.num_perm:
                        dup = True
                        break
                if dup:
                    break
            if dup:
                codes[i] = 1
                continue
            kept_sigs[gi] = sig.copy()
            for t, key in zip(tables, keys):
                t.setdefault(key, []).append(gi)
        offset += len(sigs)
    state["base"] = base + len(alive)
    return codes, ["near_duplicate"]


@register("near_dedup", NearDedupParams, decide=_near_decide, outputs=_near_outputs, temp_columns=("_minhash",))
def near_dedup_step(batch, p: NearDedupParams, ctx):
    """MinHash signatures (character shingles) for LSH near-duplicate removal."""
    texts = [_key_text(b, e, p.field, False) for b, e in zip(batch["bn"], batch["en"])]
    return {"_minhash": list(minhash_batch(texts, p.num_perm, p.ngram, p.seed))}
