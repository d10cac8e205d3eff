"""`datasets.GeneratorBasedBuilder` named `bilingual`: raw snapshots → Arrow datasets.

Configs:
  pairs          SentencePair rows from every `pairs-*.parquet` under the snapshot folders,
                 split train/validation/test by a stable hash of the normalized pair, with pairs
                 that share a normalized side kept together (`bilingual.corpus.dataset.assign_splits`):
                 a side repeated in several pairs never puts one pair in training and another in
                 validation/test. A first pass reads only the bn/en columns to decide this.
  documents_bn   Document rows (lang bn) from `documents-*.parquet`; one train split.
  documents_en   the same for English.

`datasets` >= 4 refuses loading scripts in `load_dataset`, so callers instantiate the class:

    b = Bilingual(config_name="pairs", snapshot_dirs=[".../raw/2026-11-26"], cache_dir=tmp)
    b.download_and_prepare(); dd = b.as_dataset()

and publish Parquet (see `bilingual.corpus.build_corpus`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import datasets

from bilingual.corpus.dataset import assign_splits
from bilingual.storage import iter_rows

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


@dataclasses.dataclass
class BilingualConfig(datasets.BuilderConfig):
    snapshot_dirs: tuple = ()  # snapshot folders (or any folder above them: searched recursively)
    validation: float = 0.02  # share of pairs in validation
    test: float = 0.02  # share of pairs in test
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


class Bilingual(datasets.GeneratorBasedBuilder):
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
        dirs = self.config.snapshot_dirs
        if self.config.name == "pairs":
            files = snapshot_files(dirs, "pairs-*.parquet")
            return [datasets.SplitGenerator(name=s, gen_kwargs={"files": files, "split": s})
                    for s in (datasets.Split.TRAIN, datasets.Split.VALIDATION, datasets.Split.TEST)]
        files = snapshot_files(dirs, "documents-*.parquet")
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"files": files, "split": None})]

    def _assign(self, files) -> dict:
        """(file, row) → split for every pair, from the bn/en columns only (first pass)."""
        keys, bn, en = [], [], []
        for path in files:
            for i, row in enumerate(iter_rows([path], columns=["bn", "en"])):
                keys.append((str(path), i))
                bn.append(row["bn"])
                en.append(row["en"])
        return dict(zip(keys, assign_splits(bn, en, self.config.validation, self.config.test)))

    def _generate_examples(self, files, split):
        cols = list(self.info.features)
        if split is not None:
            if getattr(self, "_split_map", None) is None:
                self._split_map = self._assign(files)
            which = self._split_map
        for path in files:
            for i, row in enumerate(iter_rows([path])):  # CorruptShardError names the file
                if split is not None:
                    if which[(str(path), i)] != split:
                        continue
                elif row.get("lang") != self.config.lang:
                    continue
                yield f"{path.parent.name}/{path.name}:{i}", {c: row.get(c) for c in cols}
