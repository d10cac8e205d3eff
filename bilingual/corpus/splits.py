"""Train/validation/test assignment, decided once on the final (filtered) text.

Pairs that share a normalized bn or en side are linked; each connected group goes to ONE split, chosen
by the stable hash of its smallest normalized-pair key, so a sentence never sits in training and in
validation/test, and adding unrelated pairs never moves a group.

Memory: the texts are never held. Each row becomes three 64-bit hashes (pair, bn side, en side) read
batch by batch from Parquet and written to disk; side hashes seen more than once are found by hash
partitioning; only rows that share a side are grouped in memory (vectorized label propagation over
integer ids, ~100 bytes a row); every other row is a group of one. See `assign_splits_files`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from bilingual.schema import normalize_key

SPLITS = ("train", "validation", "test")  # label codes 0, 1, 2


def _key_hash(text: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(text.encode("utf-8"))


def row_hashes(bn: Sequence[str], en: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair hash, bn-side hash, en-side hash) of the normalized texts, one uint64 each per row."""
    kb = [normalize_key(t) for t in bn]
    ke = [normalize_key(t) for t in en]
    n = len(kb)
    pair_h = np.fromiter((_key_hash(b + "\t" + e) for b, e in zip(kb, ke)), dtype=np.uint64, count=n)
    hb = np.fromiter((_key_hash(b) for b in kb), dtype=np.uint64, count=n)
    he = np.fromiter((_key_hash(e) for e in ke), dtype=np.uint64, count=n)
    return pair_h, hb, he


def split_codes(pair_h: np.ndarray, hb: np.ndarray, he: np.ndarray, validation: float, test: float) -> np.ndarray:
    """uint8 split code per row (index into SPLITS) from the three hash arrays."""
    if len(pair_h) == 0:
        return np.zeros(0, dtype=np.uint8)
    _, nb = np.unique(hb, return_inverse=True)
    _, ne = np.unique(he, return_inverse=True)
    # nodes: bn sides then en sides; each pair is an edge; propagate the minimum label to a fixed point
    ne = ne + nb.max() + 1
    label = np.arange(ne.max() + 1)
    while True:
        m = np.minimum(label[nb], label[ne])
        new = label.copy()
        np.minimum.at(new, nb, m)
        np.minimum.at(new, ne, m)
        new = new[new]  # pointer jumping speeds up long chains
        if np.array_equal(new, label):
            break
        label = new
    del ne, new
    comp = label[nb]
    del nb, label
    rep = np.full(int(comp.max()) + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(rep, comp, pair_h)
    return _codes_of(rep[comp], validation, test)


def assign_splits(bn, en, validation: float = 0.02, test: float = 0.02) -> list[str]:
    """Split names for in-memory lists of pairs (small inputs, tests); see the module docstring."""
    return [SPLITS[c] for c in split_codes(*row_hashes(list(bn), list(en)), validation, test)]


def split_of(bn: str, en: str, validation: float = 0.02, test: float = 0.02) -> str:
    """Split of a single pair on its own (a group of one): the hash of its normalized pair key."""
    return assign_splits([bn], [en], validation, test)[0]


def assign_splits_batches(batches: Iterable, validation: float = 0.02, test: float = 0.02) -> np.ndarray:
    """Split codes for a stream of Arrow batches/tables with `bn` and `en` columns (row order kept)."""
    ph, hb, he = [], [], []
    for batch in batches:
        p, b, e = row_hashes(batch.column("bn").to_pylist(), batch.column("en").to_pylist())
        ph.append(p)
        hb.append(b)
        he.append(e)
    if not ph:
        return np.zeros(0, dtype=np.uint8)
    return split_codes(np.concatenate(ph), np.concatenate(hb), np.concatenate(he), validation, test)


def assign_splits_files(files: Sequence[Path], validation: float = 0.02, test: float = 0.02,
                        batch_rows: int = 10_000, work_dir: Optional[Path] = None,
                        bucket_rows: int = 2_000_000) -> np.ndarray:
    """Split codes for every row of Parquet files, in file then row order; reads only bn/en.

    Memory is bounded by `bucket_rows`, not by the number of rows: the three hashes per row go to disk;
    the side hashes that occur more than once are found bucket by bucket (hash partitioning); rows with
    no shared side are groups of one (their split is their own pair hash), so only the rows that share
    a side enter the in-memory grouping. Equal to `split_codes` over everything. Returns 1 byte a row."""
    import pyarrow.parquet as pq

    work = Path(tempfile.mkdtemp(prefix="splits-", dir=work_dir))
    try:
        paths = {k: work / f"{k}.u64" for k in ("pair", "bn", "en")}
        n = 0
        with open(paths["pair"], "wb") as fp, open(paths["bn"], "wb") as fb, open(paths["en"], "wb") as fe:
            for f in files:
                for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=["bn", "en"]):
                    p, b, e = row_hashes(batch.column("bn").to_pylist(), batch.column("en").to_pylist())
                    p.tofile(fp)
                    b.tofile(fb)
                    e.tofile(fe)
                    n += len(p)
        if n == 0:
            return np.zeros(0, dtype=np.uint8)
        shared = {side: _repeated(paths[side], n, work, bucket_rows) for side in ("bn", "en")}
        codes = np.empty(n, dtype=np.uint8)
        sub_rows, sub_p, sub_b, sub_e = [], [], [], []
        for start, p, b, e in _blocks(paths, n, bucket_rows):
            linked = np.isin(b, shared["bn"]) | np.isin(e, shared["en"])
            codes[start:start + len(p)] = _codes_of(p, validation, test)  # groups of one
            idx = np.flatnonzero(linked)
            sub_rows.append(idx + start)
            sub_p.append(p[idx])
            sub_b.append(b[idx])
            sub_e.append(e[idx])
        rows = np.concatenate(sub_rows)
        if len(rows):
            codes[rows] = split_codes(np.concatenate(sub_p), np.concatenate(sub_b), np.concatenate(sub_e),
                                      validation, test)
        return codes
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _codes_of(pair_h: np.ndarray, validation: float, test: float) -> np.ndarray:
    u = pair_h.astype(np.float64) / 2.0 ** 64
    return np.where(u < test, 2, np.where(u < test + validation, 1, 0)).astype(np.uint8)


