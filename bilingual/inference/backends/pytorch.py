"""PyTorch backend: transformers `generate` on the saved weights; the reference every export is checked against."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bilingual.inference import languages, weights


class Engine:
    def __init__(self, model, tokenizer):
        import torch

        self.model, self.tokenizer = model, tokenizer
        self._no_grad = torch.inference_mode

    def generate(self, sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens) -> list[str]:
        return hf_generate(self.model, self.tokenizer, self._no_grad, sources, tgt_lang, num_beams, max_new_tokens,
                           min_new_tokens)


def hf_generate(model, tokenizer, no_grad, sources, tgt_lang, num_beams, max_new_tokens, min_new_tokens) -> list[str]:
    """`model.generate` as every transformers-API backend (PyTorch, Optimum ONNX Runtime) runs it."""
    gen = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
               **languages.generate_kwargs(tgt_lang, tokenizer))
    if min_new_tokens:
        gen["min_new_tokens"] = min_new_tokens
    enc = tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=256)
    with no_grad():
        ids = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def load(path: Path, model_dir: Path, tokenizer, threads: Optional[int] = None) -> Engine:
    import torch
    from transformers import AutoModelForSeq2SeqLM

    files = weights.check_weights(path)
    if threads:
        torch.set_num_threads(threads)
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
    except (OSError, RuntimeError, ValueError) as exc:
        raise weights.corrupt_file(files, exc, "copy it again or re-save the model") or exc
    return Engine(model, tokenizer)
