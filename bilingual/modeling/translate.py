"""One translation entry point for every backend (PyTorch, ONNX Runtime), used by evaluation,
the `translate` command and the HTTP service, so they all give the same output for the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from . import langtags

BACKENDS = ("pytorch", "onnx")


class Translator:
    def __init__(self, model_dir, backend: str = "pytorch", onnx_subfolder: str = "onnx"):
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        if backend == "pytorch":
            import torch
            from transformers import AutoModelForSeq2SeqLM

            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.model_dir).eval()
            self._no_grad = torch.inference_mode
        else:
            from optimum.onnxruntime import ORTModelForSeq2SeqLM

            onnx_dir = self.model_dir / onnx_subfolder
            if not (onnx_dir / "encoder_model.onnx").exists():
                raise FileNotFoundError(f"{onnx_dir} has no encoder_model.onnx: run the ONNX export first")
            self.model = ORTModelForSeq2SeqLM.from_pretrained(onnx_dir)
            import contextlib

            self._no_grad = contextlib.nullcontext

    def translate(self, texts: Sequence[str], src_lang: str, tgt_lang: str, num_beams: int = 1,
                  batch_size: int = 32, max_new_tokens: int = 128) -> list[str]:
        """Translate in batches of similar length (less padding); output order matches input."""
        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        gen = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
                   **langtags.generation_kwargs(tgt_lang, self.tokenizer))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            sources = langtags.prepare_sources([texts[i] for i in idx], src_lang, tgt_lang, self.tokenizer)
            enc = self.tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=256)
            with self._no_grad():
                ids = self.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen)
            for i, text in zip(idx, self.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                out[i] = text.strip()
        return out
