"""CTranslate2 backend: conversion of the Marian model (int8 weights by default) to `model_dir/ctranslate2/` with
the tokenizer beside it, gated by the same parity check as the ONNX export, and its `translate_batch` generation.

CTranslate2's own Marian loader is made for models converted from Marian C++ (OPUS-MT): it drops the last
vocabulary row assuming it is `<pad>`, and starts the decoder from a zero vector, which equals the `<pad>`
embedding only while that row is untouched. A model trained with transformers and tied embeddings moves the
`<pad>` row off zero through the output projection (and our tokenizer may put `<pad>` anywhere), so the stock
loader gives garbage for it. The loader below keeps the full vocabulary and starts from the real `<pad>`
embedding, exactly as transformers does; `<pad>` is suppressed at decoding time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

from bilingual.inference import languages, weights
from bilingual.inference.backends import parity
from bilingual.inference.errors import ExportError, UnsupportedModelError
from bilingual.layout import CTRANSLATE2_DIR, CTRANSLATE2_MARKER
from bilingual.modeling.families import FAMILIES, family_of_dir

# every registered model family (bilingual.modeling.families): Marian gets the loader below, the others
# CTranslate2's stock loader (named by their family entry's `ct2_converter`)
SUPPORTED = tuple(sorted({t for f in FAMILIES.values() for t in f.model_types}))


class Engine:
    def __init__(self, model, tokenizer, forced_eos: bool, max_length: int = 256):
        self.model, self.tokenizer = model, tokenizer
        self.max_length = max_length
        pad = tokenizer.pad_token
        self._suppress = [[pad]] if pad is not None else None  # never a real output token
        self._forced_eos = forced_eos

    def generate(self, sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens) -> list[str]:
        tok = self.tokenizer
        ids = tok(sources, truncation=True, max_length=self.max_length)["input_ids"]
        tokens = [tok.convert_ids_to_tokens(x) for x in ids]
        first = languages.target_prefix_token(tgt_lang, tok)
        prefix = [[first]] * len(tokens) if first is not None else None
        # transformers spends the last of `max_new_tokens` on the forced EOS; CTranslate2 does not count the end
        # token, so one step fewer gives the same text when a translation runs to the cap
        max_length = max_new_tokens - 1 if self._forced_eos else max_new_tokens
        results = self.model.translate_batch(
            tokens, target_prefix=prefix, beam_size=num_beams, max_batch_size=batch_size,
            max_decoding_length=max_length, min_decoding_length=min(min_new_tokens, max_length),
            suppress_sequences=self._suppress, return_scores=False)
        return [tok.decode(tok.convert_tokens_to_ids(r.hypotheses[0]), skip_special_tokens=True) for r in results]


def load(path: Path, model_dir: Path, tokenizer, threads: Optional[int] = None) -> Engine:
    import ctranslate2

    file = Path(path) / CTRANSLATE2_MARKER
    try:
        model = ctranslate2.Translator(str(path), device="cpu", compute_type="default",
                                       intra_threads=threads or min(4, os.cpu_count() or 1))
    except (RuntimeError, ValueError, OSError) as exc:
        raise weights.corrupt_file([file], exc, f"run `bilingual export --ctranslate2 {model_dir}` again") or exc
    return Engine(model, tokenizer, _forces_eos(path, model_dir), _max_source_tokens(model_dir))


def _max_source_tokens(model_dir) -> int:
    from transformers import AutoConfig

    from bilingual.inference.backends.pytorch import MAX_SOURCE_TOKENS, max_source_tokens

    try:
        return max_source_tokens(AutoConfig.from_pretrained(model_dir))
    except (OSError, ValueError):  # a bare CTranslate2 folder: its own config is not a transformers one
        return MAX_SOURCE_TOKENS


def _forces_eos(*folders) -> bool:
    """Whether the model's generation config forces EOS at the length cap (Marian models do)."""
    from transformers import GenerationConfig

    for folder in folders:
        with contextlib.suppress(OSError):
            return GenerationConfig.from_pretrained(folder).forced_eos_token_id is not None
    return False


