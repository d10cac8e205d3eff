"""A tiny trained bn<->en model, for tests, benchmarks and demos (not for real use): the product's shared
tokenizer (`bilingual.modeling.tokenizer`) and a product-config Marian (`model.marian_config`), trained for a
few hundred quick steps on short bundled Tatoeba pairs in both directions, so that greedy outputs are real,
varied sentences that end with EOS rather than one repeated token. Seeded: the same arguments give the same
weights on the same machine and library versions.

The test fixture (`tests/conftest.py`) and the benchmarks (`benchmarks/_helpers.py`) both build it here.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

from bilingual.layout import PARALLEL_SAMPLES

TATOEBA = PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv"
TINY_MODEL_DONE = "TINY_MODEL_COMPLETE"  # marker, written last: the folder is complete (a killed build is redone)


def tatoeba_pairs(limit: Optional[int] = None, max_chars: int = 40) -> list[dict]:
    """Distinct bundled Tatoeba pairs ({bn, en}) with English up to `max_chars`, in file order (deterministic)."""
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


def train_tiny_marian(out_dir, n_pairs: int = 200, steps: int = 600, seed: int = 0, d_model: int = 64,
                      layers: int = 2, lr: float = 2e-3, vocab_size: int = 1200, onnx: bool = True) -> Path:
    """Train the shared tokenizer (on all short pairs) and a tiny Marian (on the first `n_pairs`), save both to
    `out_dir`, with the ONNX export in `out_dir/onnx/` when `onnx`; `TINY_MODEL_DONE` is written last.

    Runs on one torch thread: the matrices are small, so one thread is as fast, does not fight a shared
    machine, and keeps the result independent of the core count."""
    import torch
    from transformers import MarianMTModel

    from bilingual.modeling import langtags
    from bilingual.modeling.model import Preset, marian_config
    from bilingual.modeling.tokenizer import train_tokenizer

    random.seed(seed)
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    pairs = tatoeba_pairs(n_pairs)
    everything = tatoeba_pairs()
    tokenizer = train_tokenizer([p["bn"] for p in everything] + [p["en"] for p in everything], vocab_size=vocab_size)
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
    torch.set_num_threads(1)
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
