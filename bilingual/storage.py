"""Versioned on-disk layout and atomic Parquet writes.

    <root>/raw/<YYYY-MM-DD>/<source>/   immutable snapshot: documents-*.parquet / pairs-*.parquet,
                                        manifest.parquet (one LineageRecord per input),
                                        quarantine.parquet (rows that failed validation)
    <root>/processed/<version>/         zstd Parquet shards per split, stats.json, README.md

Every file is written under a temporary name in the same folder and renamed into place, so a
killed process never leaves a file that looks complete; readers ignore `*.tmp`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import typing
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from bilingual.schema import LineageRecord, _Record

PARQUET_OPTS = dict(compression="zstd", compression_level=3)
DEFAULT_SHARD_ROWS = 100_000
DEFAULT_SHARD_BYTES = 64 << 20  # values per shard: tens of MB of text, whatever the row size
DEFAULT_BUFFER_BYTES = 8 << 20  # values held in memory before a row group is written


class CorruptShardError(RuntimeError):
    pass


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def run_lock(path: Path, busy: Callable[[], Exception], remove_after: bool = False):
    """An exclusive lock on the file `path` for one run, so two runs never write the same folder; a second
    run fails at once with the error `busy()` makes (it says what to do), instead of waiting."""
    import fcntl

    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy() from None
        try:
            yield
        finally:
            if remove_after:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask is set-and-return)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default) + "\n")


def read_mapping(path, what: str, error: type[Exception] = ValueError, hint: Optional[str] = None) -> dict:
    """The mapping a config, recipe or report file holds (JSON for `.json`, else YAML; an empty YAML file is
    {}). Every problem is one `error` naming the file: missing (with `hint`: what makes it), unreadable, not
    UTF-8, not valid, or not a mapping of `what` at the top level."""
    import yaml

    path = Path(path)
    as_json = path.suffix == ".json"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except FileNotFoundError:
        raise error(f"{path} does not exist" + (f" ({hint})" if hint else "")) from None
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if data is None and not as_json:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of {what} (key: value) at the top level, got a {type(data).__name__}")
    return data


def _json_default(o):
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_table(path, table: pa.Table) -> Path:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTS)
    return Path(path)


def records_to_table(records: Sequence[_Record] | Sequence[dict], model: Optional[type[_Record]] = None) -> pa.Table:
    rows = [r.to_row() if isinstance(r, _Record) else r for r in records]
    schema = arrow_schema(model) if model is not None else None
    if schema is not None:
        rows = [{k: _arrow_value(row.get(k)) for k in schema.names} for row in rows]
    return pa.Table.from_pylist(rows, schema=schema)


def _arrow_value(v):
    if isinstance(v, dict):  # provenance: a JSON string, which every Arrow/datasets reader understands
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return v


def write_records(path, records, model: Optional[type[_Record]] = None) -> Path:
    return write_table(path, records_to_table(records, model))


def _arrow_type(annotation) -> pa.DataType:
    """Arrow type of a pydantic field annotation (Optional[...] unwrapped; Literal -> string)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return _arrow_type(args[0])
    return {int: pa.int64(), float: pa.float64(), datetime: pa.timestamp("us", tz="UTC")}.get(annotation, pa.string())


def arrow_schema(model: type[_Record]) -> pa.Schema:
    """Arrow schema of a record model, so empty files and all shards share one schema."""
    return pa.schema([pa.field(name, _arrow_type(info.annotation)) for name, info in model.model_fields.items()])


def read_table(path) -> pa.Table:
    """Read one Parquet file, naming the file when it is corrupt."""
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise CorruptShardError(f"{path}: not a readable Parquet file ({err}); delete it and rerun the stage") from err


