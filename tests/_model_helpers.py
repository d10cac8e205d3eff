"""Kept for test modules that still import from here: the tiny model now lives in conftest.py (one model,
built with bilingual.modeling). New tests use the `tiny_model` / `train_pairs` fixtures directly."""

from conftest import REPO, TATOEBA, build_tiny_model, tatoeba_pairs, tiny_model, train_pairs, train_tokenizer  # noqa: F401
