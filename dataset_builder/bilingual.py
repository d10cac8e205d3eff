"""`datasets` builder named `bilingual`: raw snapshots → Arrow datasets. Assembly only.

Configs:
  pairs          SentencePair rows from every `pairs-*.parquet` under the snapshot folders, as one
                 `train` split. Splitting happens once, after filtering, on the final text
                 (`bilingual.corpus.splits`), so it is not done here.
  documents_bn   Document rows (lang bn) from `documents-*.parquet`; one train split.
  documents_en   the same for English.

Rows are read as Arrow tables batch by batch (`pair_tables`, `document_tables`), so memory stays flat;
`bilingual.corpus.build` streams the same tables straight into the filter without an Arrow copy.
`datasets` >= 4 refuses loading scripts in `load_dataset`, so callers instantiate the class:

    b = Bilingual(config_name="pairs", snapshot_dirs=[".../raw/2026-11-26"], cache_dir=tmp)
    b.download_and_prepare(); ds = b.as_dataset(split="train")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Optional

import datasets

import pyarrow as pa
import pyarrow.parquet as pq

from bilingual.storage import CorruptShardError

_DESCRIPTION = "Bangla–English parallel sentence pairs and monolingual documents with provenance."

PAIR_FEATURES = datasets.Features({
    "id": datasets.Value("string"), "bn": datasets.Value("string"), "en": datasets.Value("string"),
    "source": datasets.Value("string"), "provenance": datasets.Value("string"), "score": datasets.Value("float64"),
    "license": datasets.Value("string"),
})
DOC_FEATURES = datasets.Features({
    "id": datasets.Value("string"), "lang": datasets.Value("string"), "text": datasets.Value("string"),
    "title": datasets.Value("string"), "source": datasets.Value("string"), "url": datasets.Value("string"),
    "dump": datasets.Value("string"), "page_id": datasets.Value("int64"), "revision_id": datasets.Value("int64"),
    "revision_time": datasets.Value("timestamp[us, tz=UTC]"), "retrieved_at": datasets.Value("timestamp[us, tz=UTC]"),
    "license": datasets.Value("string"), "sha256": datasets.Value("string"),
})


PAIR_SCHEMA = PAIR_FEATURES.arrow_schema
DOC_SCHEMA = DOC_FEATURES.arrow_schema


@dataclasses.dataclass
class BilingualConfig(datasets.BuilderConfig):
    snapshot_dirs: tuple = ()  # snapshot folders (or any folder above them: searched recursively)
    lang: Optional[str] = None  # documents configs only


def snapshot_files(dirs, pattern: str) -> list[Path]:
    """Complete shard files under the folders, sorted for a deterministic order."""
    out = []
    for d in dirs:
        d = Path(d)
        if d.is_file():
            out.append(d)
            continue
        out.extend(p for p in d.rglob(pattern) if not p.name.startswith("."))
    return sorted(set(out))


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table in `schema`: missing columns become nulls, extra columns are dropped."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def pair_tables(files, batch_rows: int = 8192, skip_rows: int = 0) -> Iterator[pa.Table]:
    """Arrow tables of pairs (PAIR_SCHEMA) from snapshot shards, in file then row order.

    `skip_rows` skips the first rows cheaply (whole files and row groups from the footer), so a
    resumed build does not decode what it already filtered."""
    for path in files:
        try:
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 22)
        except (pa.ArrowInvalid, OSError) as err:
            raise CorruptShardError(f"{path}: not a readable Parquet file ({err}); delete it and re-run its snapshot") from err
        groups = []
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if skip_rows >= n:
                skip_rows -= n
            else:
                groups.append(g)
        if not groups:
            continue
        names = [f.name for f in PAIR_SCHEMA if f.name in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=names, use_threads=False):
            table = pa.Table.from_batches([batch])
            if skip_rows:
                cut = min(skip_rows, table.num_rows)
                table, skip_rows = table.slice(cut), skip_rows - cut
                if table.num_rows == 0:
                    continue
            yield _cast(table, PAIR_SCHEMA)


def document_tables(files, lang: str, batch_rows: int = 2048) -> Iterator[pa.Table]:
    """Arrow tables of one language's documents (DOC_SCHEMA) from snapshot shards."""
    import pyarrow.compute as pc

    for path in files:
        try:
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 22)
        except (pa.ArrowInvalid, OSError) as err:
            raise CorruptShardError(f"{path}: not a readable Parquet file ({err}); delete it and re-run its snapshot") from err
        for batch in pf.iter_batches(batch_size=batch_rows, use_threads=False):
            table = pa.Table.from_batches([batch])
            table = table.filter(pc.equal(table.column("lang"), lang))
            if table.num_rows:
                yield _cast(table, DOC_SCHEMA)


class Bilingual(datasets.ArrowBasedBuilder):
    BUILDER_CONFIG_CLASS = BilingualConfig
    BUILDER_CONFIGS = [
        BilingualConfig(name="pairs", description="Parallel bn–en sentence pairs"),
        BilingualConfig(name="documents_bn", description="Monolingual Bengali documents", lang="bn"),
        BilingualConfig(name="documents_en", description="Monolingual English documents", lang="en"),
    ]
    DEFAULT_CONFIG_NAME = "pairs"

    def _info(self):
        feats = PAIR_FEATURES if self.config.name == "pairs" else DOC_FEATURES
        return datasets.DatasetInfo(description=_DESCRIPTION, features=feats)

    def _split_generators(self, dl_manager):
        pattern = "pairs-*.parquet" if self.config.name == "pairs" else "documents-*.parquet"
        files = snapshot_files(self.config.snapshot_dirs, pattern)
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"files": files})]

    def _generate_tables(self, files):
        tables = pair_tables(files) if self.config.name == "pairs" else document_tables(files, self.config.lang)
        for i, table in enumerate(tables):
            yield i, table
