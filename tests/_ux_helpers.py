"""Kept for test modules and benchmarks that still import from here: the tiny model now lives in conftest.py
(one model, built with bilingual.modeling, with its onnx/ export). New code uses the conftest fixtures."""

from __future__ import annotations

import csv
from pathlib import Path

from conftest import REPO, TATOEBA, build_tiny_model, tiny_model, tiny_model_dir  # noqa: F401
from conftest import TINY_MODEL_DONE as DONE  # noqa: F401


def read_pairs(path: Path = TATOEBA) -> list[tuple[str, str]]:
    """(en, bn) pairs from the bundled Tatoeba TSV."""
    with open(path, encoding="utf-8", newline="") as f:
        return [(row[0].strip(), row[1].strip()) for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                if len(row) >= 2 and row[0].strip() and row[1].strip()]
