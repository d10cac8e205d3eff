"""PyTorch backend: transformers `generate` on the saved weights; the reference every export is checked against."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bilingual.inference import languages, weights


MAX_SOURCE_TOKENS = 256


def max_source_tokens(config) -> int:
    """Sources are truncated to this many tokens: 256, or fewer when the model has fewer positions (a longer
    input would index past its position embeddings)."""
    positions = getattr(config, "max_position_embeddings", None) or MAX_SOURCE_TOKENS
    return min(MAX_SOURCE_TOKENS, int(positions))


class Engine:
    def __init__(self, model, tokenizer):
        import torch

        self.model, self.tokenizer = model, tokenizer
        self._no_grad = torch.inference_mode
        self.max_length = max_source_tokens(model.config)

    def generate(self, sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens) -> list[str]:
        return hf_generate(self.model, self.tokenizer, self._no_grad, sources, tgt_lang, num_beams, max_new_tokens,
                           min_new_tokens, self.max_length)


def hf_generate(model, tokenizer, no_grad, sources, tgt_lang, num_beams, max_new_tokens, min_new_tokens,
                max_length: int = MAX_SOURCE_TOKENS) -> list[str]:
    """`model.generate` as every transformers-API backend (PyTorch, Optimum ONNX Runtime) runs it."""
    gen = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
               **languages.generate_kwargs(tgt_lang, tokenizer))
    if min_new_tokens:
        gen["min_new_tokens"] = min_new_tokens
    enc = tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
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
