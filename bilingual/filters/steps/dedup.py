"""Exact and near-duplicate removal at corpus scale.

Each step splits in two. A row-local part runs in the map pass (any `num_proc`, any chunk size):
a 64-bit key or a MinHash signature per row. A global `decide` then runs once over the whole input,
reading that column back one chunk at a time and spilling to disk, so memory is set by the
partition size, not by the input: exact keys are hash-partitioned into files and each partition
is sorted; near-duplicate band keys are hash-partitioned, candidate pairs come from equal band keys
within a partition and are verified there, a few thousand at a time, against the signatures (a
file, read row by row); only the similar pairs are kept, and resolved in row order. Decisions: the FIRST occurrence stays; a row is a near-duplicate when an earlier KEPT row
shares a band with it and its estimated Jaccard is >= threshold.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field
from datasets import Sequence, Value

from bilingual.schema import normalize_key
from bilingual.filters.base import Fraction, PositiveInt, StepParams, register

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


PART_BYTES = 16 << 20  # one spill partition is sorted in memory: ~16 MB of (key, row) records (~3x that at the peak)
MAX_PARTS = 256
_REC = np.dtype([("k", "<u8"), ("r", "<i8")])


class _Partitions:
    """(key, row) records hash-partitioned into files under `folder`; iterate to get each
    partition as one array (sorted by key, then row)."""

    def __init__(self, folder: Path, expected_records: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = int(min(MAX_PARTS, max(1, -(-expected_records * _REC.itemsize // PART_BYTES))))
        self.files = [open(self.folder / f"part-{i:04d}.bin", "wb") for i in range(self.n)]

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        rec = np.empty(len(keys), dtype=_REC)
        rec["k"], rec["r"] = keys, rows
        part = ((keys >> np.uint64(40)) % np.uint64(self.n)).astype(np.int64)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.n + 1))
        for i in range(self.n):
            if bounds[i + 1] > bounds[i]:
                rec[order[bounds[i]:bounds[i + 1]]].tofile(self.files[i])

    def __iter__(self):
        for f in self.files:
            f.close()
        for i in range(self.n):
            path = self.folder / f"part-{i:04d}.bin"
            rec = np.fromfile(path, dtype=_REC)
            path.unlink()
            yield rec[np.lexsort((rec["r"], rec["k"]))]


def _rows(offset: int, n: int) -> np.ndarray:
    return np.arange(offset, offset + n, dtype=np.int64)


def _release_freed_memory() -> None:
    """Hand freed heap memory back to the OS (glibc keeps it after large temporary arrays, so the
    process would stay at its decide peak while the rest of the run writes its output)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _exact_decide(data, alive: np.ndarray, p: ExactDedupParams, ctx):
    """Keep-first per key, by hash partitions on disk: in each sorted partition the first row of a
    run of equal keys stays, the others are duplicates."""
    codes = np.zeros(len(alive), dtype=np.int8)
    live = alive.copy()
    for i, k in enumerate(p.keys, start=1):
        parts = _Partitions(data.work_dir / f"exact-{k}", int(live.sum()))
        for offset, col in data.iter_column(f"_h_{k}"):
            # dead rows hold null: fill with 0 so the column stays int64 (nulls would turn it to float)
            h = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.uint64)
            rows = _rows(offset, len(h))
            sel = live[rows]
            parts.add(h[sel], rows[sel])
        for rec in parts:
            if len(rec) < 2:
                continue
            first = np.ones(len(rec), dtype=bool)
            first[1:] = rec["k"][1:] != rec["k"][:-1]
            dup = rec["r"][~first]
            codes[dup] = i
            live[dup] = False
    _release_freed_memory()
    return codes, [f"duplicate_{k}" for k in p.keys]


# ---------------------------------------------------------------- on Ray Data

ROW = "_row"  # the global row number column of executor_ray


class _AliveRows:
    """map_batches: keep the rows still alive (mask broadcast once with ray.put)."""

    def __init__(self, alive_ref):
        self.alive_ref = alive_ref
        self.__name__ = type(self).__name__  # Ray Data labels operators by their function's name

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        return batch.filter(pa.array(ray.get(self.alive_ref)[batch.column(ROW).to_numpy()]))


