"""The Ray Data executor: the same recipe, steps and stages as executor_local, on a Ray cluster.

Input pairs are written once as Parquet shards with a `_row` column (the row's number in the
input, which every keep-first decision orders by). Each stage is one `map_batches` over the stage's
Parquet shards running the same fused step function as the local executor, written back as
Parquet. Global steps decide once over the whole stage: steps with a `ray_decide` (exact dedup by
hash-partitioned groupby, near-dedup by a band-bucket shuffle) run on the cluster; others (e.g. a
quantile threshold) decide on the driver over the stage's columns read shard by shard. Fitted
state (`fit`) is computed once on the driver and broadcast with `ray.put`. Stats, rejects and kept
rows are the local executor's for the same input. Every path (work folder, inputs, output) must
be on storage all nodes share.

Needs the `[ray]` extra: `pip install "bilingual[ray]"`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bilingual.filters.base import DROP_REASON, DROP_STEP, META, StepContext
from bilingual.filters.stats import count_drops, funnel, print_stats

ROW = "_row"
LOCAL_OBJECT_STORE = 512 << 20  # a local Ray started here: Ray spills beyond this


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or no cluster answers at the address given."""


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail in seconds, naming the address, when nothing listens there: `ray.init` on a dead address
    keeps retrying for minutes. "auto" (a cluster found from this node) is left to Ray."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise RayUnavailableError(f"--ray-address {address}: no Ray head answers there ({err}); start one with "
                           "`ray start --head` and pass the address it prints") from err


def _connect(address: Optional[str], num_cpus: int) -> bool:
    """Join the cluster at `address` (or start a local Ray); True when this call started Ray."""
    try:
        import ray
    except ImportError as err:
        raise RayUnavailableError("--executor ray needs Ray: pip install 'bilingual[ray]'") from err
    if ray.is_initialized():
        return False
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address:
        _check_reachable(address)
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE, **kwargs)
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True  # outputs keep input order (keep-first is by _row anyway)
    return True


class ParquetStage:
    """A stage's output shards as runs of consecutive `_row`s in row order, with the StageData interface
    of executor_local. Ray may put blocks of rows that are not neighbours into one file (even with
    preserve_order), so a file that is not one ascending run is sorted and cut into runs first."""

    def __init__(self, files: list[Path], work_dir: Path):
        runs = []  # (first row, file)
        for f in files:
            rows = pq.read_table(f, columns=[ROW]).column(ROW).to_numpy()
            if not len(rows):
                continue
            if np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
                runs.append((int(rows[0]), str(f)))
                continue
            table = pq.read_table(f).sort_by(ROW)
            rows = table.column(ROW).to_numpy()
            bounds = [0, *(np.flatnonzero(np.diff(rows) != 1) + 1), len(rows)]
            for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
                part = f"{f}.run{k:04d}.parquet"
                pq.write_table(table.slice(a, b - a), part)
                runs.append((int(rows[a]), part))
            Path(f).unlink()
        runs.sort()
        self.files = [f for _, f in runs]
        self.offsets = [r for r, _ in runs]
        self.num_rows = sum(pq.read_metadata(f).num_rows for f in self.files)
        expected = np.cumsum([0] + [pq.read_metadata(f).num_rows for f in self.files[:-1]]).tolist()
        if self.offsets != expected[:len(self.offsets)]:
            raise RuntimeError(f"{work_dir}: the stage output does not cover its input rows once each")
        self.work_dir = work_dir

    def iter_column(self, name: str):
        for f, offset in zip(self.files, self.offsets):
            t = pq.read_table(f, columns=[ROW, name])
            rows = t.column(ROW).to_numpy()
            if len(rows) and not np.array_equal(rows, np.arange(offset, offset + len(rows))):
                raise RuntimeError(f"{f}: rows out of order in a stage file")
            yield offset, t.column(name)

    def column(self, name: str) -> pa.ChunkedArray:
        parts = [c for _, col in self.iter_column(name) for c in col.chunks]
        return pa.chunked_array(parts)

    def tables(self):
        for f in self.files:
            yield pq.read_table(f)

    def dataset(self):
        """Every row as one memory-mapped `datasets.Dataset` (for a driver-side `fit` that reads text),
        written one stage file at a time and only when the fit uses it: the bundled fits (adequacy,
        perplexity) train on trusted data, and a driver holding every row would grow with the input."""
        from datasets import Dataset

        from bilingual.filters.stages import OpenedOnUse

        def write() -> Dataset:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            path, writer = self.work_dir / "fit-rows.arrow", None
            for table in self.tables():
                table = table.drop_columns([ROW])
                writer = writer or pa.ipc.new_stream(str(path), table.schema)
                writer.write_table(table)
                del table
            if writer is None:
                return Dataset.from_dict({})
            writer.close()
            return Dataset.from_file(str(path))

        return OpenedOnUse(write)

    def alive(self) -> np.ndarray:
        out = np.zeros(self.num_rows, dtype=bool)
        for offset, col in self.iter_column(DROP_STEP):
            out[offset:offset + len(col)] = pc.is_null(col).to_numpy(zero_copy_only=False)
        return out


