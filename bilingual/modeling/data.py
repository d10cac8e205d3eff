"""Training data: processed Parquet splits → tokenized examples for one or both directions, and the
batching that makes CPU/GPU time go into real tokens rather than padding.

- `load_splits` reads `DIR/dataset/` (or `DIR`) with `datasets.load_dataset` (map-style or streaming).
- `encode_directions` turns each (bn, en) row into one example per direction; the target language
  is chosen the way `families` says for the model family.
- `TokenBudgetBatchSampler` (map-style): batches of similar-length examples capped by a token budget
  (padded size), in an order fixed by (seed, epoch) so a resumed run sees the same batches.
- `length_grouped_stream` (streaming): the same idea over a shuffle buffer of an IterableDataset.
- `PadCollator`: dynamic padding to the longest example of the batch; label padding is -100.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from bilingual.modeling.families import check_lang

REQUIRED_COLUMNS = ("bn", "en")
PARQUET_RECORD_BATCH_ROWS = 100_000  # rows per record batch when `load_dataset` converts our Parquet splits
SPLITS = ("train", "validation", "test")


class DataError(ValueError):
    """Bad or missing training data; the message names the place."""


def resolve_dataset_dir(dataset_dir) -> Path:
    root = Path(dataset_dir)
    if not root.exists():
        raise DataError(f"dataset directory {root} does not exist")
    if (root / "dataset").is_dir():
        root = root / "dataset"
    return root


def _is_hub_id(name: str) -> bool:
    return not Path(name).exists() and not name.startswith((".", "/", "~")) and name.count("/") <= 1 \
        and not name.endswith(("/", ".parquet", ".json", ".jsonl"))


def flatten_translation(ds):
    """`translation: {bn, en}` (run_translation.py / OPUS shape) → `bn`/`en` columns; others unchanged."""
    cols = ds.column_names or list(next(iter(ds), {}).keys())
    if "translation" not in cols or ("bn" in cols and "en" in cols):
        return ds

    def fn(batch):
        return {"bn": [t.get("bn") for t in batch["translation"]], "en": [t.get("en") for t in batch["translation"]]}

    return ds.map(fn, batched=True, remove_columns=["translation"])


def load_splits(dataset_name, splits: Sequence[str] = ("train", "validation"), streaming: bool = False,
                config_name: Optional[str] = None):
    """The named splits of a dataset, each checked to exist, be non-empty and have bn/en (or `translation`).

    `dataset_name`: our processed dataset (`DIR/dataset/` or `DIR`), any folder `load_dataset` reads, or a
    Hub dataset id (`load_dataset(id, config_name)`; the local cache is used offline)."""
    from datasets import load_dataset

    name = str(dataset_name)
    if _is_hub_id(name):
        where = name
        try:
            dd = load_dataset(name, config_name, streaming=streaming)
        except Exception as err:  # datasets raises several types for an unknown or unreachable id
            raise DataError(f"{name}: not a dataset folder, and not a Hub dataset that can be loaded "
                            f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from err
    else:
        root = resolve_dataset_dir(name)
        where = str(root)
        _check_split_files(root, splits)
        # Parquet shards are converted a row group at a time; written as one record batch each (not 1,000
        # rows), opening the mapped Arrow file touches a few headers instead of one 64 KB page run per
        # 1,000 rows (see RECORD_BATCH_BYTES)
        big_batches = {} if streaming or not any(split_files(root, s) for s in splits) else \
            {"writer_batch_size": PARQUET_RECORD_BATCH_ROWS}
        try:
            dd = load_dataset(str(root), config_name, streaming=streaming, **big_batches)
        except Exception as err:  # datasets raises several types for an unreadable folder
            raise DataError(f"{root}: cannot be loaded as a dataset ({type(err).__name__}: {err})") from err
    out = {}
    for split in splits:
        if split not in dd:
            raise DataError(f"{where}: split {split!r} is missing (found: {', '.join(sorted(dd)) or 'none'})")
        ds = flatten_translation(dd[split])
        cols = ds.column_names or list(next(iter(ds), {}).keys())
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise DataError(f"{where}: split {split!r} lacks column(s) {', '.join(missing)} "
                            "(expected bn/en columns or translation: {bn, en})")
        if streaming:
            if next(iter(ds), None) is None:
                raise DataError(f"{where}: split {split!r} is empty")
        elif len(ds) == 0:
            raise DataError(f"{where}: split {split!r} is empty")
        out[split] = ds
    return out


def split_files(root: Path, split: str) -> list[Path]:
    """Parquet shards of one split: `<split>-*.parquet` / `<split>.parquet` or a `<split>/` folder."""
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith(".")
                  and (p.name.split("-")[0].split(".")[0] == split or p.parent.name == split))


def _check_split_files(root: Path, splits: Sequence[str]) -> None:
    """Name an absent or empty split before `load_dataset` fails on it less clearly (metadata only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split in splits:
        files = split_files(root, split)
        if not files:
            continue  # other layouts: left to load_dataset, checked after loading
        rows = 0
        for f in files:
            try:
                rows += pq.ParquetFile(f).metadata.num_rows
            except (pa.ArrowInvalid, OSError) as err:
                raise DataError(f"{f}: split {split!r} has an unreadable Parquet file ({err})") from err
        if rows == 0:
            raise DataError(f"{root}: split {split!r} is empty ({len(files)} file(s), 0 rows)")


def parse_direction(d: str) -> tuple[str, str]:
    try:
        src, tgt = d.split("-")
        check_lang(src), check_lang(tgt)
    except ValueError as err:
        raise ValueError(f"bad direction {d!r}: expected 'bn-en' or 'en-bn'") from err
    if src == tgt:
        raise ValueError(f"bad direction {d!r}: source and target are the same language")
    return src, tgt


def encode_directions(hf_model, directions: Sequence[str], max_source_length: int, max_target_length: int):
    """A batched `map` function: every input row becomes one tokenized example per direction."""
    pairs = [parse_direction(d) for d in directions]

    def fn(batch: dict) -> dict:
        out = {"input_ids": [], "attention_mask": [], "labels": [], "length": [], "direction": []}
        keep = [i for i, (b, e) in enumerate(zip(batch["bn"], batch["en"])) if b and e]
        if not keep:  # the tokenizer fails on an empty list
            return out
        for src, tgt in pairs:
            srcs = [batch[src][i] for i in keep]
            tgts = [batch[tgt][i] for i in keep]
            enc = hf_model.encode_pair(srcs, tgts, src, tgt, max_source_length, max_target_length)
            out["input_ids"] += enc["input_ids"]
            out["attention_mask"] += enc["attention_mask"]
            out["labels"] += enc["labels"]
            out["length"] += [max(len(a), len(b)) for a, b in zip(enc["input_ids"], enc["labels"])]
            out["direction"] += [f"{src}-{tgt}"] * len(keep)
        return out

    return fn


def _tokenized_key(ds, hf_model, directions, max_source_length, max_target_length) -> str:
    """What the tokenized data depends on: the input data, the tokenizer, the family and the options."""
    import hashlib

    tok = hf_model.tokenizer
    h = hashlib.sha256()
    h.update(str(getattr(ds, "_fingerprint", None) or ds.info.download_checksums or "").encode())
    h.update(json.dumps([type(tok).__name__, hf_model.family.name, list(directions), max_source_length,
                         max_target_length, len(tok), tok.get_vocab() if len(tok) < 500_000 else None],
                        sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def tokenize_split(ds, hf_model, directions, max_source_length=128, max_target_length=128, num_proc=None,
                   desc="tokenize", cache_dir=None, cache_only: bool = False):
    """Map-style or streaming split → tokenized examples (original columns dropped).

    Map-style with `cache_dir`: written once to `cache_dir/tokenized-<key>.arrow` (key: data fingerprint,
    tokenizer, family, options) and memory-mapped from there; run it under `main_process_first()` so the
    other processes of a distributed run read the main process's file instead of tokenizing again.
    The pass reads and writes in bounded batches (`write_tokenized`), so its memory does not grow with the
    split; with `num_proc` > 1 it is `Dataset.map`'s (cache: one file per worker). With `cache_only`, a missing
    cache file (one worker: the file; several: left to `Dataset.map`) is an error instead of being written: the
    training process reads what its preparing process (`bilingual.modeling.prepare`) wrote."""
    from datasets import Dataset, IterableDataset

    fn = encode_directions(hf_model, directions, max_source_length, max_target_length)
    kwargs = dict(batched=True, remove_columns=ds.column_names)
    if isinstance(ds, IterableDataset):
        return ds.map(fn, **kwargs)
    kwargs.update(num_proc=num_proc, desc=desc)
    if cache_dir is None:
        return ds.map(fn, load_from_cache_file=False, keep_in_memory=True, **kwargs)
    key = _tokenized_key(ds, hf_model, directions, max_source_length, max_target_length)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    path = Path(cache_dir) / f"tokenized-{key}.arrow"
    if num_proc and num_proc > 1:
        return ds.map(fn, load_from_cache_file=True, cache_file_name=str(path), new_fingerprint=key, **kwargs)
    if not path.exists():
        if cache_only:
            raise RuntimeError(f"{path}: the tokenized cache was not written by the preparing process (did it "
                               "load a different tokenizer?)")
        write_tokenized(ds, fn, path, desc=desc)
    out = Dataset.from_file(str(path))
    out._fingerprint = key  # as `map(new_fingerprint=key)` set it: the same data gets the same fingerprint
    return out


BATCH_ROWS = 1000  # input rows per tokenization batch
# Bytes per record batch of the written cache. Opening a memory-mapped Arrow file reads every record batch's
# header, and each such page fault maps up to 64 KB around it into the process's RSS: at 1,000 rows a batch
# that was ~64 KB per 1,000 examples (58 MB at 928k examples), growing with the data.
RECORD_BATCH_BYTES = 4 << 20


def _tokenized_features():
    """The tokenized cache's columns, typed as `Dataset.map` infers them (ids int32, mask int8); fixed here so
    that a split with no usable pair still writes a readable, empty file."""
    from datasets import Features, List, Value

    return Features({"input_ids": List(Value("int32")), "attention_mask": List(Value("int8")),
                     "labels": List(Value("int64")), "length": Value("int64"), "direction": Value("string")})


def write_tokenized(ds, fn, path: Path, desc: str = "tokenize", batch_rows: int = BATCH_ROWS,
                    record_batch_bytes: int = RECORD_BATCH_BYTES) -> Path:
    """Tokenize a map-style split into the Arrow file `path` (atomic: a temporary name, then rename), one
    bounded batch at a time: input batches are read as a stream (`input_batches`), and their tokenized Arrow
    tables are written as one record batch per `record_batch_bytes`, so neither the input nor the output is
    held or mapped in memory during the pass."""
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter
    from datasets.utils.tqdm import tqdm

    features = _tokenized_features()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pending: list = []

    def flush(writer):
        if pending:
            table = pa.concat_tables(pending)
            writer.write_table(table, writer_batch_size=max(1, table.num_rows))
            pending.clear()

    try:
        with ArrowWriter(features=features, path=str(tmp)) as writer:
            with tqdm(total=len(ds), desc=desc, unit=" examples") as bar:
                for batch in input_batches(ds, batch_rows):
                    pending.append(pa.Table.from_pydict(fn(batch), schema=features.arrow_schema))
                    if sum(t.nbytes for t in pending) >= record_batch_bytes:
                        flush(writer)
                    bar.update(len(batch["bn"]))
            flush(writer)
            writer.finalize()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _backing_files(ds) -> Optional[list[str]]:
    """The Arrow files whose rows, in order, are exactly `ds` (None when `ds` is in memory, a selection, a
    slice, or has columns dropped or added after loading: any change but schema metadata)."""
    from datasets.table import ConcatenationTable, MemoryMappedTable

    if getattr(ds, "_indices", None) is not None:
        return None
    table = ds.data
    rows = table.blocks if isinstance(table, ConcatenationTable) else [[table]]
    if not rows or any(len(row) != 1 for row in rows):
        return None
    blocks = [row[0] for row in rows]
    if not all(isinstance(b, MemoryMappedTable) and all(op == "replace_schema_metadata" for op, *_ in b.replays)
               for b in blocks):
        return None
    return [b.path for b in blocks]


def input_batches(ds, batch_rows: int = BATCH_ROWS) -> Iterator[dict]:
    """`{bn: [...], en: [...]}` batches of a map-style split, in order. When the split is its Arrow files as
    written (what `load_dataset` gives), they are read as a stream of record batches through ordinary file
    reads: memory-mapping them instead would leave every page the pass touched counted in the process's
    RSS until the end (issue 12: RSS grew with the data). Otherwise `Dataset.iter`."""
    import pyarrow as pa

    files = _backing_files(ds)
    if files is None:
        for batch in ds.iter(batch_size=batch_rows):
            yield {"bn": batch["bn"], "en": batch["en"]}
        return
    seen = 0
    for name in files:
        with pa.OSFile(name) as fh:
            for record_batch in pa.ipc.open_stream(fh):
                for start in range(0, record_batch.num_rows, batch_rows):
                    part = record_batch.slice(start, batch_rows)
                    seen += part.num_rows
                    yield {"bn": part.column("bn").to_pylist(), "en": part.column("en").to_pylist()}
    if seen != len(ds):
        raise DataError(f"{', '.join(files)}: read {seen} rows, the split has {len(ds)}")


# Growth of file-backed RSS allowed before the training cache's pages are released (`PageBoundedDataset`);
# BILINGUAL_MAPPED_PAGES_MB=0 turns the release off (each release makes the next rows' reads fault their pages in
# again: ~5 ms per batch of 64 at 32 MB, measured at 100x the samples, see BENCHMARKS.md).
MAPPED_PAGES_BUDGET = int(os.environ.get("BILINGUAL_MAPPED_PAGES_MB", "32")) << 20


def release_file_pages(paths) -> int:
    """Drop this process's resident pages of its read-only mappings of the files `paths`
    (`madvise(MADV_DONTNEED)`; Linux), returning the bytes of the ranges advised (0 elsewhere).

    Why: training reads the whole memory-mapped tokenized cache once per epoch, in random order, and every page
    it touched stayed in the process's RSS, so RSS grew with the data (issue 12). The pages stay in the page
    cache, shared and clean: a later read of them is a minor fault, not I/O. Only mappings that are read-only
    and named by path are advised; the call holds the GIL (`ctypes.PyDLL`), so no Python code can unmap the
    range between reading /proc/self/maps and advising it."""
    import ctypes
    import mmap

    wanted = {os.path.realpath(p) for p in paths}
    try:
        with open("/proc/self/maps") as fh:
            lines = fh.read().splitlines()
        madvise = ctypes.PyDLL(None).madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    total = 0
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or parts[5] not in wanted or "w" in parts[1]:
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        if madvise(start, end - start, mmap.MADV_DONTNEED) == 0:
            total += end - start
    return total


def file_backed_rss() -> Optional[int]:
    """This process's resident file-backed pages (RssFile of /proc/self/status) in bytes; None where absent."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssFile:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class PageBoundedDataset:
    """A memory-mapped map-style dataset for a DataLoader whose resident file pages stay bounded: after a
    batch, if the process's file-backed RSS grew by more than `budget` since the last release, the cache's
    pages are released (`release_file_pages`). Measured, not estimated: how much one row's read maps depends
    on the kernel's fault-around (on the 6.18 kernel here ~128 KB per column touched, 1-2 MB per row read
    through `datasets`, for ~220 bytes of data), so one batch of 64 can add ~85 MB before the check. Only the
    token-budget path (a batch sampler) is wrapped. Rows are read exactly as from the wrapped dataset."""

    def __init__(self, ds, budget: int = MAPPED_PAGES_BUDGET):
        self.ds = ds
        self.budget = budget
        self.files = [f["filename"] for f in ds.cache_files]
        self.releases = 0
        self._release()   # what was read before training (e.g. the lengths for the sampler)

    def _release(self) -> None:
        release_file_pages(self.files)
        self.releases += 1
        self._base = file_backed_rss()

    def _after_read(self) -> None:
        now = file_backed_rss()
        if now is not None and self._base is not None and now - self._base > self.budget:
            self._release()

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index):
        row = self.ds[index]
        self._after_read()
        return row

    def __getitems__(self, indices):
        rows = self.ds.__getitems__(indices)
        self._after_read()
        return rows


def split_by_node(ds, rank: int, world_size: int):
    """This process's part of a streaming split (whole shards when they divide evenly, else every
    world_size-th example): the parts are disjoint and together cover the split."""
    if world_size <= 1:
        return ds
    from datasets.distributed import split_dataset_by_node

    return split_dataset_by_node(ds, rank=rank, world_size=world_size)


class LengthGroupedIterable:
    """A (shuffled, tokenized) streaming split reordered so that consecutive batches have similar lengths;
    `set_epoch` reshuffles reproducibly."""

    def __init__(self, ds, batch_size: int, seed: int, group: bool):
        self.ds, self.batch_size, self.seed, self.group, self.epoch = ds, batch_size, seed, group, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch
        if hasattr(self.ds, "set_epoch"):
            self.ds.set_epoch(epoch)

    def __iter__(self):
        it = iter(self.ds)
        if self.group:
            it = length_grouped_stream(it, self.batch_size, seed=self.seed + self.epoch)
        return it


def as_torch_iterable(obj):
    import torch

    class _It(torch.utils.data.IterableDataset):
        def __init__(self, inner):
            self.inner = inner

        def set_epoch(self, epoch):
            self.inner.set_epoch(epoch)

        def __iter__(self):
            return iter(self.inner)

    return _It(obj)


def materialize(ds):
    from datasets import Dataset

    return Dataset.from_list(list(ds))


def example_lengths(ds):
    """The `length` column of a tokenized map-style split as one numpy array, read from the Arrow column
    (memory-mapped cache) rather than as a Python list of ints (which grows by ~36 bytes per example).
    Straight from the Arrow column (and the selection's indices, if any): `datasets`' numpy formatting of the
    column took 30 CPU seconds for 928k examples (issue 12 benchmark), this takes milliseconds."""
    import numpy as np

    column = ds.data.column("length")
    if getattr(ds, "_indices", None) is not None:
        column = column.take(ds._indices.column(0))
    return np.asarray(column.to_numpy(), dtype=np.int32)


class TokenBudgetBatchSampler:
    """Batches of indices of similar length whose padded size (longest × count) stays within
    `max_tokens` (and `max_sentences`). Examples are shuffled, sorted by length inside pools of
    `pool_batches` batches, cut into batches, and the batches shuffled; all from (seed, epoch), so the
    same epoch always gives the same batches (needed to resume a run with the same data order).
    Under several processes, Accelerate hands the batches out round-robin.

    Memory is a few bytes per example: lengths, the batched order and the batch bounds are numpy arrays
    (Python lists of per-example ints made RSS grow with the data, issue 12); batches become lists only
    as they are handed out.
    """

    drop_last = False

    def __init__(self, lengths: Sequence[int], max_tokens: int, max_sentences: Optional[int] = None,
                 seed: int = 0, shuffle: bool = True, pool_batches: int = 100):
        import numpy as np

        if max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        self.lengths = np.asarray(lengths, dtype=np.int32)
        self.max_tokens = max_tokens
        self.max_sentences = max_sentences
        self.seed = seed
        self.shuffle = shuffle
        self.pool_batches = pool_batches
        self.epoch = 0
        self.sampler = self  # so Accelerate's set_epoch forwarding reaches us when wrapped
        self._order, self._bounds, self._batch_order = self._make(0)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self._order, self._bounds, self._batch_order = self._make(epoch)

    def _make(self, epoch: int):
        """(example order, batch start offsets into it + end, order in which batches are handed out)."""
        import numpy as np

        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.lengths)
        index_type = np.int32 if n < 2**31 else np.int64
        order = rng.permutation(n).astype(index_type) if self.shuffle else np.arange(n, dtype=index_type)
        mean = max(1.0, float(self.lengths.mean())) if n else 1.0
        per_batch = max(1, int(self.max_tokens // mean))
        if self.max_sentences:
            per_batch = min(per_batch, self.max_sentences)
        pool = max(1, per_batch * self.pool_batches)
        starts: list[int] = []
        for start in range(0, n, pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            order[start:start + pool] = chunk
            size = 0
            for k, length in enumerate(self.lengths[chunk].tolist()):  # ascending: the newest is the longest
                if size and (length * (size + 1) > self.max_tokens
                             or (self.max_sentences and size >= self.max_sentences)):
                    size = 0
                if size == 0:
                    starts.append(start + k)
                size += 1
        bounds = np.asarray(starts + [n], dtype=np.int64)
        n_batches = len(starts)
        batch_order = rng.permutation(n_batches) if self.shuffle else np.arange(n_batches)
        return order, bounds, batch_order.astype(np.int64)

    def __iter__(self) -> Iterator[list[int]]:
        order, bounds = self._order, self._bounds
        for b in self._batch_order.tolist():
            yield order[bounds[b]:bounds[b + 1]].tolist()

    def __len__(self) -> int:
        return len(self._batch_order)


def length_grouped_stream(examples: Iterable[dict], batch_size: int, pool_batches: int = 50,
                          seed: int = 0) -> Iterator[dict]:
    """Reorder a stream so that each run of `batch_size` consecutive examples has similar lengths:
    buffer `batch_size × pool_batches` examples, sort by length, cut, shuffle the batches."""
    rng = random.Random(seed)
    pool = max(batch_size, batch_size * pool_batches)
    buf: list[dict] = []

    def flush():
        buf.sort(key=lambda ex: ex["length"])
        groups = [buf[i:i + batch_size] for i in range(0, len(buf), batch_size)]
        rng.shuffle(groups)
        for g in groups:
            yield from g

    for ex in examples:
        buf.append(ex)
        if len(buf) >= pool:
            yield from flush()
            buf = []
    if buf:
        yield from flush()


class PadCollator:
    """Pad to the longest example of the batch (optionally to a multiple of 8 for tensor cores);
    labels are padded with -100 so the loss ignores them. Much cheaper than `tokenizer.pad`.
    With `decoder_start_token_id`, it also builds `decoder_input_ids` (labels shifted right): the
    Trainer's label smoother takes the labels away before the forward pass, so the model cannot."""

    def __init__(self, pad_token_id: int, label_pad_token_id: int = -100, pad_to_multiple_of: Optional[int] = None,
                 max_length: Optional[int] = None, decoder_start_token_id: Optional[int] = None):
        self.pad_token_id = pad_token_id
        self.decoder_start_token_id = decoder_start_token_id
        self.label_pad_token_id = label_pad_token_id
        self.multiple = pad_to_multiple_of
        self.max_length = max_length

    def _width(self, seqs) -> int:
        n = max(len(s) for s in seqs)
        if self.max_length:
            n = max(n, self.max_length)
        if self.multiple:
            n = int(math.ceil(n / self.multiple) * self.multiple)
        return n

    def __call__(self, features: list[dict]) -> dict:
        import torch

        ids = [f["input_ids"] for f in features]
        labels = [f["labels"] for f in features]
        w, lw = self._width(ids), self._width(labels)
        input_ids = torch.full((len(ids), w), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), w), dtype=torch.long)
        lab = torch.full((len(ids), lw), self.label_pad_token_id, dtype=torch.long)
        for k, (s, t) in enumerate(zip(ids, labels)):
            input_ids[k, :len(s)] = torch.as_tensor(s, dtype=torch.long)
            mask[k, :len(s)] = 1
            lab[k, :len(t)] = torch.as_tensor(t, dtype=torch.long)
        batch = {"input_ids": input_ids, "attention_mask": mask, "labels": lab}
        if self.decoder_start_token_id is not None:
            dec = torch.full_like(lab, self.pad_token_id)
            dec[:, 0] = self.decoder_start_token_id
            dec[:, 1:] = lab[:, :-1].masked_fill(lab[:, :-1] == self.label_pad_token_id, self.pad_token_id)
            batch["decoder_input_ids"] = dec
        return batch


def count_tokens(batch: dict):
    """Real (non-padding) source + target tokens of a collated batch, as a tensor (no host sync)."""
    n = batch["attention_mask"].sum()
    if "labels" in batch:
        n = n + (batch["labels"] != -100).sum()
    return n


def write_splits(dataset_dir, splits: dict) -> Path:
    """Write {split: rows with bn/en/...} as `dataset_dir/dataset/<split>-00000-of-00001.parquet`, the
    layout `load_splits` reads (used by tests, benchmarks and quick experiments on small TSVs)."""
    import pyarrow as pa

    from bilingual.storage import write_table

    root = Path(dataset_dir) / "dataset"
    root.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        write_table(root / f"{split}-00000-of-00001.parquet", pa.Table.from_pylist(list(rows)))
    return root


def read_tsv_pairs(path, limit: Optional[int] = None) -> list[dict]:
    """(en, bn) rows of a Tatoeba-style TSV as {id, bn, en} dicts, first `limit` unique pairs."""
    from bilingual.schema import pair_id

    rows, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                continue
            en, bn = parts[0].strip(), parts[1].strip()
            key = pair_id(bn, en)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"id": key, "bn": bn, "en": en})
            if limit and len(rows) >= limit:
                break
    return rows
