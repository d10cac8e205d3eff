"""Shared helpers for the corpus tests: small real snapshots cut from the bundled samples."""

from __future__ import annotations

import itertools
from pathlib import Path

from bilingual.sources.corpora import readers as corpora
from bilingual.storage import snapshot_dir

DAY = "2026-11-26"


def make_snapshots(root: Path, samples: Path, n_tatoeba: int = 1200, n_tico: int = 600) -> list[Path]:
    par = samples / "parallel"
    out = []
    for source, rows, path, lic in (
            ("tatoeba", corpora.read_tsv(par / "tatoeba-ben-eng.tsv"), par / "tatoeba-ben-eng.tsv", "CC-BY 2.0 FR"),
            ("tico19", corpora.read_tmx(par / "tico19-all.en-bn.tmx"), par / "tico19-all.en-bn.tmx", "CC0 1.0")):
        n = n_tatoeba if source == "tatoeba" else n_tico
        folder = snapshot_dir(root, source, DAY)
        corpora.snapshot_corpus(itertools.islice(rows, n), folder, source, path, lic)
        out.append(folder)
    return out


def pair(bn: str, en: str, i: int, source: str = "test") -> dict:
    return {"id": f"r{i}", "bn": bn, "en": en, "source": source, "provenance": "{}", "score": None, "license": "CC0 1.0"}
