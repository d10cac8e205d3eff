"""CTranslate2 conversion of the Marian model: a second serving artifact (int8 weights by default), written to
`model_dir/ctranslate2/` with the tokenizer beside it and gated by the same parity check as the ONNX export.

CTranslate2's own Marian loader is made for models converted from Marian C++ (OPUS-MT): it drops the last
vocabulary row assuming it is `<pad>`, and starts the decoder from a zero vector, which equals the `<pad>`
embedding only while that row is untouched. A model trained with transformers and tied embeddings moves the
`<pad>` row off zero through the output projection (and our tokenizer may put `<pad>` anywhere), so the stock
loader gives garbage for it. The loader below keeps the full vocabulary and starts from the real `<pad>`
embedding, exactly as transformers does; `<pad>` is suppressed at decoding time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bilingual import storage
from bilingual.inference.export import (INT8_MAX_CHRF_DROP, INT8_MIN_IDENTICAL, FP32_MIN_IDENTICAL, ExportError, Reference,
                     UnsupportedModelError, _parity_or_raise, check_model_dir, copy_side_files, staged_dir)
from bilingual.inference.translator import Translator

SUPPORTED = ("marian",)


def _converter(model_dir: Path):
    from ctranslate2.converters import TransformersConverter
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


def convert_ctranslate2(model_dir, output_dir=None, quantization: str = "int8", sample_texts=None,
                        n_sample: int = 100, max_new_tokens: int = 64, min_identical: Optional[float] = None,
                        max_chrf_drop: Optional[float] = None, reference: Optional[Reference] = None) -> dict:
    """Convert to CTranslate2 (`output_dir`, default `model_dir/ctranslate2`) and check parity with PyTorch.

    Thresholds default to the int8 ones (≥ 95% identical, chrF within 1) when quantized, else fp32 (≥ 99%).
    Returns {"dir", "identical", "n", "passed", "chrf", ..., "quantization"}; raises ParityError after removing
    the unfinished folder."""
    from transformers import AutoConfig

    model_dir = check_model_dir(model_dir)
    model_type = AutoConfig.from_pretrained(model_dir).model_type
    if model_type not in SUPPORTED:
        raise UnsupportedModelError(f"{model_dir}: model type {model_type!r} is not converted to CTranslate2 here "
                                    f"(supported: {', '.join(SUPPORTED)})")
    quantized = quantization not in (None, "", "float32")
    if min_identical is None:
        min_identical = INT8_MIN_IDENTICAL if quantized else FP32_MIN_IDENTICAL
    if max_chrf_drop is None and quantized:
        max_chrf_drop = INT8_MAX_CHRF_DROP
    output_dir = Path(output_dir) if output_dir else model_dir / "ctranslate2"
    reference = reference or Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    with staged_dir(output_dir) as tmp:
        _converter(model_dir).convert(str(tmp), quantization=quantization if quantized else None, force=True)
        copy_side_files(model_dir, tmp, config=False)
        result = reference.check(Translator(tmp, "ctranslate2"), min_identical, max_chrf_drop)
        result.update(dir=str(output_dir), quantization=quantization or "float32",
                      files=sorted(p.name for p in tmp.iterdir()))
        _parity_or_raise(f"CTranslate2 ({quantization or 'float32'})", output_dir, result)
        storage.write_json(tmp / "parity.json", {**result, "dir": output_dir.name})  # no local path
    return result