def _blocks(paths: dict, n: int, rows: int):
    for start in range(0, n, rows):
        count = min(rows, n - start)
        yield (start, *(np.fromfile(paths[k], dtype=np.uint64, count=count, offset=start * 8)
                        for k in ("pair", "bn", "en")))


def _repeated(path: Path, n: int, work: Path, bucket_rows: int) -> np.ndarray:
    """Sorted hash values that occur more than once in the uint64 file, by hash partitioning on disk."""
    n_buckets = max(1, -(-n // bucket_rows))
    if n_buckets == 1:
        values, counts = np.unique(np.fromfile(path, dtype=np.uint64), return_counts=True)
        return values[counts > 1]
    outs = [open(work / f"bucket-{i}.u64", "wb") for i in range(n_buckets)]
    try:
        for start in range(0, n, bucket_rows):
            block = np.fromfile(path, dtype=np.uint64, count=min(bucket_rows, n - start), offset=start * 8)
            which = block % np.uint64(n_buckets)
            for i in range(n_buckets):
                block[which == i].tofile(outs[i])
    finally:
        for f in outs:
            f.close()
    found = []
    for i in range(n_buckets):
        values, counts = np.unique(np.fromfile(work / f"bucket-{i}.u64", dtype=np.uint64), return_counts=True)
        found.append(values[counts > 1])
        (work / f"bucket-{i}.u64").unlink()
    return np.sort(np.concatenate(found))


def assign_splits_dataset(ds, validation: float = 0.02, test: float = 0.02, batch_size: int = 10_000) -> np.ndarray:
    """Split names for a datasets.Dataset read batch by batch (numpy array of str)."""
    codes = assign_splits_batches(ds.select_columns(["bn", "en"]).with_format("arrow").iter(batch_size=batch_size),
                                  validation, test)
    return np.asarray(SPLITS, dtype=object)[codes]