def _later_rows(group: pa.Table) -> pa.Table:
    """map_groups over one key: every row but the first is a duplicate."""
    rows = np.sort(group.column(ROW).to_numpy())
    return pa.table({ROW: rows[1:]})


def _exact_ray(ds, alive: np.ndarray, p: ExactDedupParams, ctx):
    """Keep-first per key on Ray: a hash-partitioned groupby over the key column."""
    import ray

    codes = np.zeros(len(alive), dtype=np.int8)
    live = alive.copy()
    for i, k in enumerate(p.keys, start=1):
        keyed = ds.select_columns([ROW, f"_h_{k}"]).map_batches(_AliveRows(ray.put(live)), batch_format="pyarrow")
        groups = keyed.groupby(f"_h_{k}").map_groups(_later_rows, batch_format="pyarrow")
        dup = np.asarray([r for b in groups.iter_batches(batch_format="pyarrow") for r in b.column(ROW).to_pylist()],
                         dtype=np.int64)
        codes[dup] = i
        live[dup] = False
    return codes, [f"duplicate_{k}" for k in p.keys]


@register("exact_dedup", ExactDedupParams, decide=_exact_decide, ray_decide=_exact_ray, outputs=_exact_outputs,
          temp_columns=tuple(f"_h_{k}" for k in KEYS))
def exact_dedup_step(batch, p: ExactDedupParams, ctx):
    """Drop later copies of a pair (and, if listed, of a bn or en side); the first occurrence stays."""
    return {f"_h_{k}": [key_hash(_key_text(b, e, k, p.normalize)) for b, e in zip(batch["bn"], batch["en"])]
            for k in p.keys}


# ---------------------------------------------------------------- MinHash LSH

class NearDedupParams(StepParams):
    threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8  # estimated Jaccard similarity at or above which a later row is a near-duplicate
    num_perm: Annotated[int, Field(ge=1, le=1024)] = 64
    ngram: PositiveInt = 5  # character shingles on the normalized text
    field: Literal["pair", "bn", "en"] = "pair"
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 1
    recall_weight: Fraction = 0.9  # LSH banding: weight of missed pairs vs extra candidates (candidates are verified)


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


