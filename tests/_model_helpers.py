"""A real, tiny, trained bn<->en Marian model for the serving tests (export, CTranslate2, evaluation).

Built once per test session: a Unigram tokenizer trained with `tokenizers` on the bundled Tatoeba TSV,
a MarianMTModel made from a config (shared embeddings, decoder start = <pad> as Marian does) and a few
hundred steps of a plain torch loop on a few hundred short pairs in both directions, so that greedy
outputs are real, varied sentences rather than one repeated token. The lead can later swap
`build_tiny_model` for the project's tokenizer/trainer code.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"
SPECIALS = ["</s>", "<unk>", ">>bn<<", ">>en<<"]


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
    """Unigram + Metaspace; `</s>` appended to every sequence; `<pad>` added last (Marian/OPUS-MT layout)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>",
                                   additional_special_tokens=[">>bn<<", ">>en<<"],
                                   model_input_names=["input_ids", "attention_mask"])
    fast.add_special_tokens({"pad_token": "<pad>"})
    return fast


def build_tiny_model(out_dir, n_pairs: int = 200, steps: int = 600, seed: int = 0, d_model: int = 64,
                     layers: int = 2, lr: float = 2e-3) -> Path:
    """Train tokenizer + tiny Marian on short Tatoeba pairs (both directions) and save to `out_dir`."""
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel

    random.seed(seed)
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is as fast and does not fight a shared machine
    out_dir = Path(out_dir)
    pairs = tatoeba_pairs(n_pairs)
    tokenizer = train_tokenizer([p["bn"] for p in tatoeba_pairs()] + [p["en"] for p in tatoeba_pairs()])
    pad = tokenizer.pad_token_id
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model, max_position_embeddings=128, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=pad, forced_eos_token_id=tokenizer.eos_token_id, share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True, scale_embedding=True, dropout=0.0, activation_function="swish")
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=pad, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id, bad_words_ids=[[pad]], max_length=64, num_beams=1)
    examples = [(f">>en<< {p['bn']}", p["en"]) for p in pairs] + [(f">>bn<< {p['en']}", p["bn"]) for p in pairs]
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30))
    model.train()
    for step in range(steps):
        batch = random.sample(examples, 32)
        enc = tokenizer([s for s, _ in batch], text_target=[t for _, t in batch], padding=True,
                        return_tensors="pt")
        enc["labels"][enc["labels"] == pad] = -100
        loss = model(**enc).loss
        loss.backward()
        if step % 50 == 0 and __import__("os").environ.get("TINY_DEBUG"):
            print(step, loss.item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
    model.eval()
    torch.set_num_threads(threads)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "train_pairs.txt").write_text(str(len(pairs)), encoding="utf-8")
    return out_dir


def _session_model(tmp_path_factory) -> Path:
    # A fixed place in the session's temp root, so test modules that each import this fixture share one build.
    path = tmp_path_factory.getbasetemp() / "tiny-marian-model"
    if not (path / "model.safetensors").exists():
        build_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path to a trained tiny bn<->en Marian model folder (tokenizer included), built once per session.
    Tests may add export folders (onnx/, onnx-int8/, ctranslate2/) to it but must not change the model."""
    return _session_model(tmp_path_factory)


@pytest.fixture(scope="session")
def train_pairs() -> list[dict]:
    """The pairs `tiny_model` was trained on (its outputs on these are confident and non-trivial)."""
    return tatoeba_pairs(200)