class _RayStagePass:
    """`map_batches` function of one stage: the local executor's fused pass, with `_row` as the
    global row index, its result merged back into the Arrow batch."""

    def __init__(self, steps, pending_ref, ctx_ref, out_types: dict, drop: list[str]):
        self.steps, self.pending_ref, self.ctx_ref, self.out_types, self.drop = steps, pending_ref, ctx_ref, out_types, drop
        self.__name__ = "+".join(s.name for s in steps) or "spill"  # the operator's label in Ray's progress

    def __call__(self, batch: pa.Table) -> pa.Table:
        import ray

        from bilingual.filters.stages import _FusedPass

        pending, ctx = ray.get(self.pending_ref), ray.get(self.ctx_ref)  # broadcast once, cached per worker
        batch = batch.drop_columns([c for c in (META, *self.drop) if c in batch.column_names])
        rows = batch.column(ROW).to_numpy()
        data = {c: batch.column(c).to_pylist() for c in batch.column_names if c != ROW}
        out = _FusedPass(self.steps, pending, ctx)(data, rows)
        for col, values in out.items():
            typ = self.out_types.get(col, batch.schema.field(col).type if col in batch.column_names else pa.string())
            arr = pa.array(values, type=typ)
            if col in batch.column_names:
                batch = batch.set_column(batch.column_names.index(col), col, arr)
            else:
                batch = batch.append_column(col, arr)
        return batch


def _write_input(pipeline, inputs, folder: Path, work: Path) -> tuple[list[Path], list]:
    """The input as Parquet shards with `_row` and empty drop columns (what every stage reads)."""
    from bilingual.corpus.dataset import BilingualDataset, _arrow_native, _expand
    from bilingual.filters.stages import _parquet_chunks, numbered
    from bilingual.storage import PARQUET_OPTS

    files = _expand(list(inputs))
    unreadable: list = []
    if _arrow_native(files, False) is not None:
        chunks = (c.data.table for c in _parquet_chunks(files, pipeline.chunk_rows, pipeline.chunk_bytes))
    else:
        data = BilingualDataset.load(files, cache_dir=work / "load")
        unreadable = data.unreadable
        chunks = (c.data.table for c in pipeline._chunks(data.dataset))
    folder.mkdir(parents=True)
    out, offset = [], 0
    for k, table in numbered(chunks):
        table = pa.Table.from_batches([table]) if isinstance(table, pa.RecordBatch) else table
        n = table.num_rows
        table = table.append_column(DROP_STEP, pa.nulls(n, pa.string())).append_column(DROP_REASON, pa.nulls(n, pa.string()))
        table = table.append_column(ROW, pa.array(np.arange(offset, offset + n, dtype=np.int64)))
        path = folder / f"input-{k:05d}.parquet"
        pq.write_table(table, path, **PARQUET_OPTS)
        out.append(path)
        offset += n
        del table  # before the next chunk is read
    return out, unreadable


