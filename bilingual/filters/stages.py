"""The stage machinery both executors share: the fused pass of row-local steps, how a recipe splits into
stages, applying a global step's decisions, reading Parquet in chunks, and writing kept/rejects into a
work folder that is swapped in whole. executor_local and executor_ray import it; it imports neither."""

from __future__ import annotations

import json
import os
import time
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bilingual.filters.base import DROP_REASON, DROP_STEP, META, TEXT_COLUMNS, Step, StepContext


def trace_memory(label: str) -> None:
    """With BILINGUAL_TRACE_MEMORY set, one stderr line per phase: current and peak RSS and the Arrow
    pool (to find what grows with the input; benchmarks/bench_scale_build.py sets it)."""
    if not os.environ.get("BILINGUAL_TRACE_MEMORY"):
        return
    import resource
    import sys

    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory: {label}: rss {rss:.0f} MiB, peak {peak:.0f} MiB, arrow {pa.total_allocated_bytes() / 2**20:.0f} MiB",
          file=sys.stderr, flush=True)


class _FusedPass:
    """The batched function of one `map` pass over a chunk: apply pending global decisions (arrays
    over the whole input, indexed by `offset` + row in chunk), then run the stage's steps."""

    def __init__(self, steps: list[Step], pending: list[tuple[str, np.ndarray, list[str]]], ctx: StepContext,
                 offset: int = 0):
        self.steps, self.pending, self.ctx, self.offset = steps, pending, ctx, offset

    def __call__(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        n = len(indices)
        drop_step = list(batch[DROP_STEP])
        drop_reason = list(batch[DROP_REASON])
        meta: dict[str, dict] = {}
        idx = np.asarray(indices, dtype=np.int64) + self.offset
        for name, codes, reasons in self.pending:
            c = codes[idx]
            for j in np.flatnonzero(c):
                if drop_step[j] is None:
                    drop_step[j], drop_reason[j] = name, reasons[c[j] - 1]
        out = {DROP_STEP: drop_step, DROP_REASON: drop_reason}
        texts_changed = {}
        for step in self.steps:
            t0 = time.perf_counter()
            alive = [j for j in range(n) if drop_step[j] is None]
            sub = {k: ([v[j] for j in alive] if len(alive) < n else v) for k, v in batch.items()
                   if k not in (DROP_STEP, DROP_REASON, META)}
            for k, v in texts_changed.items():
                sub[k] = [v[j] for j in alive] if len(alive) < n else v
            res = step.spec.fn(sub, step.params, self.ctx) if alive else {}
            reasons = res.pop("_reason", None)
            counts = res.pop("_counts", None)
            for col in step.spec.output_features(step.params):
                out.setdefault(col, [None] * n)
            for col, values in res.items():
                if col in batch and col in TEXT_COLUMNS + ("text",):
                    full = list(texts_changed.get(col, batch[col]))
                    for k, (j, v) in enumerate(zip(alive, values)):
                        if reasons is None or reasons[k] is None:
                            full[j] = v
                    texts_changed[col] = full
                else:
                    full = out.setdefault(col, [None] * n)
                    for j, v in zip(alive, values):
                        full[j] = v
            if reasons is not None:
                for j, r in zip(alive, reasons):
                    if r is not None:
                        drop_step[j], drop_reason[j] = step.name, r
            meta[step.name] = {"t": time.perf_counter() - t0, "c": counts or {}}
        out.update(texts_changed)
        out[META] = [json.dumps(meta)] + [None] * (n - 1) if n else []
        return out


def _stages(steps: list[Step]) -> list[list[Step]]:
    """Groups of consecutive steps run in one pass; a global step ends its group, a fitted step
    starts one (it fits on what the earlier steps kept over the whole input)."""
    groups, cur = [], []
    for step in steps:
        if step.spec.fit is not None and (cur or not groups):
            groups.append(cur)  # may be empty: a first-step fit needs the input spilled once
            cur = []
        cur.append(step)
        if step.spec.decide is not None:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def _apply_pending(table: pa.Table, offset: int, pending) -> pa.Table:
    """Set the drop columns of `table` (rows offset..) from pending global decisions, in Arrow."""
    step, reason = table.column(DROP_STEP), table.column(DROP_REASON)
    for name, codes, reasons in pending:
        c = codes[offset:offset + table.num_rows]
        hit = pa.array((c > 0) & pc.is_null(step).to_numpy(zero_copy_only=False))
        step = pc.if_else(hit, pa.scalar(name, pa.string()), step)
        picked = pa.array(np.asarray([None] + list(reasons), dtype=object)[c], pa.string())
        reason = pc.if_else(hit, picked, reason)
    i, j = table.column_names.index(DROP_STEP), table.column_names.index(DROP_REASON)
    return table.set_column(i, DROP_STEP, step).set_column(j, DROP_REASON, reason)


def clean_leftovers(output_dir: Path, keep: Path | None = None) -> list[Path]:
    """Remove what killed runs left: `.NAME.work-*` / `.NAME.old-*` beside the output folder and
    `.work-*` inside it (older layout), except `keep` (the work folder this run resumes from)."""
    gone = []
    for p in list(output_dir.parent.glob(f".{output_dir.name}.work-*")) + \
            list(output_dir.parent.glob(f".{output_dir.name}.old-*")) + \
            (list(output_dir.glob(".work-*")) if output_dir.is_dir() else []):
        if keep is not None and p.absolute() == Path(keep).absolute():
            continue
        shutil.rmtree(p, ignore_errors=True)
        gone.append(p)
    return gone


RESUME_FORMAT = 1  # bump when the work-folder records change: older work folders are then not resumed


def run_fingerprint(files, steps: list[Step], **settings) -> str:
    """What decides a filter run's result: the input files (path, size, mtime), every step with its
    parameters and the contents of the files those parameters name, and the settings that cut the input
    into chunks. A rerun with the same fingerprint resumes from the chunk records of the killed one."""
    import hashlib

    def stat(p):
        st = Path(p).stat()
        return [str(Path(p).resolve()), st.st_size, st.st_mtime_ns]

    params = [[s.name, s.params.model_dump(mode="json")] for s in steps]
    blob = json.dumps({"format": RESUME_FORMAT, "inputs": [stat(f) for f in files], "steps": params,
                       "named_files": named_file_digests(params), **settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def named_file_digests(params) -> dict[str, str]:
    """{resolved path: sha256 of its contents} of every existing file that step parameters name: any string
    in them, or part of a comma-joined `x.bn,x.en` pair, that looks like a path (has a folder separator or a
    suffix, so option words like `bn` or `pair` never match a folder of that name in the working directory)
    and is a file, or a folder (all files under it).
    Part of the run fingerprints, so that editing a trusted set, an eval set or a saved model is never
    answered with chunk results computed from the old contents (size and mtime alone can miss an edit;
    a file only touched keeps its digest, so such a rerun still resumes)."""
    from bilingual.sources.corpora.readers import file_sha256

    found: dict[str, str] = {}

    def visit(value):
        if isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
        elif isinstance(value, str):
            for part in (x.strip() for x in value.split(",")):
                path = Path(part)
                try:
                    if not (os.sep in part or "/" in part or path.suffix) or not path.exists():
                        continue
                except (OSError, ValueError):  # not a possible path (too long, a NUL byte): not a file
                    continue
                for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
                    if f.is_file() and str(f.resolve()) not in found:
                        found[str(f.resolve())] = file_sha256(f)

    visit(params)
    return found


def read_record(path: Path) -> dict | None:
    """A finished piece's record (written last and atomically, so its presence means the piece is done)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def save_array(path: Path, array: np.ndarray) -> None:
    """An .npy file written atomically (a piece's data, before its record)."""
    from bilingual.storage import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def swap_in(new: Path, output_dir: Path) -> None:
    """Make the complete folder `new` the output: the old folder is renamed aside, `new` renamed
    in, the old one deleted. Readers see the old complete output or the new one, never a mix."""
    old = None
    if output_dir.exists():
        old = output_dir.parent / f".{output_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(output_dir, old)
    os.rename(new, output_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def text_bytes(table) -> np.ndarray:
    """UTF-8 bytes of `bn` + `en` per row: what a chunk's memory grows with, besides its row count."""
    sizes = np.zeros(table.num_rows, dtype=np.int64)
    for side in ("bn", "en"):
        if side in table.column_names:
            sizes += pc.fill_null(pc.binary_length(table.column(side)), 0).to_numpy().astype(np.int64)
    return sizes


def rows_that_fit(sizes: np.ndarray, rows_left: int, bytes_left: int, chunk_empty: bool) -> int:
    """How many of the next rows (text sizes `sizes`) a chunk still takes under both bounds; an empty
    chunk takes at least one row, however long."""
    fit = int(np.searchsorted(np.cumsum(sizes[:rows_left]), bytes_left, side="right"))
    return max(fit, 1) if chunk_empty and len(sizes) else fit


def _parquet_chunks(files, chunk_rows: int, chunk_bytes: int = 1 << 62):
    """In-memory Datasets of at most `chunk_rows` pairs and `chunk_bytes` of text, read straight from
    Parquet (pair columns only): long texts make shorter chunks, so memory is set by the bounds."""
    import pyarrow.parquet as pq

    from bilingual.corpus.dataset import PAIR_COLUMNS

    schema = pa.schema([(c, pa.float64() if c == "score" else pa.string()) for c in PAIR_COLUMNS])
    buf, n, size, total = [], 0, 0, 0
    for f in files:
        # small streamed reads (no pre-buffering of whole row groups): reading stays a few MB
        pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 22)
        for batch in pf.iter_batches(batch_size=min(8192, chunk_rows), columns=list(PAIR_COLUMNS), use_threads=False):
            sizes = text_bytes(batch)
            while batch.num_rows:
                take = rows_that_fit(sizes, chunk_rows - n, chunk_bytes - size, chunk_empty=not n)
                if take:
                    buf.append(pa.Table.from_batches([batch.slice(0, take)]).cast(schema))
                    n, size, total = n + take, size + int(sizes[:take].sum()), total + take
                    batch, sizes = batch.slice(take), sizes[take:]
                if n >= chunk_rows or (batch.num_rows and not take):
                    yield _chunk_dataset(pa.concat_tables(buf))
                    buf, n, size = [], 0, 0
    if buf or total == 0:  # an empty input still runs (and writes empty outputs)
        yield _chunk_dataset(pa.concat_tables(buf) if buf else schema.empty_table())


class OpenedOnUse:
    """A stand-in for the object `make()` returns, made on first use (attribute, len, index, iteration):
    a fit that never reads the stage rows costs nothing."""

    def __init__(self, make):
        self._make, self._obj = make, None

    def _get(self):
        if self._obj is None:
            self._obj = self._make()
        return self._obj

    def __getattr__(self, name):
        return getattr(self._get(), name)

    def __len__(self):
        return len(self._get())

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())


def numbered(items: Iterable) -> Iterator[tuple[int, Any]]:
    """`enumerate` for chunks: CPython's enumerate reuses one result tuple that keeps the previous item
    alive until the next one has been produced, so two chunks of rows were held at once (measured:
    a fastText-only pass over 1M pairs peaked at 468 MiB with enumerate, 373 without)."""
    k = 0
    for item in items:
        yield k, item
        del item
        k += 1


def _chunk_dataset(table: pa.Table):
    """An in-memory Dataset with an explicit fingerprint: without one, datasets hashes (pickles)
    the whole table to make it, a transient copy of the chunk."""
    from datasets import Dataset
    from datasets.table import InMemoryTable

    return Dataset(InMemoryTable(table), fingerprint=f"chunk-{uuid.uuid4().hex}")


def write_kept_rejects(table: pa.Table, kept_path: Path, rejects_path: Path, drop: Iterable[str] = ()) -> None:
    """One sequential pass over scored rows, each batch split by its drop column (no gathers)."""
    import pyarrow.parquet as pq

    from bilingual.storage import PARQUET_OPTS, atomic_path

    drop = set(drop) | {c for c in table.column_names if c.startswith("_") and c not in (DROP_STEP, DROP_REASON)}
    keep_cols = [c for c in table.column_names if c not in drop and c not in (DROP_STEP, DROP_REASON)]
    rej_cols = keep_cols + [DROP_STEP, DROP_REASON]
    rej_names = keep_cols + ["reject_step", "reject_reason"]
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(kept_path) as kt, atomic_path(rejects_path) as rt:
        kschema = table.select(keep_cols).schema
        rschema = pa.schema([f.with_name(n) for f, n in zip(table.select(rej_cols).schema, rej_names)])
        with pq.ParquetWriter(kt, kschema, **PARQUET_OPTS) as kw, pq.ParquetWriter(rt, rschema, **PARQUET_OPTS) as rw:
            for batch in table.to_batches(max_chunksize=10_000):
                b = pa.Table.from_batches([batch])
                mask = pc.is_null(b.column(DROP_STEP))
                kw.write_table(b.select(keep_cols).filter(mask))
                rw.write_table(b.select(rej_cols).filter(pc.invert(mask)).rename_columns(rej_names))