_FNV = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads band hashes over all 64 bits (partitions use the high bits)."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) 64-bit keys: equal iff (up to a 2^-64 collision) the band's `rows` values are equal."""
    out = np.empty((len(sigs), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(len(sigs), np.uint64(b + 1) * _GOLDEN, dtype=np.uint64)
            for c in range(b * rows, (b + 1) * rows):
                h = (h ^ sigs[:, c].astype(np.uint64)) * _FNV
            out[:, b] = _mix(h)
    return out


def _signature_chunks(col: pa.ChunkedArray, num_perm: int):
    for chunk in col.chunks:
        # .values keeps a slot for null (dead) rows, unlike .flatten(), so row i stays row i
        vals = chunk.values.slice(chunk.offset * num_perm, len(chunk) * num_perm)
        vals = pc.fill_null(vals, 0) if vals.null_count else vals
        yield vals.to_numpy(zero_copy_only=False).astype(np.uint32, copy=False).reshape(-1, num_perm)


VERIFY_PAIRS = 4096  # candidate pairs verified at once: <= 8192 signatures (2 MB) read
GROUP_PAIRS = 1 << 18  # a bucket with more pairs than this is expanded one row at a time


def _bucket_pairs(rec: np.ndarray):
    """(i, j) candidate pairs (i < j) of every bucket of equal band keys in a sorted partition, in
    arrays of about GROUP_PAIRS pairs at most. Buckets of two rows (nearly all) are taken at once;
    a huge bucket (e.g. many copies of one text) is expanded one row at a time, so its pairs are
    never all in memory."""
    start = np.flatnonzero(np.r_[True, rec["k"][1:] != rec["k"][:-1]])
    size = np.diff(np.r_[start, len(rec)])
    two = start[size == 2]
    for a in range(0, len(two), GROUP_PAIRS):
        yield rec["r"][two[a:a + GROUP_PAIRS]], rec["r"][two[a:a + GROUP_PAIRS] + 1]
    firsts, seconds, held = [], [], 0
    for s, g in zip(start[size > 2].tolist(), size[size > 2].tolist()):
        rows = rec["r"][s:s + g]
        if g * (g - 1) // 2 <= GROUP_PAIRS:
            a, b = np.triu_indices(g, 1)
            firsts.append(rows[a])
            seconds.append(rows[b])
            held += len(a)
        else:
            for a in range(g - 1):
                yield np.full(g - 1 - a, rows[a]), rows[a + 1:]
        if held >= GROUP_PAIRS:
            yield np.concatenate(firsts), np.concatenate(seconds)
            firsts, seconds, held = [], [], 0
    if firsts:
        yield np.concatenate(firsts), np.concatenate(seconds)


class _SignatureFile:
    """The signatures of every row in a file, read row by row with pread for each batch of pairs.
    Not a memory map: the kernel maps the pages around every touched page (fault-around), so even
    small random batches made the whole file (256 bytes per row) resident in this process."""

    def __init__(self, path: Path, n: int, num_perm: int):
        self.row_bytes, self.num_perm = num_perm * 4, num_perm
        self.fd = os.open(path, os.O_RDONLY)

    def similar(self, i: np.ndarray, j: np.ndarray, min_equal: float) -> np.ndarray:
        out = np.zeros(len(i), dtype=bool)
        for a in range(0, len(i), VERIFY_PAIRS):
            bi, bj = i[a:a + VERIFY_PAIRS], j[a:a + VERIFY_PAIRS]
            rows = np.unique(np.concatenate([bi, bj]))
            buf = b"".join([os.pread(self.fd, self.row_bytes, r * self.row_bytes) for r in rows.tolist()])
            sigs = np.frombuffer(buf, dtype=np.uint32).reshape(len(rows), self.num_perm)
            si, sj = sigs[np.searchsorted(rows, bi)], sigs[np.searchsorted(rows, bj)]
            out[a:a + VERIFY_PAIRS] = np.count_nonzero(si == sj, axis=1) >= min_equal
        return out

    def close(self) -> None:
        os.close(self.fd)


def _near_decide(data, alive: np.ndarray, p: NearDedupParams, ctx):
    """Signatures to a file, band keys hash-partitioned on disk; in each partition the candidate
    pairs (equal band keys) are verified against the signatures batch by batch and only the
    similar pairs kept; then resolved in row order (a later row drops when a kept earlier row
    matches). Memory: one partition and one batch of pairs, not every candidate of the input."""
    bands, rows = lsh_params(p.threshold, p.num_perm, p.recall_weight)
    n = len(alive)
    codes = np.zeros(n, dtype=np.int8)
    work = Path(data.work_dir) / "near"
    work.mkdir(parents=True, exist_ok=True)
    sig_path = work / "signatures.u32"
    parts = _Partitions(work / "bands", int(alive.sum()) * bands)
    with open(sig_path, "wb") as sig_file:
        for offset, col in data.iter_column("_minhash"):
            for sigs in _signature_chunks(col, p.num_perm):
                sigs.tofile(sig_file)
                r = _rows(offset, len(sigs))
                sel = alive[r]
                parts.add(band_keys(sigs[sel], bands, rows).ravel(), np.repeat(r[sel], bands))
                offset += len(sigs)
    signatures = _SignatureFile(sig_path, n, p.num_perm)
    similar_i, similar_j = [], []
    try:
        for rec in parts:
            if len(rec) < 2:
                continue
            for i, j in _bucket_pairs(rec):  # i < j: records are sorted by row
                ok = signatures.similar(i, j, p.threshold * p.num_perm)
                similar_i.append(i[ok])
                similar_j.append(j[ok])
            del rec
    finally:
        signatures.close()
    if similar_i:  # a pair sharing several bands is in here once per band: keep_first_dropped dedupes
        codes[keep_first_dropped(np.concatenate(similar_i), np.concatenate(similar_j), alive)] = 1
    _release_freed_memory()
    return codes, ["near_duplicate"]


def keep_first_dropped(i: np.ndarray, j: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Rows dropped by keep-first over verified similar pairs (i < j): in row order, a row drops
    when one of its earlier partners is still kept. Returns the dropped row numbers."""
    if len(i) == 0:
        return np.zeros(0, dtype=np.int64)
    pair = np.unique(i * np.int64(len(alive)) + j)
    i, j = pair // len(alive), pair % len(alive)
    kept = alive.copy()
    order = np.lexsort((i, j))
    i, j = i[order], j[order]
    starts = np.flatnonzero(np.r_[True, j[1:] != j[:-1]])
    dropped = []
    for s, e in zip(starts, np.r_[starts[1:], len(j)]):
        if kept[i[s:e]].any():
            kept[j[s]] = False
            dropped.append(j[s])
    return np.asarray(dropped, dtype=np.int64)


class _BandRecords:
    """map_batches: one (band key, row, signature) record per band of every alive row."""

    def __init__(self, alive_ref, bands: int, rows: int, num_perm: int):
        self.alive_ref, self.bands, self.rows, self.num_perm = alive_ref, bands, rows, num_perm
        self.__name__ = type(self).__name__

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        rows = batch.column(ROW).to_numpy()
        sigs = np.concatenate(list(_signature_chunks(batch.column("_minhash"), self.num_perm)) or
                              [np.zeros((0, self.num_perm), dtype=np.uint32)])
        sel = ray.get(self.alive_ref)[rows]
        sigs, rows = sigs[sel], rows[sel]
        keys = band_keys(sigs, self.bands, self.rows).ravel().view(np.int64)
        rep = np.repeat(sigs, self.bands, axis=0)
        return pa.table({"key": keys, "row": np.repeat(rows, self.bands),
                         "sig": pa.FixedSizeListArray.from_arrays(pa.array(rep.ravel()), self.num_perm)})


class _VerifiedPairs:
    """map_groups over one band bucket: its row pairs whose signatures agree on enough values."""

    def __init__(self, min_equal: float, num_perm: int):
        self.min_equal, self.num_perm = min_equal, num_perm
        self.__name__ = type(self).__name__

    def __call__(self, group: pa.Table) -> pa.Table:
        rows = group.column("row").to_numpy()
        if len(rows) < 2:
            return pa.table({"i": pa.array([], pa.int64()), "j": pa.array([], pa.int64())})
        sigs = np.concatenate(list(_signature_chunks(group.column("sig"), self.num_perm)))
        order = np.argsort(rows)
        rows, sigs = rows[order], sigs[order]
        a, b = np.triu_indices(len(rows), 1)
        ok = np.count_nonzero(sigs[a] == sigs[b], axis=1) >= self.min_equal
        return pa.table({"i": rows[a][ok], "j": rows[b][ok]})


def _near_ray(ds, alive: np.ndarray, p: NearDedupParams, ctx):
    """Near-duplicates on Ray: band records shuffled by band key (groupby), candidate pairs
    verified in each bucket, then keep-first over the verified pairs on the driver."""
    import ray

    bands, rows = lsh_params(p.threshold, p.num_perm, p.recall_weight)
    recs = ds.select_columns([ROW, "_minhash"]).map_batches(
        _BandRecords(ray.put(alive), bands, rows, p.num_perm), batch_format="pyarrow")
    pairs = recs.groupby("key").map_groups(_VerifiedPairs(p.threshold * p.num_perm, p.num_perm),
                                           batch_format="pyarrow")
    i, j = [], []
    for b in pairs.iter_batches(batch_format="pyarrow"):
        i.append(b.column("i").to_numpy())
        j.append(b.column("j").to_numpy())
    codes = np.zeros(len(alive), dtype=np.int8)
    if i:
        codes[keep_first_dropped(np.concatenate(i), np.concatenate(j), alive)] = 1
    return codes, ["near_duplicate"]


@register("near_dedup", NearDedupParams, decide=_near_decide, ray_decide=_near_ray, outputs=_near_outputs, temp_columns=("_minhash",))
def near_dedup_step(batch, p: NearDedupParams, ctx):
    """MinHash signatures (character shingles) for LSH near-duplicate removal."""
    texts = [_key_text(b, e, p.field, False) for b, e in zip(batch["bn"], batch["en"])]
    return {"_minhash": list(minhash_batch(texts, p.num_perm, p.ngram, p.seed))}
