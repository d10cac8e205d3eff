"""The local executor: a recipe runs as stages of chunked `datasets.Dataset.map` passes on one machine.

Steps never delete rows while running: a step sets `_drop_step`/`_drop_reason` on the rows it
rejects and adds its score columns; later steps only look at rows that are still alive.
Consecutive row-local steps are fused into ONE `map` pass per chunk (`num_proc` workers). A stage
ends at a step that needs the WHOLE input: a global `decide` (dedup, quantile thresholds) runs once
over the stage's output of every chunk (spilled to Arrow files in the work folder, read back one
chunk at a time), and a `fit` (a model trained on what earlier steps kept) starts a new stage so it
sees every chunk. So decisions never depend on the chunk size or on `num_proc`, and memory is set
by `chunk_rows`, not by the input size. `in == kept + rejected` is checked at the end.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bilingual.filters.base import (DROP_REASON, DROP_STEP, META, PipelineCheckError, Step,
                                    StepContext)
from bilingual.filters.recipe import Recipe, load_recipe
from bilingual.filters.stages import (_apply_pending, _FusedPass, _parquet_chunks, _stages,
                                      clean_leftovers, swap_in, write_kept_rejects)
from bilingual.filters.stats import count_drops, funnel, print_stats

DEFAULT_CHUNK_ROWS = 100_000


@dataclasses.dataclass
class PipelineResult:
    kept: Any  # datasets.Dataset without the internal columns
    rejects: Any  # datasets.Dataset: original fields + step + reason (+ scores)
    stats: dict
    scored: Any = None  # every row with scores and _drop_step/_drop_reason (kept/rejects are views of it)
    alive: Any = None  # numpy bool mask over `scored`: kept rows


def read_arrow(path: str | Path) -> pa.Table:
    """A `datasets` cache file (Arrow IPC stream), memory-mapped: touched columns only are paged in."""
    return pa.ipc.open_stream(pa.memory_map(str(path))).read_all()


class StageData:
    """The output of one stage over the whole input, as the chunk files on disk, for a global step.

    `column(name)` loads one column for every row (for small score columns); `iter_column(name)`
    yields `(row_offset, array)` one chunk at a time (for large key/signature columns); `work_dir`
    is a scratch folder for the step's spill files."""

    def __init__(self, chunk_files: list[list[str]], offsets: list[int], num_rows: int, work_dir: Path):
        self.chunk_files, self.offsets, self.num_rows, self.work_dir = chunk_files, offsets, num_rows, work_dir

    def iter_column(self, name: str) -> Iterator[tuple[int, pa.ChunkedArray]]:
        for files, offset in zip(self.chunk_files, self.offsets):
            cols = [read_arrow(f).column(name) for f in files]
            yield offset, pa.chunked_array([c for col in cols for c in col.chunks], type=cols[0].type)
            del cols

    def column(self, name: str) -> pa.ChunkedArray:
        parts = [col for _, col in self.iter_column(name)]
        return pa.chunked_array([c for col in parts for c in col.chunks], type=parts[0].type)

    def dataset(self):
        """Every row as one memory-mapped `datasets.Dataset` (for a `fit` that reads text)."""
        from datasets import Dataset, concatenate_datasets

        return concatenate_datasets([Dataset.from_file(f) for files in self.chunk_files for f in files])


def _with_drop_columns(ds):
    for col in (DROP_STEP, DROP_REASON, META):
        if col in ds.column_names:
            ds = ds.remove_columns(col)
    n = len(ds)
    null = pa.nulls(n, pa.string())
    return ds.add_column(DROP_STEP, null).add_column(DROP_REASON, null) if n else \
        ds.add_column(DROP_STEP, []).add_column(DROP_REASON, [])


def _alive(dataset) -> np.ndarray:
    if len(dataset) == 0:
        return np.zeros(0, dtype=bool)
    return pc.is_null(dataset.data.column(DROP_STEP)).to_numpy(zero_copy_only=False)


