"""What the benchmarks build for themselves, with the product's own code (bilingual.modeling), so that no
benchmark imports the test suite: Tatoeba pairs, the product tokenizer, a random-weight Marian of a given size
and a tiny trained Marian whose outputs end with EOS like a real model's. The web site on 127.0.0.1 and the dump
re-packing they share with the tests are in bilingual.testing_utils."""

from __future__ import annotations

from pathlib import Path

from bilingual.modeling.tiny import TINY_MODEL_DONE, tatoeba_pairs, train_tiny_marian  # noqa: F401


def english_sentences() -> list[str]:
    """Every English side of the bundled Tatoeba TSV (request texts for the service benchmark)."""
    return [p["en"] for p in tatoeba_pairs(max_chars=10**6)]


def product_tokenizer(vocab_size: int, max_chars: int = 40):
    """The shared bn+en tokenizer (bilingual.modeling.tokenizer) trained on the Tatoeba pairs."""
    from bilingual.modeling.tokenizer import train_tokenizer

    pairs = tatoeba_pairs(max_chars=max_chars)
    return train_tokenizer([p["bn"] for p in pairs] + [p["en"] for p in pairs], vocab_size=vocab_size)


def random_marian(folder: Path, d_model: int, layers: int, heads: int, vocab: int) -> Path:
    """A product-config Marian (bilingual.modeling.model.marian_config) with RANDOM weights and its tokenizer:
    enough to time inference, where only the shapes matter."""
    from transformers import MarianMTModel

    from bilingual.modeling.model import Preset, marian_config

    tok = product_tokenizer(vocab, max_chars=1000)
    preset = Preset(d_model=d_model, encoder_layers=layers, decoder_layers=layers, heads=heads,
                    ffn_dim=4 * d_model, max_position_embeddings=512, dropout=0.0)
    model = MarianMTModel(marian_config(preset, tok)).eval()
    model.generation_config.bad_words_ids = [[tok.pad_token_id]]
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return Path(folder)


def tiny_trained_marian(out_dir, steps: int = 600, n_pairs: int = 200, seed: int = 0) -> Path:
    """The tiny trained Marian the tests use too (`bilingual.modeling.tiny`), with its ONNX export (onnx/);
    `TINY_MODEL_DONE` is written last so a killed build is redone."""
    return train_tiny_marian(out_dir, n_pairs=n_pairs, steps=steps, seed=seed)
