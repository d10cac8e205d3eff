"""A filter `Pipeline`: ordered steps from a YAML recipe, run with `datasets.Dataset.map`.

Each step is a registered batched function. Steps never delete rows while running: a step sets
`_drop_step`/`_drop_reason` on the rows it rejects and adds its score columns; later steps only
look at rows that are still alive. Consecutive row-local steps are fused into ONE `map` pass
(`num_proc` workers), and steps that need global state (dedup) compute a per-row key in that pass
and decide in the main process over the key column (numpy, deterministic: first occurrence wins).
At the end kept and rejected rows are split once. Per-step stats are derived from the final
`_drop_step` column, so `in == kept + rejected` holds by construction and is still checked.

A recipe is validated in full (unknown step, unknown or ill-typed parameter) before any work.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bilingual import console

DROP_STEP, DROP_REASON, META = "_drop_step", "_drop_reason", "_meta"
TEXT_COLUMNS = ("bn", "en")


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the recipe, the step and the parameter."""


class PipelineCheckError(RuntimeError):
    """The accounting invariant (in == kept + rejected) failed: a bug, never silently ignored."""


class StepParams(BaseModel):
    """Base for step parameter models: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclasses.dataclass
class StepContext:
    """What a step may need besides its batch: where to keep artifacts, the text columns, fitted state."""

    artifacts_dir: Optional[Path] = None
    columns: tuple[str, ...] = TEXT_COLUMNS
    state: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StepSpec:
    """A registered step.

    `fn(batch, params, ctx) -> dict`: batch holds only alive rows (dict of lists); the result may
    hold replaced text columns, new score columns (one value per row), `_reason` (None = keep) and
    `_counts` ({name: int}, e.g. PII replacements). A global step also has
    `decide(table, alive, params, ctx) -> (codes int array, reasons list)`: code 0 keeps, code k
    rejects with reasons[k-1]; it runs in the main process over the columns `fn` produced.
    `fit(dataset, alive, params, ctx)` runs in the main process before the step's pass."""

    name: str
    params: type[StepParams]
    fn: Callable
    decide: Optional[Callable] = None
    fit: Optional[Callable] = None
    temp_columns: tuple[str, ...] = ()  # columns only `decide` needs; dropped from outputs
    outputs: Any = None  # {column: dtype} (or a callable of params) for the columns `fn` adds
    doc: str = ""

    def output_features(self, params) -> dict:
        from datasets import Value

        outs = self.outputs(params) if callable(self.outputs) else (self.outputs or {})
        return {k: Value(v) if isinstance(v, str) else v for k, v in outs.items()}


REGISTRY: dict[str, StepSpec] = {}


def register(name: str, params: type[StepParams], *, decide=None, fit=None, temp_columns=(), outputs=None):
    """Register a step type under `name` (the `step:` key of a recipe)."""
    def wrap(fn):
        REGISTRY[name] = StepSpec(name, params, fn, decide, fit, tuple(temp_columns), outputs,
                                  (fn.__doc__ or "").strip())
        return fn
    return wrap


def _load_steps() -> None:
    """Import every module of bilingual.filters.steps: importing a step module registers it."""
    import importlib
    import pkgutil

    from bilingual.filters import steps
    for module in pkgutil.iter_modules(steps.__path__):
        importlib.import_module(f"{steps.__name__}.{module.name}")


# ---------------------------------------------------------------- recipe

@dataclasses.dataclass
class Step:
    name: str  # the label in stats (defaults to the step type; `name:` in YAML to run a type twice)
    spec: StepSpec
    params: StepParams


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "recipe"
    description: str = ""
    num_proc: int = 1
    batch_size: int = 1000
    steps: list[dict[str, Any]]


