"""One translation entry point for every backend (PyTorch, ONNX Runtime fp32/int8, CTranslate2), used by
evaluation, export parity checks, the `translate` command and the HTTP service, so they all give the same
output for the same model.

Artifacts live beside the PyTorch weights: `model_dir/onnx/`, `model_dir/onnx-int8/`, `model_dir/ctranslate2/`
(written by `bilingual.inference.export` and `bilingual.inference.ctranslate2`). Each is self-contained (config and
tokenizer copied in), so `model_dir` may also be the artifact folder itself.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Sequence

from bilingual.modeling import langtags

BACKENDS = ("pytorch", "onnx", "onnx-int8", "ctranslate2")
ARTIFACT_DIRS = {"onnx": "onnx", "onnx-int8": "onnx-int8", "ctranslate2": "ctranslate2"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "source.spm", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.json", "vocab.txt")


class MissingArtifactError(FileNotFoundError):
    """A model folder lacks something a backend needs (tokenizer, ONNX files, CTranslate2 model)."""


def has_tokenizer(path) -> bool:
    return any((Path(path) / name).exists() for name in TOKENIZER_FILES)


def load_tokenizer(*candidates):
    """AutoTokenizer from the first folder that has tokenizer files; a clear error when none has."""
    from transformers import AutoTokenizer

    for path in candidates:
        if path is not None and has_tokenizer(path):
            return AutoTokenizer.from_pretrained(path)
    where = ", ".join(str(p) for p in candidates if p is not None)
    raise MissingArtifactError(f"{where}: no tokenizer found (expected tokenizer.json or tokenizer_config.json); "
                               "save the tokenizer next to the model with tokenizer.save_pretrained(model_dir)")


def artifact_dir(model_dir, backend: str, subfolder: str | None = None) -> Path:
    """Where a backend's files are: `model_dir/<subfolder>`, or `model_dir` itself if it is that artifact."""
    model_dir = Path(model_dir)
    if backend == "pytorch":
        return model_dir
    marker = "model.bin" if backend == "ctranslate2" else "encoder_model.onnx"
    if subfolder is None and (model_dir / marker).exists():
        return model_dir
    path = model_dir / (subfolder or ARTIFACT_DIRS[backend])
    if not (path / marker).exists():
        how = "bilingual export --ctranslate2" if backend == "ctranslate2" else (
            "bilingual export --quantize" if backend == "onnx-int8" else "bilingual export")
        raise MissingArtifactError(f"{path} has no {marker}: run `{how} {model_dir}` first")
    return path


class Translator:
    """Batched, length-sorted translation with greedy or beam search on any backend.

    `threads` pins the intra-op thread count of the backend (the benchmark gives every backend the same)."""

    def __init__(self, model_dir, backend: str = "pytorch", onnx_subfolder: str | None = None,
                 threads: int | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise MissingArtifactError(f"{self.model_dir}: no such model folder")
        self.backend = backend
        self.path = artifact_dir(self.model_dir, backend, onnx_subfolder)
        self.tokenizer = load_tokenizer(self.path, self.model_dir)
        self._no_grad = contextlib.nullcontext
        if backend == "pytorch":
            import torch
            from transformers import AutoModelForSeq2SeqLM

            if threads:
                torch.set_num_threads(threads)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.path).eval()
            self._no_grad = torch.inference_mode
        elif backend in ("onnx", "onnx-int8"):
            import onnxruntime
            from optimum.onnxruntime import ORTModelForSeq2SeqLM

            options = onnxruntime.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self.model = ORTModelForSeq2SeqLM.from_pretrained(self.path, session_options=options, use_merged=False)
        else:
            import ctranslate2

            pad = self.tokenizer.pad_token
            self._suppress = [[pad]] if pad is not None else None  # never a real output token
            self._forced_eos = _forces_eos(self.path, self.model_dir)
            self.model = ctranslate2.Translator(str(self.path), device="cpu", compute_type="default",
                                                intra_threads=threads or min(4, os.cpu_count() or 1))

    def translate(self, texts: Sequence[str], src_lang: str, tgt_lang: str, num_beams: int = 1,
                  batch_size: int = 32, max_new_tokens: int = 128, min_new_tokens: int = 0) -> list[str]:
        """Translate in batches of similar length (less padding); output order matches input.

        `min_new_tokens == max_new_tokens` forces a fixed output length (benchmarks)."""
        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            sources = langtags.prepare_sources([texts[i] for i in idx], src_lang, tgt_lang, self.tokenizer)
            if self.backend == "ctranslate2":
                hyps = self._ct2_generate(sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens)
            else:
                hyps = self._hf_generate(sources, tgt_lang, num_beams, max_new_tokens, min_new_tokens)
            for i, text in zip(idx, hyps):
                out[i] = text.strip()
        return out

    def _hf_generate(self, sources, tgt_lang, num_beams, max_new_tokens, min_new_tokens) -> list[str]:
        gen = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
                   **langtags.generation_kwargs(tgt_lang, self.tokenizer))
        if min_new_tokens:
            gen["min_new_tokens"] = min_new_tokens
        enc = self.tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=256)
        with self._no_grad():
            ids = self.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen)
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def _ct2_generate(self, sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens) -> list[str]:
        tok = self.tokenizer
        ids = tok(sources, truncation=True, max_length=256)["input_ids"]
        tokens = [tok.convert_ids_to_tokens(x) for x in ids]
        prefix = None
        forced = langtags.generation_kwargs(tgt_lang, tok).get("forced_bos_token_id")
        if forced is not None:
            prefix = [[tok.convert_ids_to_tokens(forced)]] * len(tokens)
        # transformers spends the last of `max_new_tokens` on the forced EOS; CTranslate2 does not count the end
        # token, so one step fewer gives the same text when a translation runs to the cap
        max_length = max_new_tokens - 1 if self._forced_eos else max_new_tokens
        results = self.model.translate_batch(
            tokens, target_prefix=prefix, beam_size=num_beams, max_batch_size=batch_size,
            max_decoding_length=max_length, min_decoding_length=min(min_new_tokens, max_length),
            suppress_sequences=self._suppress, return_scores=False)
        return [tok.decode(tok.convert_tokens_to_ids(r.hypotheses[0]), skip_special_tokens=True) for r in results]


def _forces_eos(*folders) -> bool:
    """Whether the model's generation config forces EOS at the length cap (Marian models do)."""
    from transformers import GenerationConfig

    for folder in folders:
        with contextlib.suppress(OSError):
            return GenerationConfig.from_pretrained(folder).forced_eos_token_id is not None
    return False