def run_files_ray(pipeline, inputs: Iterable[Path], output_dir: Path, quiet: bool = False) -> dict:
    """`Pipeline.run_files` on Ray: same outputs (kept-*.parquet, rejects/, artifacts/, stats.json),
    written into a new folder swapped in when complete."""
    import ray
    import ray.data
    from datasets import Features

    from bilingual.filters.stages import (_apply_pending, _stages, clean_leftovers, numbered, swap_in,
                                          write_kept_rejects)
    from bilingual.storage import write_json

    started = _connect(pipeline.ray_address, pipeline.num_proc)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = not quiet
    output_dir = Path(output_dir).absolute()
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(output_dir)
    stage_root = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.work-", dir=output_dir.parent))
    out, work = stage_root / "out", stage_root / "work"
    out.mkdir()
    artifacts = pipeline.artifacts_dir
    if artifacts is None or Path(artifacts).absolute() == output_dir / "artifacts":
        artifacts = out / "artifacts"
    ctx = StepContext(artifacts_dir=artifacts)
    try:
        files, unreadable = _write_input(pipeline, inputs, work / "input", work)
        n_in = sum(pq.read_metadata(f).num_rows for f in files)
        data = ParquetStage(files, work)
        alive = data.alive()
        timings: Counter = Counter()
        counts: dict[str, Counter] = {s.name: Counter() for s in pipeline.steps}
        pending: list = []
        drop: list[str] = []
        for si, group in enumerate(_stages(pipeline.steps)):
            for step in group:
                if step.spec.fit is not None and alive.any():
                    t0 = time.perf_counter()
                    step.spec.fit(data.dataset(), alive, step.params, ctx)
                    timings[step.name] += time.perf_counter() - t0
            feats = {k: v for s in group for k, v in s.spec.output_features(s.params).items()}
            out_types = {f.name: f.type for f in Features(feats).arrow_schema} if feats else {}
            fn = _RayStagePass(group, ray.put(pending), ray.put(ctx), out_types, drop)
            stage_dir = work / f"stage-{si}"
            ds = ray.data.read_parquet([str(f) for f in data.files])
            ds.map_batches(fn, batch_format="pyarrow", batch_size=pipeline.batch_size, zero_copy_batch=True
                           ).write_parquet(str(stage_dir))
            shutil.rmtree(work / f"stage-{si - 1}", ignore_errors=True)
            data = ParquetStage(sorted(stage_dir.glob("*.parquet")), stage_dir)
            for _, col in data.iter_column(META):
                for cell in col.drop_null().to_pylist():
                    for name, m in json.loads(cell).items():
                        timings[name] += m["t"]
                        counts[name].update(m["c"])
            alive = data.alive()
            pending, drop = [], []
            last = group[-1] if group else None
            if last is not None and last.spec.decide is not None and alive.any():
                t0 = time.perf_counter()
                scratch = stage_dir.parent / f"decide-{si}"
                scratch.mkdir()
                data.work_dir = scratch
                if last.spec.ray_decide is not None:
                    codes, reasons = last.spec.ray_decide(ray.data.read_parquet([str(f) for f in data.files]),
                                                          alive, last.params, ctx)
                else:
                    codes, reasons = last.spec.decide(data, alive, last.params, ctx)
                shutil.rmtree(scratch, ignore_errors=True)
                codes = np.asarray(codes, dtype=np.int8)
                pending = [(last.name, codes, list(reasons))]
                alive = alive & (codes == 0)
                timings[last.name] += time.perf_counter() - t0
            if last is not None:
                drop = list(last.spec.temp_columns)
        temp = {c for s in pipeline.steps for c in s.spec.temp_columns} | {META, ROW}
        drops: dict[str, Counter] = {}
        for k, table in numbered(data.tables()):
            table = _apply_pending(table, data.offsets[k], pending)
            for s, c in count_drops(table.select([DROP_STEP, DROP_REASON])).items():
                drops.setdefault(s, Counter()).update(c)
            write_kept_rejects(table, out / f"kept-{k:05d}.parquet", out / "rejects" / f"rejects-{k:05d}.parquet",
                               drop=temp)
            del table  # before the next chunk is read
        stats = funnel(pipeline.steps, pipeline.recipe.name, n_in, drops, timings, counts)
        stats.update(unreadable=unreadable, output_dir=str(output_dir), chunks=len(data.files),
                     chunk_rows=pipeline.chunk_rows, chunk_mb=pipeline.chunk_bytes >> 20, num_proc=pipeline.num_proc,
                     executor="ray",
                     ray_nodes=len([n for n in ray.nodes() if n.get("Alive")]))
        shutil.rmtree(work, ignore_errors=True)
        write_json(out / "stats.json", stats)
        swap_in(out, output_dir)
    finally:
        shutil.rmtree(stage_root, ignore_errors=True)
        if started:
            ray.shutdown()
    if not quiet:
        print_stats(stats)
    return stats
