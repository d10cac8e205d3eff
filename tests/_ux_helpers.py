"""A tiny real bn<->en model for the CLI, translate and service tests.

A Unigram tokenizer trained with `tokenizers` on the bundled Tatoeba TSV, a small MarianMTModel built
from a config and trained for a few hundred quick steps with a plain torch loop (so its outputs are
not empty or constant), saved, and exported to ONNX with optimum into `<dir>/onnx/`.
Built once per test session (a marker file says the folder is complete).
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"
SPECIALS = ["<pad>", "</s>", "<unk>", ">>bn<<", ">>en<<"]
DONE = "TINY_MODEL_COMPLETE"


def read_pairs(path: Path = TATOEBA) -> list[tuple[str, str]]:
    """(en, bn) pairs from the bundled Tatoeba TSV."""
    with open(path, encoding="utf-8", newline="") as f:
        return [(row[0].strip(), row[1].strip()) for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                if len(row) >= 2 and row[0].strip() and row[1].strip()]


def build_tokenizer(pairs, vocab_size: int = 800):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>")
    tok.train_from_iterator([t for pair in pairs for t in pair], trainer=trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A $B </s>",
                                                       special_tokens=[("</s>", eos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_input_names=["input_ids", "attention_mask"])


def build_tiny_model(out_dir: Path, steps: int = 120, seed: int = 0, onnx: bool = True) -> Path:
    """Train and save the tiny model in `out_dir` (and its ONNX export in out_dir/onnx)."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    out_dir = Path(out_dir)
    random.seed(seed)
    torch.manual_seed(seed)
    pairs = read_pairs()
    tokenizer = build_tokenizer(pairs)
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        dropout=0.0, scale_embedding=True, share_encoder_decoder_embeddings=True,
    )
    model = MarianMTModel(config)
    model.train()
    # both directions, target tag first (the langtags convention)
    examples = [(f">>bn<< {en}", bn) for en, bn in pairs] + [(f">>en<< {bn}", en) for en, bn in pairs]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared machine: one thread beats two contended ones
    try:
        _train(model, tokenizer, opt, examples, steps)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.generation_config.max_length = 64
    model.generation_config.forced_eos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if onnx:
        from optimum.onnxruntime import ORTModelForSeq2SeqLM

        ort = ORTModelForSeq2SeqLM.from_pretrained(out_dir, export=True)
        ort.save_pretrained(out_dir / "onnx")
        tokenizer.save_pretrained(out_dir / "onnx")
    (out_dir / DONE).write_text(f"steps={steps}\n")
    return out_dir


def _train(model, tokenizer, opt, examples, steps: int, batch_size: int = 32) -> None:
    for _ in range(steps):
        batch = random.sample(examples, batch_size)
        enc = tokenizer([s for s, _ in batch], text_target=[t for _, t in batch], return_tensors="pt",
                        padding=True, truncation=True, max_length=32)
        labels = enc["labels"].masked_fill(enc["labels"] == tokenizer.pad_token_id, -100)
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()


def tiny_model_dir(tmp_path_factory) -> Path:
    """The session's tiny model, built on first use (shared by every test module of the session)."""
    import os

    # a prebuilt copy may be named for quick local reruns; it is rebuilt when incomplete
    path = Path(os.environ.get("BILINGUAL_UX_TINY_MODEL") or tmp_path_factory.getbasetemp() / "ux_tiny_model")
    if not (path / DONE).exists():
        shutil.rmtree(path, ignore_errors=True)
        build_tiny_model(path)
    return path


try:  # the benchmark imports this module without pytest
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def tiny_model(tmp_path_factory) -> Path:
        return tiny_model_dir(tmp_path_factory)
