"""Shared test fixtures: the bundled samples and one tiny real bn<->en model built with `bilingual.modeling`.

The tiny model is the product's own: the shared Unigram tokenizer of `bilingual.modeling.tokenizer` (its
special-token order, target tags and input names) and a Marian model from `bilingual.modeling.model`'s config,
trained for a few hundred quick steps on short Tatoeba pairs in both directions so that greedy outputs are real,
varied sentences rather than one repeated token, then exported to ONNX (`onnx/`) with the project's exporter
conventions. It is built once per test session; tests may add export folders (onnx-int8/, ctranslate2/) to it
but must not change the model — a test that edits files copies the folder first.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
TATOEBA = SAMPLES / "parallel" / "tatoeba-ben-eng.tsv"
TINY_MODEL_DONE = "TINY_MODEL_COMPLETE"  # marker: the folder is complete (a killed build is redone)


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


def tatoeba_pairs(limit: int | None = None, max_chars: int = 40) -> list[dict]:
    """Short, distinct Tatoeba pairs as {bn, en} dicts, in file order (deterministic)."""
    from bilingual.sources.corpora.readers import read_tsv

    seen, out = set(), []
    for row in read_tsv(TATOEBA):
        if not row["bn"] or not row["en"] or len(row["en"]) > max_chars or row["en"] in seen:
            continue
        seen.add(row["en"])
        out.append({"bn": row["bn"], "en": row["en"]})
        if limit and len(out) >= limit:
            break
    return out


def train_tokenizer(texts, vocab_size: int = 1200):
    """The product's shared tokenizer (bilingual.modeling.tokenizer), trained on `texts`."""
    from bilingual.modeling.tokenizer import train_tokenizer as product_tokenizer

    return product_tokenizer(list(texts), vocab_size=vocab_size)


def build_tiny_model(out_dir, n_pairs: int = 200, steps: int = 600, seed: int = 0, d_model: int = 64,
                     layers: int = 2, lr: float = 2e-3, onnx: bool = True) -> Path:
    """Train the product tokenizer + a tiny Marian (product config) on short Tatoeba pairs, both directions, and
    save it to `out_dir` (with its ONNX export in `out_dir/onnx/` when `onnx`)."""
    import torch
    from transformers import MarianMTModel

    from bilingual.modeling import langtags
    from bilingual.modeling.model import Preset, marian_config

    random.seed(seed)
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    pairs = tatoeba_pairs(n_pairs)
    everything = tatoeba_pairs()
    tokenizer = train_tokenizer([p["bn"] for p in everything] + [p["en"] for p in everything])
    preset = Preset(d_model=d_model, encoder_layers=layers, decoder_layers=layers, heads=4, ffn_dim=4 * d_model,
                    max_position_embeddings=128, dropout=0.0)
    model = MarianMTModel(marian_config(preset, tokenizer))
    gen = model.generation_config
    gen.max_length, gen.num_beams, gen.bad_words_ids = 64, 1, [[tokenizer.pad_token_id]]
    tag = langtags.TARGET_TAGS
    examples = ([(f"{tag['en']} {p['bn']}", p["en"]) for p in pairs]
                + [(f"{tag['bn']} {p['en']}", p["bn"]) for p in pairs])
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is as fast and does not fight a shared machine
    try:
        model.train()
        for _ in range(steps):
            batch = random.sample(examples, 32)
            enc = tokenizer([s for s, _ in batch], text_target=[t for _, t in batch], padding=True,
                            return_tensors="pt")
            enc["labels"][enc["labels"] == tokenizer.pad_token_id] = -100
            model(**enc).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if onnx:
        from optimum.onnxruntime import ORTModelForSeq2SeqLM

        ORTModelForSeq2SeqLM.from_pretrained(out_dir, export=True).save_pretrained(out_dir / "onnx")
        tokenizer.save_pretrained(out_dir / "onnx")
    (out_dir / TINY_MODEL_DONE).write_text(f"pairs={n_pairs} steps={steps} seed={seed}\n", encoding="utf-8")
    return out_dir


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