def load_recipe(recipe: str | Path | dict) -> tuple[Recipe, list[Step]]:
    """Parse and validate a whole recipe; raise RecipeError naming the step and parameter."""
    _load_steps()
    where = "recipe"
    if isinstance(recipe, (str, Path)):
        where = str(recipe)
        try:
            data = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise RecipeError(f"{where}: cannot read recipe: {err}") from err
    else:
        data = recipe
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe is a mapping with a 'steps' list")
    try:
        head = Recipe.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise RecipeError(f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from err
    steps, seen = [], set()
    for i, raw in enumerate(head.steps, start=1):
        raw = dict(raw or {})
        kind = raw.pop("step", None)
        if kind is None:
            raise RecipeError(f"{where}: step {i} has no 'step:' key")
        label = str(raw.pop("name", kind))
        if kind not in REGISTRY:
            raise RecipeError(f"{where}: step {i} {kind!r}: unknown step (known: {', '.join(sorted(REGISTRY))})")
        if label in seen:
            raise RecipeError(f"{where}: step {i} {label!r}: duplicate step name; give it a distinct 'name:'")
        seen.add(label)
        spec = REGISTRY[kind]
        try:
            params = spec.params.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise RecipeError(f"{where}: step {i} {label!r}: parameter {param!r}: {first['msg']}") from err
        steps.append(Step(label, spec, params))
    if not steps:
        raise RecipeError(f"{where}: no steps")
    return head, steps


# ---------------------------------------------------------------- running

@dataclasses.dataclass
class PipelineResult:
    kept: Any  # datasets.Dataset without the internal columns
    rejects: Any  # datasets.Dataset: original fields + step + reason (+ scores)
    stats: dict
    scored: Any = None  # every row with scores and _drop_step/_drop_reason (kept/rejects are views of it)
    alive: Any = None  # numpy bool mask over `scored`: kept rows


class _FusedPass:
    """The batched function of one `map` pass: apply pending global decisions, then run steps."""

    def __init__(self, steps: list[Step], pending: list[tuple[str, np.ndarray, list[str]]], ctx: StepContext):
        self.steps, self.pending, self.ctx = steps, pending, ctx

    def __call__(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        n = len(indices)
        drop_step = list(batch[DROP_STEP])
        drop_reason = list(batch[DROP_REASON])
        meta: dict[str, dict] = {}
        idx = np.asarray(indices)
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


class Pipeline:
    """`Pipeline.from_recipe(path_or_dict).run(dataset)` → PipelineResult (kept, rejects, stats)."""

    def __init__(self, recipe: Recipe, steps: list[Step], num_proc: Optional[int] = None,
                 batch_size: Optional[int] = None, artifacts_dir: Optional[Path] = None):
        self.recipe, self.steps = recipe, steps
        self.num_proc = num_proc or recipe.num_proc
        self.batch_size = batch_size or recipe.batch_size
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir else None

    @classmethod
    def from_recipe(cls, recipe: str | Path | dict, **kwargs) -> "Pipeline":
        head, steps = load_recipe(recipe)
        return cls(head, steps, **kwargs)

    # The passes: groups of consecutive row-local steps; a global step ends its group.
    def _groups(self) -> list[list[Step]]:
        groups, cur = [], []
        for step in self.steps:
            if step.spec.fit is not None and cur:  # a fitted step fits on what earlier steps kept
                groups.append(cur)
                cur = []
            cur.append(step)
            if step.spec.decide is not None:
                groups.append(cur)
                cur = []
        if cur:
            groups.append(cur)
        return groups

    def run(self, dataset, ctx: Optional[StepContext] = None, work_dir: Optional[Path] = None) -> PipelineResult:
        """Run every step over `dataset` (a datasets.Dataset with `bn`/`en` columns).

        Pass the same `ctx` to consecutive calls to filter a stream chunk by chunk: global steps
        keep their state there (hashes seen, LSH tables, fitted LMs and thresholds), so the
        decisions are those of one run over the concatenation. `work_dir` holds the pass files
        of an in-memory chunk."""
        from datasets import Features, Value

        if getattr(dataset, "_indices", None) is not None:
            dataset = dataset.flatten_indices()
        n_in = len(dataset)
        ctx = ctx or StepContext(artifacts_dir=self.artifacts_dir)
        passes = 0
        for col in (DROP_STEP, DROP_REASON, META):
            if col in dataset.column_names:
                dataset = dataset.remove_columns(col)
        null = pa.nulls(n_in, pa.string())
        dataset = dataset.add_column(DROP_STEP, null).add_column(DROP_REASON, null) if n_in else \
            dataset.add_column(DROP_STEP, []).add_column(DROP_REASON, [])
        timings: Counter = Counter()
        counts: dict[str, Counter] = {s.name: Counter() for s in self.steps}
        pending: list = []
        temp_cols: set[str] = set()
        for group in self._groups():
            for step in group:
                if step.spec.fit is not None and not ctx.state.get(f"fitted:{step.name}"):
                    ctx.state[f"fitted:{step.name}"] = True
                    t0 = time.perf_counter()
                    step.spec.fit(dataset, _alive(dataset), step.params, ctx)
                    timings[step.name] += time.perf_counter() - t0
            if n_in:
                label = "+".join(s.name for s in group)
                fused = _FusedPass(group, pending, ctx)
                feats = {k: v for k, v in dataset.features.items() if k != META}
                for step in group:
                    feats.update(step.spec.output_features(step.params))
                feats[META] = Value("string")
                dataset = dataset.map(fused, batched=True, batch_size=self.batch_size, with_indices=True,
                                      num_proc=self.num_proc if self.num_proc > 1 and n_in > self.batch_size else None,
                                      remove_columns=[c for c in (META,) if c in dataset.column_names],
                                      features=Features(feats), desc=f"filter: {label}", load_from_cache_file=False,
                                      cache_file_name=str(Path(work_dir) / f"pass-{passes}.arrow") if work_dir else None)
                passes += 1
                for cell in dataset.data.column(META).drop_null().to_pylist():
                    for name, m in json.loads(cell).items():
                        timings[name] += m["t"]
                        counts[name].update(m["c"])
            pending = []
            last = group[-1]
            if last.spec.decide is not None and n_in:
                t0 = time.perf_counter()
                codes, reasons = last.spec.decide(dataset.data, _alive(dataset), last.params, ctx)
                pending = [(last.name, codes, reasons)]
                timings[last.name] += time.perf_counter() - t0
                temp_cols.update(last.spec.temp_columns)
        if pending:  # apply the last global decision
            dataset = dataset.map(_FusedPass([], pending, ctx), batched=True, batch_size=self.batch_size,
                                  with_indices=True, remove_columns=[META] if META in dataset.column_names else [],
                                  desc="filter: apply", load_from_cache_file=False,
                                  cache_file_name=str(Path(work_dir) / f"pass-{passes}.arrow") if work_dir else None)
        drop = [c for c in list(temp_cols) + [META] if c in dataset.column_names]
        if drop:
            dataset = dataset.remove_columns(drop)
        alive = _alive(dataset)
        # One split into kept/rejected, as index views over the scored Arrow file (no copy: with
        # datasets 4, flattening a scattered selection is ~50x slower than writing it out batch-wise).
        # Read them with the Dataset API (`ds["col"]`, `.iter`, `write_shards`), not `.data`.
        kept = dataset.select(np.flatnonzero(alive)).remove_columns([DROP_STEP, DROP_REASON])
        rejects = dataset.select(np.flatnonzero(~alive)).rename_columns(
            {DROP_STEP: "reject_step", DROP_REASON: "reject_reason"})
        stats = self._stats(dataset, n_in, timings, counts)
        if stats["kept"] != len(kept) or stats["in"] != len(kept) + len(rejects):
            raise PipelineCheckError(f"in={n_in} but kept={len(kept)} + rejected={len(rejects)}")
        return PipelineResult(kept, rejects, stats, dataset, alive)

    def _stats(self, dataset, n_in: int, timings, counts) -> dict:
        steps_col = dataset.data.column(DROP_STEP)
        reason_col = dataset.data.column(DROP_REASON)
        by_step: dict[str, Counter] = {s.name: Counter() for s in self.steps}
        if n_in:
            table = pa.table({"s": steps_col, "r": reason_col}).group_by(["s", "r"]).aggregate([([], "count_all")])
            for s, r, c in zip(*(table.column(k).to_pylist() for k in ("s", "r", "count_all"))):
                if s is not None:
                    by_step[s][r] += c
        rows, cur = [], n_in
        for step in self.steps:
            dropped = sum(by_step[step.name].values())
            row = {"step": step.name, "type": step.spec.name, "in": cur, "kept": cur - dropped, "dropped": dropped,
                   "seconds": round(timings[step.name], 4), "reasons": dict(by_step[step.name].most_common())}
            if counts[step.name]:
                row["counts"] = dict(counts[step.name])
            rows.append(row)
            cur -= dropped
        rejected = n_in - cur
        if any(r["in"] != r["kept"] + r["dropped"] for r in rows):
            raise PipelineCheckError("a step's in != kept + dropped")
        return {"recipe": self.recipe.name, "steps": rows, "in": n_in, "kept": cur, "rejected": rejected}

    # -------------------------------------------------------- files in, files out

    def run_files(self, inputs: Iterable[Path], output_dir: Path, quiet: bool = False,
                  chunk_rows: int = 100_000) -> dict:
        """Filter Parquet/JSONL/TSV/TMX inputs (read with BilingualDataset) into `output_dir`:
        `kept-*.parquet`, `rejects/rejects-*.parquet`, `stats.json`; returns stats.

        Parquet in our pair shape is streamed `chunk_rows` at a time (one Arrow chunk in memory, its
        pass files deleted after), with global state carried across chunks, so memory stays flat
        as the input grows; other formats are converted to one Arrow file first."""
        import gc

        from bilingual.corpus.dataset import BilingualDataset, _arrow_native, _expand
        from bilingual.storage import write_json

        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        for old in list(output_dir.glob("kept-*.parquet")) + list((output_dir / "rejects").glob("rejects-*.parquet")):
            old.unlink()
        work = Path(tempfile.mkdtemp(prefix=".work-", dir=output_dir))
        if self.artifacts_dir is None:
            self.artifacts_dir = output_dir / "artifacts"
        ctx = StepContext(artifacts_dir=self.artifacts_dir)
        parts: list[dict] = []
        unreadable: list = []
        try:
            files = _expand(list(inputs))
            if _arrow_native(files, False) is not None:
                chunks = _parquet_chunks(files, chunk_rows)
            else:
                data = BilingualDataset.load(files, cache_dir=work / "load")
                unreadable = data.unreadable
                chunks = (data.dataset.select(range(i, min(len(data), i + chunk_rows)))
                          for i in range(0, max(len(data), 1), chunk_rows))
            for k, chunk in enumerate(chunks):
                cdir = work / f"chunk-{k}"
                cdir.mkdir()
                result = self.run(chunk, ctx=ctx, work_dir=cdir)
                write_kept_rejects(result, output_dir / f"kept-{k:05d}.parquet",
                                   output_dir / "rejects" / f"rejects-{k:05d}.parquet")
                parts.append(result.stats)
                del result, chunk
                gc.collect()
                shutil.rmtree(cdir, ignore_errors=True)
            stats = merge_stats(parts, self)
            stats.update(unreadable=unreadable, output_dir=str(output_dir), chunks=len(parts))
            write_json(output_dir / "stats.json", stats)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print_stats(stats)
        return stats


def _parquet_chunks(files, chunk_rows: int):
    """In-memory Datasets of `chunk_rows` pairs read straight from Parquet (pair columns only)."""
    import pyarrow.parquet as pq

    from bilingual.corpus.dataset import PAIR_COLUMNS

    schema = pa.schema([(c, pa.float64() if c == "score" else pa.string()) for c in PAIR_COLUMNS])
    buf, n = [], 0
    for f in files:
        # small streamed reads (no pre-buffering of whole row groups): reading stays a few MB
        pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 22)
        for batch in pf.iter_batches(batch_size=min(8192, chunk_rows), columns=list(PAIR_COLUMNS), use_threads=False):
            buf.append(pa.Table.from_batches([batch]).cast(schema))
            n += batch.num_rows
            if n >= chunk_rows:
                yield _chunk_dataset(pa.concat_tables(buf))
                buf, n = [], 0
    if buf or n == 0:
        yield _chunk_dataset(pa.concat_tables(buf) if buf else schema.empty_table())


def _chunk_dataset(table: pa.Table):
    """An in-memory Dataset with an explicit fingerprint: without one, datasets hashes (pickles)
    the whole table to make it, a transient copy of the chunk."""
    import uuid

    from datasets import Dataset
    from datasets.table import InMemoryTable

    return Dataset(InMemoryTable(table), fingerprint=f"chunk-{uuid.uuid4().hex}")


def write_kept_rejects(result: PipelineResult, kept_path: Path, rejects_path: Path) -> None:
    """One sequential pass over the scored rows, each batch split by the kept mask (no gathers)."""
    import pyarrow.parquet as pq

    from bilingual.storage import PARQUET_OPTS, atomic_path

    scored = result.scored
    temp = [c for c in scored.column_names if c.startswith("_") and c not in (DROP_STEP, DROP_REASON)]
    table = scored.data
    keep_cols = [c for c in table.column_names if c not in temp and c not in (DROP_STEP, DROP_REASON)]
    rej_cols = keep_cols + [DROP_STEP, DROP_REASON]
    rej_names = keep_cols + ["reject_step", "reject_reason"]
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(kept_path) as kt, atomic_path(rejects_path) as rt:
        kschema = table.select(keep_cols).schema
        rschema = pa.schema([f.with_name(n) for f, n in zip(table.select(rej_cols).schema, rej_names)])
        with pq.ParquetWriter(kt, kschema, **PARQUET_OPTS) as kw, pq.ParquetWriter(rt, rschema, **PARQUET_OPTS) as rw:
            offset = 0
            for batch in table.to_batches(max_chunksize=10_000):
                mask = pa.array(result.alive[offset:offset + batch.num_rows])
                offset += batch.num_rows
                b = pa.Table.from_batches([batch])
                kw.write_table(b.select(keep_cols).filter(mask))
                rw.write_table(b.select(rej_cols).filter(pc.invert(mask)).rename_columns(rej_names))


def merge_stats(parts: list[dict], pipeline: "Pipeline") -> dict:
    """Per-chunk stats summed into one funnel (same shape as a single run's)."""
    steps = []
    for i, step in enumerate(pipeline.steps):
        rows = [p["steps"][i] for p in parts]
        reasons, counts = Counter(), Counter()
        for r in rows:
            reasons.update(r["reasons"])
            counts.update(r.get("counts", {}))
        row = {"step": step.name, "type": step.spec.name, "in": sum(r["in"] for r in rows),
               "kept": sum(r["kept"] for r in rows), "dropped": sum(r["dropped"] for r in rows),
               "seconds": round(sum(r["seconds"] for r in rows), 4), "reasons": dict(reasons.most_common())}
        if counts:
            row["counts"] = dict(counts)
        steps.append(row)
    total_in = sum(p["in"] for p in parts)
    kept = sum(p["kept"] for p in parts)
    out = {"recipe": pipeline.recipe.name, "steps": steps, "in": total_in, "kept": kept, "rejected": total_in - kept}
    if any(r["in"] != r["kept"] + r["dropped"] for r in steps) or out["rejected"] != sum(p["rejected"] for p in parts):
        raise PipelineCheckError("merged stats do not add up")
    return out


def _alive(dataset) -> np.ndarray:
    if len(dataset) == 0:
        return np.zeros(0, dtype=bool)
    return pc.is_null(dataset.data.column(DROP_STEP)).to_numpy(zero_copy_only=False)


def print_stats(stats: dict, title: str = "filter funnel") -> None:
    rows = [{"step": r["step"], "in": r["in"], "kept": r["kept"], "dropped": r["dropped"],
             "seconds": r["seconds"], "top reasons": ", ".join(f"{k}={v}" for k, v in list(r["reasons"].items())[:3])
             + ("; " + ", ".join(f"{k}={v}" for k, v in r.get("counts", {}).items()) if r.get("counts") else "")}
            for r in stats["steps"]]
    console.detail(title, rows)
    console.detail("totals", {k: stats[k] for k in ("in", "kept", "rejected") if k in stats})


def write_shards(dataset, folder: Path, prefix: str, shard_rows: int = 100_000,
                 name: Callable[[int, int], str] | None = None) -> list[Path]:
    """Write a Dataset as zstd Parquet shards, batch by batch (flat memory), each atomically.

    File names follow the Hub convention `<prefix>-00000-of-00002.parquet` so `load_dataset`
    infers splits from them."""
    import pyarrow.parquet as pq

    from bilingual.storage import PARQUET_OPTS, atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{prefix}-*.parquet"):
        old.unlink()
    n = len(dataset)
    n_shards = max(1, -(-n // shard_rows))
    paths = []
    table_schema = dataset.data.schema
    for s in range(n_shards):
        path = folder / f"{prefix}-{s:05d}-of-{n_shards:05d}.parquet"
        part = dataset.select(range(s * shard_rows, min(n, (s + 1) * shard_rows))) if n else dataset
        with atomic_path(path) as tmp:
            with pq.ParquetWriter(tmp, table_schema, **PARQUET_OPTS) as writer:
                for batch in part.with_format("arrow").iter(batch_size=10_000):
                    # a gathered selection comes back in many tiny chunks: one chunk writes ~10x faster
                    batch = batch.combine_chunks()
                    writer.write_table(batch.cast(table_schema) if batch.schema != table_schema else batch)
                if len(part) == 0:
                    writer.write_table(table_schema.empty_table())
        paths.append(path)
    return paths