# --------------------------------------------------------------------------------------------- export
def _converter(model_dir: Path):
    from ctranslate2.converters import TransformersConverter

    if family_of_dir(model_dir).name != "marian":
        return TransformersConverter(str(model_dir))
    from ctranslate2.converters.transformers import BartLoader

    class Loader(BartLoader):
        """Marian as transformers runs it: post-norm, no embedding layer norm, full vocabulary, and the
        decoder started from the real decoder-start (`<pad>`) embedding rather than a zero vector."""

        @property
        def architecture_name(self):
            return "MarianMTModel"

        def get_model_spec(self, model):
            model.config.normalize_before = False
            model.config.normalize_embedding = False
            return super().get_model_spec(model)

        def set_config(self, config, model, tokenizer):
            config.eos_token = tokenizer.eos_token
            config.unk_token = tokenizer.unk_token
            config.decoder_start_token = tokenizer.convert_ids_to_tokens(model.config.decoder_start_token_id)

        def get_vocabulary(self, model, tokenizer):
            tokens = super().get_vocabulary(model, tokenizer)
            if len(tokens) != model.config.vocab_size:
                raise ExportError(f"{model_dir}: tokenizer has {len(tokens)} tokens but the model "
                                  f"{model.config.vocab_size}; they must match for CTranslate2")
            return tokens

    class Converter(TransformersConverter):
        def _load(self):
            import torch
            from transformers import AutoTokenizer, MarianMTModel

            with torch.no_grad():
                model = MarianMTModel.from_pretrained(self._model_name_or_path)
                tokenizer = AutoTokenizer.from_pretrained(self._model_name_or_path)
                return Loader()(model, tokenizer)

    return Converter(str(model_dir))


def export(model_dir, output_dir=None, reference: Optional[parity.Reference] = None, quantization: str = "int8",
           sample_texts=None, n_sample: int = 100, max_new_tokens: int = 64, min_identical: Optional[float] = None,
           max_chrf_drop: Optional[float] = None) -> dict:
    """Convert to CTranslate2 (`output_dir`, default `model_dir/ctranslate2`) and check parity with PyTorch.

    Thresholds default to the int8 ones (≥ 95% identical, chrF within 1) when quantized, else fp32 (≥ 99%).
    Returns {"dir", "identical", "n", "passed", "chrf", ..., "quantization"}; raises ParityError after removing
    the unfinished folder."""
    from transformers import AutoConfig

    from bilingual.inference.translator import Translator

    model_dir = parity.check_model_dir(model_dir)
    model_type = AutoConfig.from_pretrained(model_dir).model_type
    if model_type not in SUPPORTED:
        raise UnsupportedModelError(f"{model_dir}: model type {model_type!r} is not converted to CTranslate2 here "
                                    f"(supported: {', '.join(SUPPORTED)})")
    quantized = quantization not in (None, "", "float32")
    if min_identical is None:
        min_identical = parity.INT8_MIN_IDENTICAL if quantized else parity.FP32_MIN_IDENTICAL
    if max_chrf_drop is None and quantized:
        max_chrf_drop = parity.INT8_MAX_CHRF_DROP
    output_dir = Path(output_dir) if output_dir else model_dir / CTRANSLATE2_DIR
    reference = reference or parity.Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    with parity.staged_dir(output_dir) as tmp:
        _converter(model_dir).convert(str(tmp), quantization=quantization if quantized else None, force=True)
        parity.copy_side_files(model_dir, tmp, config=False)
        result = reference.check(Translator(tmp, "ctranslate2"), min_identical, max_chrf_drop)
        result.update(dir=str(output_dir), quantization=quantization or "float32",
                      files=sorted(p.name for p in tmp.iterdir()))
        parity.gate(f"CTranslate2 ({quantization or 'float32'})", output_dir, tmp, result)
    return result
