"""The local executor: a recipe runs as stages of chunked `datasets.Dataset.map` passes on one machine.

Steps never delete rows while running: a step sets `_drop_step`/`_drop_reason` on the rows it
rejects and adds its score columns; later steps only look at rows that are still alive.
Consecutive row-local steps are fused into ONE `map` pass per chunk (`num_proc` workers). A stage
ends at a step that needs the WHOLE input: a global `decide` (dedup, quantile thresholds) runs once
over the stage's output of every chunk (spilled to Arrow files in the work folder, read back one
chunk at a time), and a `fit` (a model trained on what earlier steps kept) starts a new stage so it
sees every chunk. So decisions never depend on the chunk size or on `num_proc`, and memory is set
by the chunk bounds (`chunk_rows` rows and `chunk_mb` MB of text, whichever comes first), not by the
input's size or the length of its lines. `in == kept + rejected` is checked at the end.

`run_files` resumes: every piece (a stage's output of one chunk, a global decision, one chunk's
kept/rejects files) is written atomically and then recorded, in a work folder named by the run's
fingerprint, so a rerun after a kill computes only the pieces without a record.
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
from bilingual.filters.stages import (_apply_pending, _FusedPass, _parquet_chunks, _stages, clean_leftovers,
                                      OpenedOnUse, numbered, read_record, rows_that_fit, run_fingerprint, save_array,
                                      swap_in, text_bytes, trace_memory, write_kept_rejects)
from bilingual.storage import run_lock, write_json
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
        """Every row as one memory-mapped `datasets.Dataset` (for a `fit` that reads text), opened
        only when the fit uses it: opening costs ~1.6 MB resident per chunk file (64 MB for 39
        chunks), and the bundled fits (adequacy, perplexity) train on trusted data, not on it."""
        from datasets import Dataset, concatenate_datasets

        return OpenedOnUse(lambda: concatenate_datasets([Dataset.from_file(f) for files in self.chunk_files
                                                          for f in files]))


def _with_drop_columns(ds):
    for col in (DROP_STEP, DROP_REASON, META):
        if col in ds.column_names:
            ds = ds.remove_columns(col)
    n = len(ds)
    null = pa.nulls(n, pa.string())
    return ds.add_column(DROP_STEP, null).add_column(DROP_REASON, null) if n else \
        ds.add_column(DROP_STEP, []).add_column(DROP_REASON, [])


def _alive_of(path: Path) -> np.ndarray:
    """The alive mask of one stage chunk file (its drop column only is paged in)."""
    return pc.is_null(read_arrow(path).column(DROP_STEP)).to_numpy(zero_copy_only=False)


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
                 recipe_path: str = "recipe", chunk_mb: Optional[int] = None):
        from bilingual.filters.recipe import check_overrides

        check_overrides(recipe_path, num_proc=num_proc, batch_size=batch_size, chunk_rows=chunk_rows,
                        chunk_mb=chunk_mb, executor=executor, ray_address=ray_address)
        self.recipe, self.steps = recipe, steps
        self.num_proc = num_proc or recipe.num_proc
        self.batch_size = batch_size or recipe.batch_size
        self.chunk_rows = chunk_rows or recipe.chunk_rows
        self.chunk_bytes = (chunk_mb or recipe.chunk_mb) << 20
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
        decisions, alive mask, timings, counts, temp columns, resume counts).

        Resumable: each chunk's output of a stage is a `datasets` cache file (written under a temporary
        name and renamed) followed by its record `chunk-K.json` (rows, timings, counts); a stage ends
        with `stage.json` after its global decision (`decision.npy`) and alive mask. A rerun in the
        same work folder reuses every recorded piece and computes only the rest. A stage's input
        files are deleted once the stage is complete (a `fit` may need all of them again on resume)."""
        timings: Counter = Counter()
        counts: dict[str, Counter] = {s.name: Counter() for s in self.steps}
        resume = Counter()
        pending: list = []
        drop_temp: list[str] = []
        data: Optional[StageData] = None
        alive = np.zeros(0, dtype=bool)
        for si, group in enumerate(_stages(self.steps)):
            stage_dir = work / f"stage-{si}"
            last = group[-1] if group else None
            done = read_record(stage_dir / "stage.json")
            if done is None:
                done = self._run_stage(si, group, chunks, data, alive, pending, drop_temp, stage_dir, ctx, resume)
                if data is not None:  # the previous stage's chunk files are consumed
                    for f in (f for fs in data.chunk_files for f in fs):
                        Path(f).unlink(missing_ok=True)
            else:
                resume["passes"] += len(done["files"])
                resume["reused"] += len(done["files"])
            data = StageData([[str(stage_dir / f) for f in fs] for fs in done["files"]], done["offsets"],
                             done["rows"], stage_dir)
            alive = np.load(stage_dir / "alive.npy")
            timings.update(done["timings"])
            for name, c in done["counts"].items():
                counts[name].update(c)
            pending = [(last.name, np.load(stage_dir / "decision.npy"), done["reasons"])] if done["decided"] else []
            drop_temp = list(last.spec.temp_columns) if last is not None else []
        temp = {c for s in self.steps for c in s.spec.temp_columns} | {META}
        return data, pending, alive, timings, counts, temp, resume

    def _run_stage(self, si: int, group: list[Step], chunks: Iterable, data: Optional[StageData], alive: np.ndarray,
                   pending: list, drop_temp: list[str], stage_dir: Path, ctx: StepContext, resume: Counter) -> dict:
        """One stage over every chunk (reusing the chunks a killed run recorded), then its global
        decision; writes and returns the stage's record."""
        timings: Counter = Counter()
        counts: dict[str, Counter] = {s.name: Counter() for s in group}
        for step in group:
            if step.spec.fit is not None and data is not None and alive.any():
                t0 = time.perf_counter()
                step.spec.fit(data.dataset(), alive, step.params, ctx)
                timings[step.name] += time.perf_counter() - t0
        stage_dir.mkdir(parents=True, exist_ok=True)
        for tmp in stage_dir.glob("tmp*"):  # `datasets` writes under a temporary name: a killed write's leftover
            tmp.unlink(missing_ok=True)
        label = "+".join(s.name for s in group) or "spill"
        source = chunks if data is None else ((lambda files=files: self._open_chunk(files)) for files in data.chunk_files)
        files, offsets, alive_parts, offset = [], [], [], 0
        for k, chunk in numbered(source):  # not enumerate: it would hold two chunks at once
            record_path = stage_dir / f"chunk-{k:05d}.json"
            record = read_record(record_path)
            resume["passes"] += 1
            if record is not None:
                resume["reused"] += 1
            else:
                chunk = _with_drop_columns(chunk) if data is None else chunk()
                record = self._run_chunk(group, chunk, k, offset, pending, drop_temp, stage_dir, label, ctx)
                write_json(record_path, record)
                del chunk
            files.append(record["files"])
            offsets.append(offset)
            alive_parts.append(np.concatenate([_alive_of(stage_dir / f) for f in record["files"]]))
            offset += record["rows"]
            timings.update(record["timings"])
            for name, c in record["counts"].items():
                counts[name].update(c)
            gc.collect()
            trace_memory(f"filter stage {si} ({label}) chunk {k}")
        alive = np.concatenate(alive_parts) if alive_parts else np.zeros(0, dtype=bool)
        reasons, decided = [], False
        last = group[-1] if group else None
        if last is not None and last.spec.decide is not None and alive.any():
            t0 = time.perf_counter()
            scratch = stage_dir / f"decide-{last.name}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            data = StageData([[str(stage_dir / f) for f in fs] for fs in files], offsets, offset, scratch)
            codes, reasons = last.spec.decide(data, alive, last.params, ctx)
            shutil.rmtree(scratch, ignore_errors=True)
            codes = np.asarray(codes, dtype=np.int8)
            save_array(stage_dir / "decision.npy", codes)
            reasons, decided = list(reasons), True
            alive = alive & (codes == 0)
            timings[last.name] += time.perf_counter() - t0
        save_array(stage_dir / "alive.npy", alive)
        record = {"files": files, "offsets": offsets, "rows": offset, "timings": dict(timings),
                  "counts": {name: dict(c) for name, c in counts.items()}, "decided": decided, "reasons": reasons}
        write_json(stage_dir / "stage.json", record)
        return record

    def _run_chunk(self, group: list[Step], chunk, k: int, offset: int, pending: list, drop_temp: list[str],
                   stage_dir: Path, label: str, ctx: StepContext) -> dict:
        """The stage's fused pass over one chunk into `chunk-K*.arrow`; returns the chunk's record."""
        from datasets import Features, Value

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
        timings: Counter = Counter()
        counts: dict[str, Counter] = {s.name: Counter() for s in group}
        for cell in out.data.column(META).drop_null().to_pylist():
            for name, m in json.loads(cell).items():
                timings[name] += m["t"]
                counts[name].update(m["c"])
        files = [Path(f["filename"]).name for f in out.cache_files]
        return {"files": files, "rows": n, "timings": dict(timings), "counts": {s: dict(c) for s, c in counts.items()}}

    def _open_chunk(self, files: list[str]):
        from datasets import Dataset, concatenate_datasets

        parts = [Dataset.from_file(f) for f in files]
        return parts[0] if len(parts) == 1 else concatenate_datasets(parts)

    def _chunks_of(self, data: StageData):
        for files in data.chunk_files:
            yield self._open_chunk(files)

    def _chunks(self, dataset) -> Iterator:
        """Contiguous slices of `dataset` of at most `chunk_rows` rows and `chunk_bytes` of text, without copying."""
        if getattr(dataset, "_indices", None) is not None:
            dataset = dataset.flatten_indices()
        n, table = len(dataset), dataset.data.table
        if n <= self.chunk_rows and int(text_bytes(table).sum()) <= self.chunk_bytes:
            yield dataset
            return
        from datasets import Dataset

        a = 0
        while a < n:  # sizes of the next chunk_rows rows only: nothing per row of the whole input is held
            sizes = text_bytes(table.slice(a, self.chunk_rows))
            take = rows_that_fit(sizes, self.chunk_rows, self.chunk_bytes, chunk_empty=True)
            yield Dataset(dataset.data.slice(a, take), info=dataset.info.copy(), fingerprint=f"chunk-{uuid.uuid4().hex}")
            a += take

    def run(self, dataset, work_dir: Optional[Path] = None) -> PipelineResult:
        """Run every step over `dataset` (a datasets.Dataset with `bn`/`en` columns), `chunk_rows`
        rows at a time. The returned Datasets are memory-mapped from `work_dir` (default: a
        temporary folder `datasets` deletes at exit)."""
        from datasets import concatenate_datasets
        from datasets.fingerprint import get_temporary_cache_files_directory

        work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="filter-", dir=get_temporary_cache_files_directory()))
        ctx = StepContext(artifacts_dir=self.artifacts_dir)
        n_in = len(dataset)
        data, pending, alive, timings, counts, temp, _ = self._execute(self._chunks(dataset), work, ctx)
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
        to one Arrow file first. Everything is written into a work folder beside `output_dir`
        (`.NAME.work-<fingerprint>`) that replaces it only when complete, so a killed run never
        leaves new shards beside an old stats.json. A rerun with the same inputs, recipe and chunk
        size resumes in that folder: every chunk a stage (or the output writer) finished is reused
        (stats["resumed"] counts them); work folders of other runs are removed."""
        from bilingual.corpus.dataset import BilingualDataset, _arrow_native, _expand

        if self.executor == "ray":
            from bilingual.filters.executor_ray import run_files_ray

            return run_files_ray(self, inputs, output_dir, quiet=quiet)
        if chunk_rows is not None:
            from bilingual.filters.recipe import check_overrides

            check_overrides("filter", chunk_rows=chunk_rows)
            self.chunk_rows = chunk_rows
        output_dir = Path(output_dir).absolute()
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        files = _expand(list(inputs))
        artifacts = self.artifacts_dir
        fp = run_fingerprint(files, self.steps, chunk_rows=self.chunk_rows, chunk_bytes=self.chunk_bytes,
                             batch_size=self.batch_size,
                             artifacts=None if artifacts is None else str(Path(artifacts).absolute()))
        stage = output_dir.parent / f".{output_dir.name}.work-{fp}"
        clean_leftovers(output_dir, keep=stage)
        out, work = stage / "out", stage / "work"
        out.mkdir(parents=True, exist_ok=True)
        if artifacts is None or Path(artifacts).absolute() == output_dir / "artifacts":
            artifacts = out / "artifacts"
        ctx_dir, self.artifacts_dir = self.artifacts_dir, artifacts
        unreadable: list = []
        try:
            lock = stage / ".lock"
            with run_lock(lock, lambda: PipelineCheckError(
                    f"{lock.parent}: another run into this output folder is using it; wait for it")):
                trace_memory("filter: start")
                if _arrow_native(files, False) is not None:
                    chunks = _parquet_chunks(files, self.chunk_rows, self.chunk_bytes)
                else:
                    data = BilingualDataset.load(files, cache_dir=work / "load")
                    unreadable = data.unreadable
                    chunks = self._chunks(data.dataset)
                last, pending, _, timings, counts, temp, resume = self._execute(
                    chunks, work, StepContext(artifacts_dir=artifacts))
                drops: dict[str, Counter] = {}
                for k, (fs, offset) in enumerate(zip(last.chunk_files, last.offsets)):
                    chunk_drops = self._write_output_chunk(fs, offset, pending, temp, out, work, k, resume)
                    for s, c in chunk_drops.items():
                        drops.setdefault(s, Counter()).update(c)
                    trace_memory(f"filter output chunk {k}")
                stats = funnel(self.steps, self.recipe.name, last.num_rows, drops, timings, counts)
                stats.update(unreadable=unreadable, output_dir=str(output_dir), chunks=len(last.chunk_files),
                             chunk_rows=self.chunk_rows, chunk_mb=self.chunk_bytes >> 20, num_proc=self.num_proc,
                             executor="local",
                             resumed={"chunk_passes": resume["passes"], "reused": resume["reused"]})
                write_json(out / "stats.json", stats)
                swap_in(out, output_dir)
            shutil.rmtree(stage, ignore_errors=True)  # kept when the run fails: the next one resumes from it
        finally:
            self.artifacts_dir = ctx_dir
        if not quiet:
            print_stats(stats)
        return stats

    @staticmethod
    def _write_output_chunk(files: list[str], offset: int, pending: list, temp: set, out: Path, work: Path,
                            k: int, resume: Counter) -> dict:
        """kept-K.parquet and rejects/rejects-K.parquet of one chunk of the last stage, with the last
        global decision applied; returns its drop counts (recorded, so a resumed run reuses them)."""
        kept, rejects = out / f"kept-{k:05d}.parquet", out / "rejects" / f"rejects-{k:05d}.parquet"
        record_path = work / f"output-{k:05d}.json"
        record = read_record(record_path)
        resume["passes"] += 1
        if record is not None and kept.exists() and rejects.exists():
            resume["reused"] += 1
            drops: dict[str, Counter] = {}
            for step, reason, n in record["drops"]:
                drops.setdefault(step, Counter())[reason] += n
            return drops
        table = _apply_pending(pa.concat_tables([read_arrow(f) for f in files]), offset, pending)
        drops = count_drops(table.select([DROP_STEP, DROP_REASON]))
        write_kept_rejects(table, kept, rejects, drop=temp)
        write_json(record_path, {"drops": [[s, r, n] for s, c in drops.items() for r, n in c.items()]})
        return drops



