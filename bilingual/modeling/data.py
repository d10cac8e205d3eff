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

import math
import random
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from bilingual.modeling.families import check_lang

REQUIRED_COLUMNS = ("bn", "en")
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


def load_splits(dataset_dir, splits: Sequence[str] = ("train", "validation"), streaming: bool = False):
    """The named splits of a processed dataset, each checked to exist, be non-empty and have bn/en."""
    from datasets import load_dataset

    root = resolve_dataset_dir(dataset_dir)
    _check_split_files(root, splits)
    try:
        dd = load_dataset(str(root), streaming=streaming)
    except Exception as err:  # datasets raises several types for an unreadable folder
        raise DataError(f"{root}: cannot be loaded as a dataset ({type(err).__name__}: {err})") from err
    out = {}
    for split in splits:
        if split not in dd:
            raise DataError(f"{root}: split {split!r} is missing (found: {', '.join(sorted(dd)) or 'none'})")
        ds = dd[split]
        cols = ds.column_names or list(next(iter(ds), {}).keys())
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise DataError(f"{root}: split {split!r} lacks column(s) {', '.join(missing)}")
        if streaming:
            if next(iter(ds), None) is None:
                raise DataError(f"{root}: split {split!r} is empty")
        elif len(ds) == 0:
            raise DataError(f"{root}: split {split!r} is empty")
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


def tokenize_split(ds, hf_model, directions, max_source_length=128, max_target_length=128, num_proc=None,
                   desc="tokenize"):
    """Map-style or streaming split → tokenized examples (original columns dropped)."""
    fn = encode_directions(hf_model, directions, max_source_length, max_target_length)
    cols = ds.column_names
    kwargs = dict(batched=True, remove_columns=cols)
    try:
        from datasets import IterableDataset

        if not isinstance(ds, IterableDataset):
            kwargs.update(num_proc=num_proc, desc=desc, load_from_cache_file=False, keep_in_memory=True)
    except ImportError:  # pragma: no cover
        pass
    return ds.map(fn, **kwargs)


class TokenBudgetBatchSampler:
    """Batches of indices of similar length whose padded size (longest × count) stays within
    `max_tokens` (and `max_sentences`). Examples are shuffled, sorted by length inside pools of
    `pool_batches` batches, cut into batches, and the batches shuffled; all from (seed, epoch), so the
    same epoch always gives the same batches (needed to resume a run with the same data order).
    Under several processes, Accelerate hands the batches out round-robin.
    """

    drop_last = False

    def __init__(self, lengths: Sequence[int], max_tokens: int, max_sentences: Optional[int] = None,
                 seed: int = 0, shuffle: bool = True, pool_batches: int = 100):
        if max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        self.lengths = [int(x) for x in lengths]
        self.max_tokens = max_tokens
        self.max_sentences = max_sentences
        self.seed = seed
        self.shuffle = shuffle
        self.pool_batches = pool_batches
        self.epoch = 0
        self.sampler = self  # so Accelerate's set_epoch forwarding reaches us when wrapped
        self._batches = self._make(0)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self._batches = self._make(epoch)

    def _make(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 100_003 + epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        mean = max(1.0, sum(self.lengths) / max(1, len(self.lengths)))
        per_batch = max(1, int(self.max_tokens // mean))
        if self.max_sentences:
            per_batch = min(per_batch, self.max_sentences)
        pool = max(1, per_batch * self.pool_batches)
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start:start + pool], key=lambda i: self.lengths[i])
            batch: list[int] = []
            longest = 0
            for i in chunk:
                n = self.lengths[i]
                new_longest = max(longest, n)
                if batch and (new_longest * (len(batch) + 1) > self.max_tokens
                              or (self.max_sentences and len(batch) >= self.max_sentences)):
                    batches.append(batch)
                    batch, new_longest = [], n
                batch.append(i)
                longest = new_longest
            if batch:
                batches.append(batch)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(list(self._batches))

    def __len__(self) -> int:
        return len(self._batches)


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
