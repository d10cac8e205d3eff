"""Every serving artifact of a model in one call (`bilingual export`, the pipeline's export stage), with one
shared PyTorch reference for the parity gates. The exports themselves live next to their backends
(`backends/onnx.py`, `backends/ctranslate2.py`), the gate in `backends/parity.py`; the names below are
re-exported for callers of the earlier single-module layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bilingual.inference.backends.onnx import (ONNX_FILES, QUANTIZATION, TASK, _export_fp32, _quantize,  # noqa: F401
                                               check_onnx_support, weightless_matmuls)
from bilingual.inference.backends.parity import (DEFAULT_SAMPLE, FP32_MIN_IDENTICAL, INT8_MAX_CHRF_DROP,  # noqa: F401
                                                 INT8_MIN_IDENTICAL, Reference, check_model_dir, compare,
                                                 copy_side_files, greedy_outputs, parity_sample, staged_dir)
from bilingual.inference.errors import ExportError, ParityError, UnsupportedModelError  # noqa: F401
from bilingual.layout import ONNX_DIR


def export_onnx(model_dir, output_dir=None, quantize: bool = False, sample_texts=None, n_sample: int = 100,
                max_new_tokens: int = 64, min_identical: float = FP32_MIN_IDENTICAL,
                min_identical_int8: float = INT8_MIN_IDENTICAL, max_chrf_drop_int8: float = INT8_MAX_CHRF_DROP,
                reference: Optional[Reference] = None) -> dict:
    """ONNX fp32 to `output_dir` (default `model_dir/onnx`) and, with `quantize`, int8 to `<output_dir>-int8`
    (result under "int8"), each parity-gated. Raises ParityError, UnsupportedModelError or MissingArtifactError."""
    from bilingual.inference.backends import onnx

    model_dir = check_model_dir(model_dir)
    reference = reference or Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    result = onnx.export(model_dir, output_dir, reference, min_identical=min_identical)
    if quantize:
        result["int8"] = onnx.export_int8(model_dir, Path(result["dir"]), reference=reference,
                                          min_identical=min_identical_int8, max_chrf_drop=max_chrf_drop_int8)
    return result


def export_all(model_dir, onnx: bool = True, quantize: bool = True, ctranslate2: bool = True, sample_texts=None,
               n_sample: int = 100, max_new_tokens: int = 64) -> dict:
    """Every serving artifact asked for, with one shared PyTorch reference; shaped like report.json's "export"
    section: {"onnx": {...}, "onnx_int8": {...}, "ctranslate2": {...}}. Stops at the first failed check.

    `quantize` without `onnx` quantizes the fp32 export already in `model_dir/onnx` (an error names the command
    when there is none)."""
    from bilingual.inference.backends import ctranslate2 as ct2
    from bilingual.inference.backends import onnx as ort

    model_dir = check_model_dir(model_dir)
    if onnx:
        check_onnx_support(model_dir)
    if quantize and not onnx:
        ort_dir = model_dir / ONNX_DIR
        if not (ort_dir / ONNX_FILES[0]).is_file():
            from bilingual.inference.errors import MissingArtifactError

            raise MissingArtifactError(f"--quantize with --no-onnx needs the fp32 export in {ort_dir}, which has no "
                                       f"{ONNX_FILES[0]}: run `bilingual export --quantize {model_dir}` without --no-onnx")
    reference = Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    report: dict = {}
    if onnx:
        report["onnx"] = ort.export(model_dir, reference=reference)
    if quantize:
        report["onnx_int8"] = ort.export_int8(model_dir, reference=reference)
    if ctranslate2:
        report["ctranslate2"] = ct2.export(model_dir, reference=reference)
    return report
