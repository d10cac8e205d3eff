"""Shared test fixtures: the bundled samples and one tiny real bn<->en model built with `bilingual.modeling`.

The tiny model is the product's own, built by `bilingual.modeling.tiny` (also what the benchmarks use): the
shared Unigram tokenizer and a product-config Marian trained for a few hundred quick steps on short Tatoeba pairs
in both directions, so that greedy outputs are real, varied sentences, then exported to ONNX (`onnx/`). It is
built once per test session; tests may add export folders (onnx-int8/, ctranslate2/) to it
but must not change the model — a test that edits files copies the folder first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bilingual.modeling.tiny import TATOEBA, TINY_MODEL_DONE, tatoeba_pairs  # noqa: F401 (re-exported to tests)

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


def train_tokenizer(texts, vocab_size: int = 1200):
    """The product's shared tokenizer (bilingual.modeling.tokenizer), trained on `texts`."""
    from bilingual.modeling.tokenizer import train_tokenizer as product_tokenizer

    return product_tokenizer(list(texts), vocab_size=vocab_size)


def build_tiny_model(out_dir, n_pairs: int = 200, steps: int = 600, seed: int = 0, d_model: int = 64,
                     layers: int = 2, lr: float = 2e-3, onnx: bool = True) -> Path:
    """The tiny model (`bilingual.modeling.tiny.train_tiny_marian`, shared with the benchmarks) in `out_dir`."""
    from bilingual.modeling.tiny import train_tiny_marian

    return train_tiny_marian(out_dir, n_pairs=n_pairs, steps=steps, seed=seed, d_model=d_model, layers=layers,
                             lr=lr, onnx=onnx)


def tiny_model_dir(tmp_path_factory) -> Path:
    """The session's tiny model, built on first use. BILINGUAL_TINY_MODEL may name a prebuilt copy for quick
    local reruns (rebuilt there when incomplete)."""
    path = Path(os.environ.get("BILINGUAL_TINY_MODEL") or tmp_path_factory.getbasetemp() / "tiny-model")
    if not (path / TINY_MODEL_DONE).exists():
        shutil.rmtree(path, ignore_errors=True)
        build_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A trained tiny bn<->en model folder: product tokenizer, weights, onnx/ export."""
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def train_pairs() -> list[dict]:
    """The pairs `tiny_model` was trained on (its outputs on these are confident and non-trivial)."""
    return tatoeba_pairs(200)
