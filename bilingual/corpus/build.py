"""`build_corpus`: raw snapshots → filter recipe (streamed in chunks) → splits → published Parquet + card + stats.

Output (loadable with `datasets.load_dataset(str(output_dir))`, no remote code):

    output_dir/data/{train,validation,test}-00000-of-0000N.parquet   kept pairs (zstd)
    output_dir/documents/{bn,en}/train-*.parquet                    monolingual documents, if any
    output_dir/rejects/rejects-*.parquet                            dropped rows: fields + step + reason + scores
    output_dir/artifacts/                                           fitted models: adequacy/ (scorer + report), charlm-{bn,en}.npz
    output_dir/stats.json                                           funnel + totals + splits
    output_dir/README.md                                            dataset card with YAML `configs:`

How it stays flat and safe:
- The filter stage is the filter executor (`Pipeline.run_files`) over the snapshot shards, `chunk_rows`
  pairs at a time, into a work folder (kept-*, rejects/, stats.json).
- Splits are decided once, after filtering, from three 64-bit hashes per kept row, on disk; only rows
  that share a side with another row are grouped in memory (`corpus.splits`).
- Everything is written into `.build-<name>-<fingerprint>/` beside the output folder; the finished
  folder replaces the old one by rename, so a killed build never touches the previous dataset.
- A rerun with the same inputs, recipe and settings resumes where the killed run stopped: inside the
  filter stage at the chunk (every chunk a filter stage finished is reused), then the split labels, then
  each output shard already written; work folders of other (stale) runs are removed, and a swap cut
  short is undone. stats["resumed"] says how much was reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bilingual import console
from bilingual.corpus.splits import SPLITS, assign_splits_files
from bilingual.layout import (DATA_DIR, DOCUMENTS_DIR, DOCUMENTS_GLOB, KEPT_GLOB, PAIRS_GLOB, REJECTS_DIR, REJECTS_GLOB,
                              REJECTS_SHARD, STATS_JSON)
from bilingual.storage import PARQUET_OPTS, CorruptShardError, atomic_path, run_lock, write_json
from bilingual.filters.pipeline import Pipeline, load_recipe, print_stats
from bilingual.filters.stages import named_file_digests, trace_memory

BUILD_FORMAT = 3  # bump when the work-folder layout changes: old work folders are then stale
DEFAULT_CHUNK_ROWS = 20_000  # ~70 MB of chunk state with the row-local steps (BENCHMARKS.md "Scale — build")
DEFAULT_SHARD_ROWS = 100_000


class BuildSettingsError(ValueError):
    """A build parameter out of range; the message names it and the allowed range."""


def check_shards(files) -> None:
    """Open every Parquet footer up front: a corrupt shard fails the build with its name."""
    for f in files:
        try:
            pq.ParquetFile(f).metadata
        except (pa.ArrowInvalid, OSError) as err:
            raise CorruptShardError(f"{f}: not a readable Parquet file ({err}); delete it and re-run its snapshot") from err


def _with_eval_sets(recipe, eval_sets) -> dict:
    """The recipe as a dict, with `eval_sets` added to its eval_overlap step (appended if absent)."""
    import yaml

    data = recipe if isinstance(recipe, dict) else yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return data  # load_recipe names the problem
    data = dict(data, steps=[dict(s) for s in data.get("steps", []) or [] if isinstance(s, dict)])
    if eval_sets:
        steps = [s for s in data["steps"] if s.get("step") == "eval_overlap"]
        if not steps:
            steps = [{"step": "eval_overlap"}]
            data["steps"].append(steps[0])
        for s in steps:
            s["eval_sets"] = list(s.get("eval_sets", [])) + [str(p) for p in eval_sets]
    return data


def check_settings(validation: float, test: float, chunk_rows: int, shard_rows: int) -> None:
    for name, value in (("validation", validation), ("test", test)):
        if not 0.0 <= value < 1.0:
            raise BuildSettingsError(f"--{name} {value}: a share of the pairs, in [0, 1)")
    if validation + test >= 1.0:
        raise BuildSettingsError(f"--validation {validation} + --test {test} leave nothing for train; keep the sum under 1")
    for name, value in (("chunk-rows", chunk_rows), ("shard-rows", shard_rows)):
        if not isinstance(value, int) or value < 1:
            raise BuildSettingsError(f"--{name} {value}: a positive number of rows")


def _fingerprint(pair_files, doc_files, recipe_data, validation, test, chunk_rows, shard_rows) -> str:
    """What decides the result: input files (path, size, mtime), the recipe with its eval sets and the contents
    of every file its steps name (stages.named_file_digests), settings."""
    def stat(p):
        p = Path(p)
        st = p.stat() if p.exists() else None
        return [str(p.resolve()), st.st_size if st else None, st.st_mtime_ns if st else None]

    blob = json.dumps({"format": BUILD_FORMAT, "pairs": [stat(p) for p in pair_files], "docs": [stat(p) for p in doc_files],
                       "recipe": recipe_data, "named_files": named_file_digests(recipe_data.get("steps", [])),
                       "validation": validation, "test": test, "chunk_rows": chunk_rows, "shard_rows": shard_rows},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_replaceable(output_dir: Path) -> None:
    """The finished build replaces the output folder whole: refuse a folder that holds anything but an
    earlier build (its stats.json), so pointing --output-dir at e.g. data/ can never delete data."""
    if output_dir.exists() and (not output_dir.is_dir() or (any(output_dir.iterdir())
                                                           and not (output_dir / STATS_JSON).is_file())):
        raise BuildSettingsError(f"{output_dir}: exists and is not a dataset written by `bilingual build` (no "
                                 "stats.json); give a new or empty folder, or remove it first")


def _snapshot_errors(files) -> list[str]:
    """Snapshots whose manifest records a failed input hold partial data: said on stderr and kept in
    stats.json (the build goes on with what they hold)."""
    import sys

    from bilingual.sources.corpora.readers import SnapshotError, check_snapshot

    errors = []
    for folder in sorted({Path(f).parent for f in files}):
        try:
            check_snapshot(folder)
        except SnapshotError as err:
            errors.append(str(err))
            print(f"bilingual build: warning: {err}", file=sys.stderr)
    return errors


def _recover_and_clean(output_dir: Path, keep: Path) -> list[str]:
    """Undo a swap cut short (old folder renamed away, new one not yet in place) and remove the work
    folders of killed runs. Returns what was removed, for the summary."""
    parent, name = output_dir.parent, output_dir.name
    removed = []
    for old in sorted(parent.glob(f".old-{name}-*")):
        if not output_dir.exists():
            os.rename(old, output_dir)  # the previous dataset comes back whole
        else:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    stale = [p for p in parent.glob(f".build-{name}-*") if p.is_dir() and p != keep]
    stale += [p for p in output_dir.glob(".build-*") if p.is_dir()] if output_dir.is_dir() else []  # older layout
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p.name)
    return removed


# ------------------------------------------------------------------------------------------------ stage 1: filter

def _source_counts(files) -> dict:
    """Pairs per source (and each source's licence) over Parquet files, read a column at a time."""
    n, lic = Counter(), {}
    for f in files:
        table = pq.read_table(f, columns=["source", "license"])
        for s, l in zip(table.column("source").to_pylist(), table.column("license").to_pylist()):
            n[s] += 1
            lic.setdefault(s, l)
    return {"n": dict(n), "license": lic}


class _FilterStage:
    """The snapshot pair shards → the filter executor (`Pipeline.run_files`, which streams them `chunk_rows`
    at a time and decides global steps over the whole input) → work/filter/{kept-*,rejects/*,stats.json}.

    The executor writes its folder atomically, so a finished filter stage is one that has stats.json;
    a killed one resumes at the chunk on the next run (the executor's work folder is kept beside it)."""

    def __init__(self, work: Path, pipeline: Pipeline, chunk_rows: int):
        self.dir = work / "filter"
        self.pipeline, self.chunk_rows = pipeline, chunk_rows

    def run(self, pair_files, quiet: bool) -> tuple[dict, bool]:
        resumed = (self.dir / STATS_JSON).exists()
        if not resumed:
            self.pipeline.run_files(pair_files, self.dir, quiet=True, chunk_rows=self.chunk_rows)
        stats = json.loads((self.dir / STATS_JSON).read_text(encoding="utf-8"))
        ran = stats.get("resumed") or {}  # the filter run's own count (a Ray run has none)
        passes = ran.get("chunk_passes", 0)
        stats["resumed"] = {"chunk_passes": passes, "reused": passes if resumed else ran.get("reused", 0)}
        return stats, resumed

    def kept_files(self) -> list[Path]:
        return sorted(self.dir.glob(KEPT_GLOB))

    def reject_files(self) -> list[Path]:
        return sorted((self.dir / REJECTS_DIR).glob(REJECTS_GLOB))


# ------------------------------------------------------------------------------------------------ stage 2-3: write

class _ShardedWriter:
    """Rows into `<prefix>-0000k-of-0000N.parquet` (N known up front), `shard_rows` per file, each atomic.

    Resumes: shards a killed run of the same build finished (they are complete, being atomic) are
    kept, and the rows they hold are skipped from the rows written again."""

    def __init__(self, folder: Path, prefix: str, total: int, shard_rows: int, schema: pa.Schema):
        self.folder, self.prefix, self.shard_rows, self.schema = folder, prefix, shard_rows, schema
        self.n_shards = max(1, -(-total // shard_rows))
        self.shard, self.rows, self._ctx, self._writer = 0, 0, None, None
        folder.mkdir(parents=True, exist_ok=True)
        self.skip = 0
        while self.shard < self.n_shards and self._path(self.shard).exists():
            self.skip += pq.read_metadata(self._path(self.shard)).num_rows
            self.shard += 1
        self.reused = self.shard

    def _path(self, shard: int) -> Path:
        return self.folder / f"{self.prefix}-{shard:05d}-of-{self.n_shards:05d}.parquet"

    def _open(self):
        path = self._path(self.shard)
        self._ctx = atomic_path(path)
        self._writer = pq.ParquetWriter(self._ctx.__enter__(), self.schema, **PARQUET_OPTS)

    def _close(self):
        self._writer.close()
        self._ctx.__exit__(None, None, None)
        self._writer = None
        self.shard += 1
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.skip:
            take = min(self.skip, table.num_rows)
            self.skip -= take
            table = table.slice(take)
        while table.num_rows:
            if self._writer is None:
                self._open()
            take = min(self.shard_rows - self.rows, table.num_rows)
            self._writer.write_table(table.slice(0, take).cast(self.schema))
            self.rows += take
            table = table.slice(take)
            if self.rows == self.shard_rows and self.shard + 1 < self.n_shards:
                self._close()

    def close(self) -> None:
        if self._writer is None and self.shard == 0:
            self._open()  # an empty split still gets its (empty) file
        if self._writer is not None:
            self._close()


def _batches(files, batch_rows: int = 10_000) -> Iterator[pa.Table]:
    for f in files:
        for b in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([b])


def _write_splits(kept_files, codes: np.ndarray, folder: Path, shard_rows: int, shards: Counter) -> dict:
    schema = pq.read_schema(kept_files[0])
    counts = {s: int((codes == i).sum()) for i, s in enumerate(SPLITS)}
    writers = {s: _ShardedWriter(folder, s, counts[s], shard_rows, schema) for s in SPLITS}
    offset = 0
    for table in _batches(kept_files):
        c = codes[offset:offset + table.num_rows]
        offset += table.num_rows
        for i, s in enumerate(SPLITS):
            part = table.filter(pa.array(c == i))
            if part.num_rows:
                writers[s].write(part)
    for w in writers.values():
        w.close()
        shards.update(shards=w.n_shards, reused=w.reused)
    if offset != len(codes):
        raise RuntimeError(f"split labels cover {len(codes)} rows but the kept files hold {offset}")
    return counts


def _write_all(files, folder: Path, prefix: str, total: int, shard_rows: int, schema: Optional[pa.Schema] = None,
               shards: Optional[Counter] = None) -> int:
    tables = _batches(files) if schema is None else files
    n = 0
    writer = None
    for table in tables:
        if writer is None:
            writer = _ShardedWriter(folder, prefix, total, shard_rows, schema or table.schema)
        writer.write(table)
        n += table.num_rows
    if writer is None and files and schema is None:
        writer = _ShardedWriter(folder, prefix, 0, shard_rows, pq.read_schema(files[0]))
    if writer is not None:
        writer.close()
        if shards is not None:
            shards.update(shards=writer.n_shards, reused=writer.reused)
    return n


def _write_documents(doc_files, folder: Path, shard_rows: int, shards: Counter) -> dict:
    import pyarrow.compute as pc

    from dataset_builder.bilingual import DOC_SCHEMA, document_tables

    out = {}
    for lang in ("bn", "en"):
        total = sum(pc.sum(pc.equal(pq.read_table(f, columns=["lang"]).column("lang"), lang)).as_py() or 0
                    for f in doc_files)
        if total:
            out[lang] = _write_all(document_tables(doc_files, lang), folder / lang, "train", total, shard_rows,
                                   schema=DOC_SCHEMA, shards=shards)
    return out


def _sources(pair_files, kept_files) -> list[dict]:
    """Per source: its licence, pairs in and pairs kept."""
    n_in, n_kept = _source_counts(pair_files), _source_counts(kept_files)
    return [{"source": s, "license": n_in["license"].get(s), "in": n, "kept": n_kept["n"].get(s, 0)}
            for s, n in sorted(n_in["n"].items())]


# ------------------------------------------------------------------------------------------------ the build

def build_corpus(snapshot_dirs: list[Path], recipe: Path | dict, output_dir: Path, num_proc: int = 1,
                 eval_sets: Optional[list[Path]] = None, validation: float = 0.02, test: float = 0.02,
                 quiet: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 shard_rows: int = DEFAULT_SHARD_ROWS, executor: Optional[str] = None,
                 ray_address: Optional[str] = None) -> dict:
    """Build the processed dataset from raw snapshot folders; return stats (also in stats.json).
    `executor`/`ray_address` override the recipe's (`local` or `ray`) for the filter stage."""
    from dataset_builder.bilingual import snapshot_files

    t_start = time.perf_counter()
    output_dir = Path(output_dir)
    snapshot_dirs = [Path(d) for d in snapshot_dirs]
    check_settings(validation, test, chunk_rows, shard_rows)
    for d in snapshot_dirs:
        if not d.exists():
            raise FileNotFoundError(f"{d}: snapshot folder does not exist")
    recipe_name = str(recipe) if not isinstance(recipe, dict) else recipe.get("name", "recipe")
    recipe_data = _with_eval_sets(recipe, eval_sets)
    load_recipe(recipe_data)  # validate everything before any work
    from bilingual.filters.recipe import check_overrides

    check_overrides(recipe_name, executor=executor, ray_address=ray_address)
    pair_files = snapshot_files(snapshot_dirs, PAIRS_GLOB)
    doc_files = snapshot_files(snapshot_dirs, DOCUMENTS_GLOB)
    if not pair_files:
        raise FileNotFoundError(f"no {PAIRS_GLOB} under {', '.join(map(str, snapshot_dirs))}; "
                                "give raw snapshot folders (bilingual build --snapshot DIR)")
    check_shards(pair_files + doc_files)
    snapshot_errors = _snapshot_errors(pair_files + doc_files)
    trace_memory("build: inputs checked")

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint(pair_files, doc_files, recipe_data, validation, test, chunk_rows, shard_rows)
    work = output_dir.parent / f".build-{output_dir.name}-{fp}"
    lock = output_dir.parent / f".{output_dir.name}.build.lock"
    with run_lock(lock, lambda: BuildSettingsError(
            f"{lock}: another build of this output folder is running; wait for it"), remove_after=True):
        cleaned = _recover_and_clean(output_dir, keep=work)
        _check_replaceable(output_dir)
        stage = work / "out"
        if not (work / "out.done").exists():
            stats = _build_into(stage, work, pair_files, doc_files, recipe_data, recipe_name, output_dir, num_proc,
                                validation, test, chunk_rows, shard_rows, eval_sets, quiet, executor, ray_address)
            stats["seconds"] = round(time.perf_counter() - t_start, 3)
            stats["snapshot_errors"] = snapshot_errors
            stats["cleaned"] = cleaned
            write_json(stage / STATS_JSON, stats)
            from bilingual.publishing.dataset_card import write_dataset_card

            write_dataset_card(stage, stats)
            (work / "out.done").write_text(fp + "\n")
        stats = json.loads((stage / STATS_JSON).read_text(encoding="utf-8"))
        # the swap: the old dataset stays whole until the new one is complete
        old = output_dir.parent / f".old-{output_dir.name}-{fp}"
        if output_dir.exists():
            os.rename(output_dir, old)
        os.rename(stage, output_dir)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    if not quiet:
        print_stats(stats, title=f"corpus funnel ({stats['recipe']})")
        console.summary("splits", dict(stats["splits"], rejected=stats["rejected"]))
    return stats


def _build_into(stage: Path, work: Path, pair_files, doc_files, recipe_data, recipe_name, output_dir, num_proc,
                validation, test, chunk_rows, shard_rows, eval_sets, quiet, executor=None, ray_address=None) -> dict:
    """Stages 1–3 into the staging folder; returns the stats (without the card)."""
    pipeline = Pipeline.from_recipe(recipe_data, num_proc=num_proc, artifacts_dir=stage / "artifacts",
                                    executor=executor, ray_address=ray_address)
    filt = _FilterStage(work, pipeline, chunk_rows)
    stats, resumed = filt.run(pair_files, quiet)
    for key in ("output_dir", "unreadable"):
        stats.pop(key, None)
    kept_files = filt.kept_files()
    trace_memory("build: filter stage done")

    codes_path = work / "splits.npy"
    if not codes_path.exists():
        codes = assign_splits_files(kept_files, validation, test, work_dir=work)
        with atomic_path(codes_path) as tmp, open(tmp, "wb") as f:
            np.save(f, codes)
    codes = np.load(codes_path)
    trace_memory("build: splits assigned")

    shards = Counter()  # written / reused (finished by a killed run of this build)
    splits = _write_splits(kept_files, codes, stage / DATA_DIR, shard_rows, shards)
    trace_memory("build: splits written")
    n_rej = _write_all(filt.reject_files(), stage / REJECTS_DIR, REJECTS_SHARD, stats["rejected"], shard_rows,
                       shards=shards)
    documents = _write_documents(doc_files, stage / DOCUMENTS_DIR, shard_rows, shards) if doc_files else {}
    trace_memory("build: rejects and documents written")
    stats["resumed"].update(shards=shards["shards"], shards_reused=shards["reused"])
    if not quiet and (stats["resumed"]["reused"] or shards["reused"]):
        r = stats["resumed"]
        console.summary("build: resumed", {"filter chunk passes reused": f"{r['reused']} of {r['chunk_passes']}",
                                           "output shards reused": f"{shards['reused']} of {shards['shards']}"})

    artifacts = stage / "artifacts"
    stats.update({
        "recipe_path": recipe_name, "splits": splits, "dataset_dir": str(output_dir), "documents": documents,
        "sources": _sources(pair_files, kept_files), "num_proc": num_proc, "chunk_rows": chunk_rows,
        "resumed_filter": resumed, "eval_sets": [str(p) for p in eval_sets or []],
        "artifacts": sorted(str(output_dir / "artifacts" / p.name) for p in artifacts.glob("*")) if artifacts.exists() else [],
    })
    if stats["in"] != stats["kept"] + stats["rejected"] or sum(splits.values()) != stats["kept"] or n_rej != stats["rejected"]:
        raise RuntimeError(f"accounting failed: {stats['in']} in, {stats['kept']} kept ({sum(splits.values())} in "
                           f"splits), {stats['rejected']} rejected ({n_rej} written)")
    return stats
