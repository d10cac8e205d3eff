"""ONNX Runtime backends (fp32 `onnx/`, int8 `onnx-int8/`): Optimum export with past key values, dynamic int8
quantization of the weight MatMuls, each gated by parity with PyTorch greedy output.

    model_dir/onnx/       encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx, parity.json
    model_dir/onnx-int8/  the same three files, dynamically quantized (ORTQuantizer; weight MatMuls int8)

Each folder is self-contained (config, generation config, tokenizer), so
`ORTModelForSeq2SeqLM.from_pretrained(model_dir, subfolder="onnx", use_merged=False)` loads it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Optional

from bilingual.inference import weights
from bilingual.inference.backends import parity
from bilingual.inference.backends.pytorch import hf_generate, max_source_tokens
from bilingual.inference.errors import ExportError, UnsupportedModelError
from bilingual.layout import ONNX_DIR, ONNX_MARKER

ONNX_FILES = (ONNX_MARKER, "decoder_model.onnx", "decoder_with_past_model.onnx")
TASK = "text2text-generation-with-past"
QUANTIZATION = "dynamic int8 (avx2 u8/u8) of weight MatMuls, after ORT quantization pre-processing"


class Engine:
    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.max_length = max_source_tokens(model.config)

    def generate(self, sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens) -> list[str]:
        return hf_generate(self.model, self.tokenizer, contextlib.nullcontext, sources, tgt_lang, num_beams,
                           max_new_tokens, min_new_tokens, self.max_length)


def load(path: Path, model_dir: Path, tokenizer, threads: Optional[int] = None) -> Engine:
    import onnxruntime
    from optimum.onnxruntime import ORTModelForSeq2SeqLM

    files = [Path(path) / name for name in ONNX_FILES]
    for file in files:
        if not file.is_file():
            raise weights.MissingArtifactError(f"{file}: missing; run `bilingual export {model_dir}` again")
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        model = ORTModelForSeq2SeqLM.from_pretrained(path, session_options=options, use_merged=False)
    except Exception as exc:  # ONNX Runtime raises its own (non-OSError) types for unreadable graphs
        raise weights.corrupt_file(files, exc, f"run `bilingual export {model_dir}` again") or exc
    return Engine(model, tokenizer)


# --------------------------------------------------------------------------------------------- export
def check_onnx_support(model_dir) -> str:
    """The model type, if Optimum can export it for seq2seq generation with past; else UnsupportedModelError."""
    import optimum.exporters.onnx.model_configs  # noqa: F401  (registers the ONNX configs)
    from optimum.exporters.tasks import TasksManager
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(model_dir).model_type
    try:
        tasks = TasksManager.get_supported_tasks_for_model_type(model_type, exporter="onnx",
                                                                library_name="transformers")
    except KeyError:
        tasks = {}
    if TASK not in tasks:
        supported = sorted(t for t, by_exporter in TasksManager._SUPPORTED_MODEL_TYPE.items()
                           if TASK in by_exporter.get("onnx", {}))
        raise UnsupportedModelError(
            f"{model_dir}: model type {model_type!r} cannot be exported to ONNX for {TASK} by Optimum "
            f"(supported seq2seq types: {', '.join(supported)})")
    return model_type


def _export_fp32(model_dir: Path, dest: Path) -> None:
    from optimum.exporters.onnx import main_export

    main_export(str(model_dir), output=dest, task=TASK, device="cpu", library_name="transformers",
                do_validation=False, local_files_only=True)
    missing = [f for f in ONNX_FILES if not (dest / f).exists()]
    if missing:
        raise ExportError(f"Optimum export of {model_dir} produced no {', '.join(missing)} in {dest}")
    for extra in dest.glob("decoder_model_merged*.onnx"):  # not used: we load the split decoders
        extra.unlink()


def weightless_matmuls(onnx_path: Path) -> list[str]:
    """MatMul nodes whose right-hand side is not a stored weight (attention scores and context).

    ORT's own `quantize_dynamic` leaves these in fp32 (`MatMulConstBOnly`), but `ORTQuantizer` does not: it
    re-quantizes both activations at every call: a third of the decoder's step time on the benchmark's small
    Marian (BENCHMARKS.md, issue 7), and added error for no saving in size."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    stored = {init.name for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] not in stored]