class Pipeline:
    """`Pipeline.from_recipe(path_or_dict).run(dataset)` → PipelineResult (kept, rejects, stats);
    `.run_files(inputs, output_dir)` streams files to kept/rejects shards + stats.json."""

    def __init__(self, recipe: Recipe, steps: list[Step], num_proc: Optional[int] = None,
                 batch_size: Optional[int] = None, artifacts_dir: Optional[Path] = None,
                 chunk_rows: Optional[int] = None, executor: Optional[str] = None, ray_address: Optional[str] = None,
                 recipe_path: str = "recipe"):
        from bilingual.filters.recipe import check_overrides

        check_overrides(recipe_path, num_proc=num_proc, batch_size=batch_size, chunk_rows=chunk_rows,
                        executor=executor, ray_address=ray_address)
        self.recipe, self.steps = recipe, steps
        self.num_proc = num_proc or recipe.num_proc
        self.batch_size = batch_size or recipe.batch_size
        self.chunk_rows = chunk_rows or recipe.chunk_rows
        self.executor = executor or recipe.executor
        self.ray_address = ray_address or recipe.ray_address
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir else None

    @classmethod
    def from_recipe(cls, recipe: str | Path | dict, **kwargs) -> "Pipeline":
        head, steps = load_recipe(recipe)
        kwargs.setdefault("recipe_path", str(recipe) if isinstance(recipe, (str, Path)) else "recipe")
        return cls(head, steps, **kwargs)

    # -------------------------------------------------------- the staged run

    def _execute(self, chunks: Iterable, work: Path, ctx: StepContext):
        """Run every stage over every chunk; returns (stage data of the last stage, pending
        decisions, alive mask, timings, counts, temp columns). Chunk files of a stage are deleted once the next
        stage has read them."""
        from datasets import Features, Value

        timings: Counter = Counter()
        counts: dict[str, Counter] = {s.name: Counter() for s in self.steps}
        pending: list = []
        drop_temp: list[str] = []
        data: Optional[StageData] = None
        alive = np.zeros(0, dtype=bool)
        for si, group in enumerate(_stages(self.steps)):
            for step in group:
                if step.spec.fit is not None and data is not None and alive.any():
                    t0 = time.perf_counter()
                    step.spec.fit(data.dataset(), alive, step.params, ctx)
                    timings[step.name] += time.perf_counter() - t0
            stage_dir = work / f"stage-{si}"
            stage_dir.mkdir(parents=True, exist_ok=True)
            label = "+".join(s.name for s in group) or "spill"
            source = chunks if data is None else self._chunks_of(data)
            files, offsets, alive_parts, offset = [], [], [], 0
            for k, chunk in enumerate(source):
                if data is None:
                    chunk = _with_drop_columns(chunk)
                n = len(chunk)
                feats = {c: v for c, v in chunk.features.items() if c not in (META, *drop_temp)}
                for step in group:
                    feats.update(step.spec.output_features(step.params))
                feats[META] = Value("string")
                parallel = self.num_proc if self.num_proc > 1 and n > self.batch_size else None
                out = chunk.map(_FusedPass(group, pending, ctx, offset), batched=True, batch_size=self.batch_size,
                                with_indices=True, num_proc=parallel,
                                remove_columns=[c for c in (META, *drop_temp) if c in chunk.column_names],
                                features=Features(feats), desc=f"filter: {label} [{k + 1}]",
                                load_from_cache_file=False, cache_file_name=str(stage_dir / f"chunk-{k:05d}.arrow"))
                for cell in out.data.column(META).drop_null().to_pylist():
                    for name, m in json.loads(cell).items():
                        timings[name] += m["t"]
                        counts[name].update(m["c"])
                files.append([f["filename"] for f in out.cache_files])
                offsets.append(offset)
                alive_parts.append(_alive(out))
                offset += n
                del out, chunk
                gc.collect()
                if data is not None:  # the previous stage's files of this chunk are consumed
                    for f in data.chunk_files[k]:
                        Path(f).unlink(missing_ok=True)
            alive = np.concatenate(alive_parts) if alive_parts else np.zeros(0, dtype=bool)
            data = StageData(files, offsets, offset, stage_dir)
            pending, drop_temp = [], []
            last = group[-1] if group else None
            if last is not None and last.spec.decide is not None and alive.any():
                t0 = time.perf_counter()
                scratch = stage_dir / f"decide-{last.name}"
                scratch.mkdir(exist_ok=True)
                data.work_dir = scratch
                codes, reasons = last.spec.decide(data, alive, last.params, ctx)
                shutil.rmtree(scratch, ignore_errors=True)
                codes = np.asarray(codes, dtype=np.int8)
                pending = [(last.name, codes, list(reasons))]
                alive = alive & (codes == 0)
                timings[last.name] += time.perf_counter() - t0
            if last is not None:
                drop_temp = list(last.spec.temp_columns)
        temp = {c for s in self.steps for c in s.spec.temp_columns} | {META}
        return data, pending, alive, timings, counts, temp

    @staticmethod
    def _chunks_of(data: StageData):
        from datasets import Dataset, concatenate_datasets

        for files in data.chunk_files:
            parts = [Dataset.from_file(f) for f in files]
            yield parts[0] if len(parts) == 1 else concatenate_datasets(parts)

    def _chunks(self, dataset) -> Iterator:
        """Contiguous slices of `dataset`, `chunk_rows` each, without copying."""
        if getattr(dataset, "_indices", None) is not None:
            dataset = dataset.flatten_indices()
        n = len(dataset)
        if n <= self.chunk_rows:
            yield dataset
            return
        from datasets import Dataset

        for a in range(0, n, self.chunk_rows):
            yield Dataset(dataset.data.slice(a, min(self.chunk_rows, n - a)), info=dataset.info.copy(),
                          fingerprint=f"chunk-{uuid.uuid4().hex}")

    def run(self, dataset, work_dir: Optional[Path] = None) -> PipelineResult:
        """Run every step over `dataset` (a datasets.Dataset with `bn`/`en` columns), `chunk_rows`
        rows at a time. The returned Datasets are memory-mapped from `work_dir` (default: a
        temporary folder `datasets` deletes at exit)."""
        from datasets import concatenate_datasets
        from datasets.fingerprint import get_temporary_cache_files_directory

        work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="filter-", dir=get_temporary_cache_files_directory()))
        ctx = StepContext(artifacts_dir=self.artifacts_dir)
        n_in = len(dataset)
        data, pending, alive, timings, counts, temp = self._execute(self._chunks(dataset), work, ctx)
        scored = concatenate_datasets(list(self._chunks_of(data)))
        if pending:  # the last global decision, applied in one pass
            scored = scored.map(_FusedPass([], pending, ctx), batched=True, batch_size=self.batch_size,
                                with_indices=True, remove_columns=[META], desc="filter: apply",
                                load_from_cache_file=False, cache_file_name=str(work / "scored.arrow"))
        drop = [c for c in temp if c in scored.column_names]
        if drop:
            scored = scored.remove_columns(drop)
        alive = _alive(scored)
        kept = scored.select(np.flatnonzero(alive)).remove_columns([DROP_STEP, DROP_REASON])
        rejects = scored.select(np.flatnonzero(~alive)).rename_columns(
            {DROP_STEP: "reject_step", DROP_REASON: "reject_reason"})
        drops = count_drops(scored.data.select([DROP_STEP, DROP_REASON])) if n_in else {}
        stats = funnel(self.steps, self.recipe.name, n_in, drops, timings, counts)
        if stats["kept"] != len(kept) or stats["in"] != len(kept) + len(rejects):
            raise PipelineCheckError(f"in={n_in} but kept={len(kept)} + rejected={len(rejects)}")
        return PipelineResult(kept, rejects, stats, scored, alive)

    # -------------------------------------------------------- files in, files out

    def run_files(self, inputs: Iterable[Path], output_dir: Path, quiet: bool = False,
                  chunk_rows: Optional[int] = None) -> dict:
        """Filter Parquet/JSONL/TSV/TMX inputs (read with BilingualDataset) into `output_dir`:
        `kept-*.parquet`, `rejects/rejects-*.parquet`, `artifacts/`, `stats.json`; returns stats.

        Parquet in our pair shape is streamed `chunk_rows` at a time; other formats are converted
        to one Arrow file first. Everything is written into a new folder beside `output_dir` that
        replaces it only when complete, so a killed run never leaves new shards beside an old
        stats.json; leftovers of killed runs are removed by the next run."""
        from bilingual.corpus.dataset import BilingualDataset, _arrow_native, _expand
        from bilingual.storage import write_json

        if self.executor == "ray":
            from bilingual.filters.executor_ray import run_files_ray

            return run_files_ray(self, inputs, output_dir, quiet=quiet)
        if chunk_rows is not None:
            from bilingual.filters.recipe import check_overrides

            check_overrides("filter", chunk_rows=chunk_rows)
            self.chunk_rows = chunk_rows
        output_dir = Path(output_dir).absolute()
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(output_dir)
        stage = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.work-", dir=output_dir.parent))
        out, work = stage / "out", stage / "work"
        out.mkdir()
        artifacts = self.artifacts_dir
        if artifacts is None or Path(artifacts).absolute() == output_dir / "artifacts":
            artifacts = out / "artifacts"
        ctx_dir, self.artifacts_dir = self.artifacts_dir, artifacts
        unreadable: list = []
        try:
            files = _expand(list(inputs))
            if _arrow_native(files, False) is not None:
                chunks = _parquet_chunks(files, self.chunk_rows)
            else:
                data = BilingualDataset.load(files, cache_dir=work / "load")
                unreadable = data.unreadable
                chunks = self._chunks(data.dataset)
            last, pending, _, timings, counts, temp = self._execute(chunks, work, StepContext(artifacts_dir=artifacts))
            drops: dict[str, Counter] = {}
            for k, (fs, offset) in enumerate(zip(last.chunk_files, last.offsets)):
                table = pa.concat_tables([read_arrow(f) for f in fs])
                table = _apply_pending(table, offset, pending)
                for s, c in count_drops(table.select([DROP_STEP, DROP_REASON])).items():
                    drops.setdefault(s, Counter()).update(c)
                write_kept_rejects(table, out / f"kept-{k:05d}.parquet", out / "rejects" / f"rejects-{k:05d}.parquet",
                                   drop=temp)
                del table
            n_in = last.num_rows
            stats = funnel(self.steps, self.recipe.name, n_in, drops, timings, counts)
            stats.update(unreadable=unreadable, output_dir=str(output_dir), chunks=len(last.chunk_files),
                         chunk_rows=self.chunk_rows, num_proc=self.num_proc, executor="local")
            shutil.rmtree(work, ignore_errors=True)
            write_json(out / "stats.json", stats)
            swap_in(out, output_dir)
        finally:
            self.artifacts_dir = ctx_dir
            shutil.rmtree(stage, ignore_errors=True)
        if not quiet:
            print_stats(stats)
        return stats