class ShardWriter:
    """Stream rows into numbered zstd Parquet shards: `<prefix>-00000.parquet`, ...

    Memory is set by configuration, never by input size: rows are buffered up to `buffer_bytes`
    of values (then written as one row group into the open shard), and a shard is closed once it
    holds `shard_bytes` of values or `shard_rows` rows. Each shard is written under a temporary
    name and renamed when complete, so a killed writer never leaves a shard that looks whole.
    `single_file=True`: one file, `<prefix>.parquet`, never cut (memory is still bounded by the buffer)."""

    def __init__(self, folder, prefix: str, schema: pa.Schema, shard_rows: int = DEFAULT_SHARD_ROWS,
                 shard_bytes: int = DEFAULT_SHARD_BYTES, buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                 single_file: bool = False):
        if shard_rows < 1 or shard_bytes < 1 or buffer_bytes < 1:
            raise ValueError("ShardWriter: shard_rows, shard_bytes and buffer_bytes must be positive")
        self.folder = Path(folder)
        self.prefix = prefix
        self.schema = schema
        self.shard_rows = shard_rows
        self.shard_bytes = shard_bytes
        self.buffer_bytes = min(buffer_bytes, shard_bytes)
        self.single_file = single_file
        self._buffer: list[dict] = []
        self._buffer_size = 0
        self._shard_rows = 0  # rows in the open shard (written and buffered)
        self._shard_size = 0
        self._writer: Optional[pq.ParquetWriter] = None
        self._tmp: Optional[Path] = None
        self.paths: list[Path] = []
        self.rows = 0

    def write(self, row: dict) -> None:
        size = _row_bytes(row)
        self._buffer.append(row)
        self._buffer_size += size
        self._shard_rows += 1
        self._shard_size += size
        if not self.single_file and (self._shard_rows >= self.shard_rows or self._shard_size >= self.shard_bytes):
            self.flush()
        elif self._buffer_size >= self.buffer_bytes:
            self._write_row_group()

    def write_many(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.write(row)

    def _write_row_group(self) -> None:
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.prefix}-{len(self.paths):05d}.", suffix=".tmp", dir=self.folder)
            os.close(fd)
            self._tmp = Path(tmp)
            self._writer = pq.ParquetWriter(tmp, self.schema, **PARQUET_OPTS)
        table = pa.Table.from_pylist([{k: _arrow_value(r.get(k)) for k in self.schema.names} for r in self._buffer],
                                     schema=self.schema)
        self._writer.write_table(table)
        self.rows += len(self._buffer)
        self._buffer, self._buffer_size = [], 0

    def flush(self) -> None:
        """Close the open shard (an empty one only when nothing was written at all)."""
        if not self._buffer and self._writer is None and self.paths:
            return
        self._write_row_group()
        self._writer.close()
        name = self.prefix if self.single_file else f"{self.prefix}-{len(self.paths):05d}"
        path = self.folder / f"{name}.parquet"
        os.chmod(self._tmp, 0o666 & ~current_umask())  # like atomic_path: mkstemp made it 0600
        os.replace(self._tmp, path)
        self.paths.append(path)
        self._writer, self._tmp = None, None
        self._shard_rows = self._shard_size = 0

    def abort(self) -> None:
        """Drop the open shard's temporary file (closed shards stay)."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
        self._writer, self._tmp, self._buffer = None, None, []

    def close(self) -> list[Path]:
        if self._buffer or self._writer is not None or not self.paths:
            self.flush()
        return self.paths

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _row_bytes(row: dict) -> int:
    """Approximate size of a row's values (UTF-8 bytes of strings, 8 per other value)."""
    n = 0
    for v in row.values():
        n += len(v.encode("utf-8", "surrogatepass")) if isinstance(v, str) else 8
    return n


def snapshot_dir(root, source: str, day: Optional[date | str] = None) -> Path:
    """`<root>/raw/<YYYY-MM-DD>/<source>/` for today (UTC) unless a date is given."""
    if day is None:
        day = datetime.now(timezone.utc).date()
    day = day if isinstance(day, str) else day.isoformat()
    date.fromisoformat(day)  # validate
    return Path(root) / "raw" / day / source


def processed_dir(root, version: str) -> Path:
    return Path(root) / "processed" / version


def write_manifest(folder, records: Sequence[LineageRecord]) -> Path:
    return write_records(Path(folder) / "manifest.parquet", records, LineageRecord)


def read_manifest(folder) -> list[LineageRecord]:
    path = Path(folder) / "manifest.parquet"
    if not path.exists():
        return []
    return [LineageRecord.model_validate(row) for row in read_table(path).to_pylist()]


QUARANTINE_SCHEMA = pa.schema([("record", pa.string()), ("error", pa.string()), ("time", pa.timestamp("us", tz="UTC"))])


def write_quarantine(folder, rows: Sequence[dict], name: str = "quarantine.parquet") -> Optional[Path]:
    """Rows that failed validation, with the error. Nothing is written when there are none."""
    if not rows:
        return None
    return write_table(Path(folder) / name, pa.Table.from_pylist(list(rows), schema=QUARANTINE_SCHEMA))


def parquet_files(folder, pattern: str = "*.parquet") -> list[Path]:
    """Complete Parquet files in a folder, sorted; temporary files are never returned."""
    return sorted(p for p in Path(folder).glob(pattern) if not p.name.startswith("."))


def iter_rows(paths: Iterable[Path], columns: Optional[list[str]] = None, batch_size: int = 10_000) -> Iterator[dict]:
    """Stream rows from Parquet files batch by batch (flat memory)."""
    for path in paths:
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise CorruptShardError(f"{path}: not a readable Parquet file ({err})") from err
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            yield from batch.to_pylist()


def write_shards(dataset, folder: Path, prefix: str, shard_rows: int = 100_000,
                 name: Callable[[int, int], str] | None = None) -> list[Path]:
    """Write a Dataset as zstd Parquet shards, batch by batch (flat memory), each atomically.

    File names follow the Hub convention `<prefix>-00000-of-00002.parquet` so `load_dataset`
    infers splits from them."""
    import pyarrow.parquet as pq

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