def _quantize(onnx_dir: Path, dest: Path) -> None:
    """Dynamic int8 quantization of the weight MatMuls of each ONNX file in `onnx_dir`, written to `dest`.

    ORT's pre-processing (constant folding, shape inference) runs first so that the tied output projection,
    exported as MatMul(x, Transpose(shared embedding)), becomes a plain weight the quantizer can see."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    for name in ONNX_FILES:
        work = dest / f".q-{Path(name).stem}"
        work.mkdir()
        if (onnx_dir / "config.json").exists():  # lets ORTQuantizer find the model type (else it warns)
            shutil.copy(onnx_dir / "config.json", work)
        big = (onnx_dir / f"{name}_data").exists()  # > 2 GB models keep their weights beside the graph
        try:
            quant_pre_process(str(onnx_dir / name), str(work / name), skip_symbolic_shape=True,
                              save_as_external_data=big, all_tensors_to_one_file=True,
                              external_data_location=f"{name}_data" if big else None)
        except Exception as exc:
            raise weights.corrupt_file([onnx_dir / name], exc, "run `bilingual export` without --no-onnx to "
                                       "rewrite it") or exc
        config = AutoQuantizationConfig.avx2(is_static=False, per_channel=False,
                                             nodes_to_exclude=weightless_matmuls(work / name))
        ORTQuantizer.from_pretrained(work, file_name=name).quantize(save_dir=work, quantization_config=config)
        os.replace(next(work.glob("*_quantized.onnx")), dest / name)
        shutil.rmtree(work)


def export(model_dir, output_dir=None, reference: Optional[parity.Reference] = None,
           min_identical: float = parity.FP32_MIN_IDENTICAL, sample_texts=None, n_sample: int = 100,
           max_new_tokens: int = 64) -> dict:
    """ONNX fp32 export to `output_dir` (default `model_dir/onnx`), parity-gated; returns the gate's result."""
    from bilingual.inference.translator import Translator

    model_dir = parity.check_model_dir(model_dir)
    check_onnx_support(model_dir)
    output_dir = Path(output_dir) if output_dir else model_dir / ONNX_DIR
    reference = reference or parity.Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    with parity.staged_dir(output_dir) as tmp:
        _export_fp32(model_dir, tmp)
        parity.copy_side_files(model_dir, tmp)
        result = reference.check(Translator(tmp, "onnx"), min_identical)
        result.update(dir=str(output_dir), files=sorted(p.name for p in tmp.glob("*.onnx")))
        parity.gate("ONNX fp32", output_dir, tmp, result)
    return result


def export_int8(model_dir, onnx_dir=None, output_dir=None, reference: Optional[parity.Reference] = None,
                min_identical: float = parity.INT8_MIN_IDENTICAL, max_chrf_drop: float = parity.INT8_MAX_CHRF_DROP,
                sample_texts=None, n_sample: int = 100, max_new_tokens: int = 64) -> dict:
    """int8 quantization of an fp32 export (`onnx_dir`, default `model_dir/onnx`) to `output_dir` (default
    `<onnx_dir>-int8`), parity-gated against PyTorch; returns the gate's result."""
    from bilingual.inference.translator import Translator

    model_dir = parity.check_model_dir(model_dir)
    onnx_dir = Path(onnx_dir) if onnx_dir else model_dir / ONNX_DIR
    if not (onnx_dir / ONNX_FILES[0]).is_file():
        raise weights.MissingArtifactError(f"{onnx_dir} has no {ONNX_FILES[0]}: int8 quantizes the fp32 ONNX "
                                           f"export; run `bilingual export --quantize {model_dir}` (without --no-onnx)")
    output_dir = Path(output_dir) if output_dir else onnx_dir.parent / f"{onnx_dir.name}-int8"
    reference = reference or parity.Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    with parity.staged_dir(output_dir) as tmp:
        _quantize(onnx_dir, tmp)
        parity.copy_side_files(model_dir, tmp)
        result = reference.check(Translator(tmp, "onnx-int8"), min_identical, max_chrf_drop)
        result.update(dir=str(output_dir), files=sorted(p.name for p in tmp.glob("*.onnx")), quantization=QUANTIZATION)
        parity.gate("ONNX int8", output_dir, tmp, result)
    return result
